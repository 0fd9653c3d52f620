package collector

import (
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// cycleView is what every publisher reads of one collection: the newest
// datapoint of each Cloud Eye series, and the time and stale_after that say
// which of them may still be published.
type cycleView struct {
	now        time.Time
	staleAfter time.Duration
	points     map[seriesKey]point
}

// age is how old a datapoint is at now; a datapoint from the future counts as
// new rather than negative.
func (v cycleView) age(p point) time.Duration { return max(0, v.now.Sub(p.at)) }

// fresh says whether a datapoint may be published: stale data disappears
// instead of freezing.
func (v cycleView) fresh(p point) bool { return v.age(p) < v.staleAfter }

// sample returns a series' newest datapoint while it is fresh.
func (v cycleView) sample(k seriesKey) (point, bool) {
	p, ok := v.points[k]
	if !ok || !v.fresh(p) {
		return point{}, false
	}
	return p, true
}

// publishSignals publishes the group's signals and the age of the data behind
// each, in config.Signals order.
func (b *builder) publishSignals(d *descs, group string, sigs map[string]point, v cycleView) {
	for _, sig := range config.Signals() {
		if p, ok := sigs[sig]; ok {
			b.group(d.signal, p.value, group, sig)
			b.group(d.signalAge, v.age(p).Seconds(), group, sig)
		}
	}
}
