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
