package collector

import (
	"slices"
	"time"
)

// bootTimes measures how long a group's new instances take from joining to
// serving, so that the lead time the predictive policy forecasts over is
// the group's own and not a guess in the config: an inference server's
// image pull and boot differ from one flavour and region to another. A boot
// is timed from the first listing that shows an instance pending to the
// first that shows it in service; discovery lists a group with a member not
// in service every cycle, so either end is known to within one interval.
type bootTimes struct {
	pending map[string]time.Time
	last    time.Time // the listing last observed
	recent  []time.Duration
}

// Boots kept, and the fewest that stand for the group: one slow first boot
// (an image pulled once) should not set the lead time alone.
const (
	bootKeep       = 20
	bootMinSamples = 3
)

// observe reads one discovery result; a listing already observed (an AS
// group whose unchanged list was reused) is skipped.
func (b *bootTimes) observe(m membership) {
	at := m.listed
	if at.IsZero() {
		at = m.at // ECS: every discovery lists
	}
	if at.IsZero() || !at.After(b.last) {
		return
	}
	b.last = at
	if b.pending == nil {
		b.pending = map[string]time.Time{}
	}
	seen := make(map[string]bool, len(m.instances))
	for _, in := range m.instances {
		seen[in.ID] = true
		since, waiting := b.pending[in.ID]
		switch {
		case in.State == StatePending && !waiting:
			b.pending[in.ID] = at
		case in.State == StateInService && waiting:
			b.recent = append(b.recent, at.Sub(since))
			if len(b.recent) > bootKeep {
				b.recent = b.recent[1:]
			}
			delete(b.pending, in.ID)
		case in.State == StateRemoving && waiting:
			delete(b.pending, in.ID) // never served: no boot to time
		}
	}
	for id := range b.pending {
		if !seen[id] {
			delete(b.pending, id)
		}
	}
}

// p90 is the 0.9 quantile of the recent boots (nearest rank), and whether
// there are enough of them.
func (b *bootTimes) p90() (time.Duration, bool) {
	if len(b.recent) < bootMinSamples {
		return 0, false
	}
	s := slices.Clone(b.recent)
	slices.Sort(s)
	i := (len(s)*9+9)/10 - 1
	return s[i], true
}
