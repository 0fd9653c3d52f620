package scoring

import (
	"math"
	"time"
)

// Policy names a recommendation policy, as in the `policy` label.
type Policy string

// The recommendation policies.
const (
	PolicySeed       Policy = "seed"       // the seed article's score-driven steps (the baseline)
	PolicyTarget     Policy = "target"     // HPA-style target tracking on current values
	PolicyPredictive Policy = "predictive" // target tracking on the forecast at the lead time
)

// Policies returns every policy in a fixed order.
func Policies() []Policy { return []Policy{PolicySeed, PolicyTarget, PolicyPredictive} }

func clamp(n, lo, hi int) int {
	if n < lo {
		return lo
	}
	if hi >= lo && n > hi {
		return hi
	}
	return n
}

// SeedRecommend is the seed article's rule: above ScaleOutScore add
// max(1, int(n*score*OutFactor)) capped at max; below ScaleInScore remove
// max(1, int(n*|score|*InFactor)) floored at min; otherwise keep n (within min..max).
func SeedRecommend(n int, score float64, p Params, lo, hi int) int {
	switch {
	case score > p.ScaleOutScore:
		return clamp(n+max(1, int(float64(n)*score*p.OutFactor)), lo, hi)
	case score < p.ScaleInScore:
		return clamp(n-max(1, int(float64(n)*math.Abs(score)*p.InFactor)), lo, hi)
	}
	return clamp(n, lo, hi)
}

// usageRatio is current/target for one signal in the HPA sense, with n
// instances: queue items per instance over the per-instance target; any other
// signal (utilisation, response time in seconds) over its target in the same
// unit. ok is false when the signal is not tracked.
func usageRatio(s Signal, v float64, n int, target float64) (float64, bool) {
	if target <= 0 || !finite(v) {
		return 0, false
	}
	if KindOf(s) == Items {
		return v / (target * float64(max(n, 1))), true
	}
	return v / target, true
}

// TargetDesired is the HPA formula for one signal: ceil(n*ratio), or n while
// the ratio is within the tolerance band around 1 (or NaN). With no instances
// the base is 1.
func TargetDesired(n int, ratio, tolerance float64) int {
	if math.IsNaN(ratio) || math.Abs(ratio-1) <= tolerance {
		return n
	}
	// The epsilon keeps 10*1.2 = 12.000000000000002 from becoming 13.
	d := math.Ceil(float64(max(n, 1))*ratio - 1e-9)
	if !(d < maxInstances) {
		return maxInstances // absurd input must not overflow int
	}
	return max(int(d), 0)
}

// maxInstances caps a computed count before it becomes an int.
const maxInstances = 1_000_000

// stabilizer remembers recent recommendations and answers the highest in the
// window, so scale-in waits until the whole window agrees (HPA's
// scale-down stabilisation); scale-out passes at once.
type stabilizer struct {
	at  []time.Time
	rec []int
}

func (s *stabilizer) add(now time.Time, window time.Duration, rec int) int {
	cut := 0
	for cut < len(s.at) && !s.at[cut].After(now.Add(-window)) {
		cut++
	}
	// Drop what fell out of the window and anything "from the future" after a clock jump back.
	s.at, s.rec = s.at[cut:], s.rec[cut:]
	for len(s.at) > 0 && s.at[len(s.at)-1].After(now) {
		s.at, s.rec = s.at[:len(s.at)-1], s.rec[:len(s.rec)-1]
	}
	if window > 0 {
		s.at = append(s.at, now)
		s.rec = append(s.rec, rec)
	}
	best := rec
	for _, r := range s.rec {
		best = max(best, r)
	}
	return best
}

// quantileAt reads the quantile at level p off a forecast's quantiles at
// QuantileLevels, interpolating linearly between published levels (and
// holding the top one above 0.99). ok is false while they are NaN (the model
// has not been graded often enough).
func quantileAt(q [NumQuantiles]float64, p float64) (float64, bool) {
	lv := QuantileLevels()
	if math.IsNaN(q[NumQuantiles-1]) {
		return 0, false
	}
	if p <= lv[0] {
		return q[0], true
	}
	for j := 1; j < NumQuantiles; j++ {
		if p <= lv[j] {
			f := (p - lv[j-1]) / (lv[j] - lv[j-1])
			return q[j-1] + f*(q[j]-q[j-1]), true
		}
	}
	return q[NumQuantiles-1], true
}

// upperOverLead is the risk quantile of a signal over [now, now+lead]: the
// highest of the current value and the quantiles at the horizons within the
// lead time, with the quantile at the lead time itself interpolated between
// the horizons around it (the current value standing at horizon 0). A
// horizon not yet graded contributes its point forecast. fcs are auto's
// forecasts in ascending horizon order.
func upperOverLead(now float64, fcs []Forecast, lead time.Duration, risk float64) float64 {
	up := now
	prevD, prevV := time.Duration(0), now
	for _, fc := range fcs {
		v, ok := quantileAt(fc.Quantiles, risk)
		if !ok {
			v = fc.Value
		}
		if !finite(v) {
			continue
		}
		if fc.Horizon <= lead {
			up = math.Max(up, v)
			prevD, prevV = fc.Horizon, v
			continue
		}
		if lead > prevD {
			f := float64(lead-prevD) / float64(fc.Horizon-prevD)
			up = math.Max(up, prevV+f*(v-prevV))
		}
		break
	}
	return up
}

// drainNeed is the instances a backlog asks for, sized as work to drain:
// (arrival + backlog/window) over the per-instance rate, where the
// per-instance rate is rate (items per second at 100%) at utilisation level,
// and arrival is given in instances at 100% (utilisation times instances).
func drainNeed(arrival, backlog, rate, level float64, window time.Duration) float64 {
	return (arrival + backlog/(window.Seconds()*rate)) / level
}

// backlogGrowth remembers the queue's last two samples: their slope is the
// arrival rate beyond what the instances serve, as fresh as the scrape.
type backlogGrowth struct {
	prevAt, lastAt time.Time
	prev, last     float64
}

func (b *backlogGrowth) observe(t time.Time, v float64) {
	if !finite(v) || !t.After(b.lastAt) {
		return
	}
	b.prevAt, b.prev = b.lastAt, b.last
	b.lastAt, b.last = t, v
}

// rate is the backlog's growth in items per second between the last two
// samples, 0 when it does not grow or either sample is older than stale.
func (b *backlogGrowth) rate(now time.Time, stale time.Duration) float64 {
	if b.prevAt.IsZero() || now.Sub(b.prevAt) > stale {
		return 0
	}
	return math.Max(0, (b.last-b.prev)/b.lastAt.Sub(b.prevAt).Seconds())
}

// backlogArrival is the arrival rate, in instances at 100%, while a backlog
// grows by growth items per second: the n instances serve rate each, all
// they can, and the growth is what they could not serve. NaN without a rate.
func backlogArrival(n int, growth, rate float64) float64 {
	if rate <= 0 || growth <= 0 {
		return math.NaN()
	}
	return float64(n) + growth/rate
}
