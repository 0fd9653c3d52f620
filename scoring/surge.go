package scoring

import (
	"math"
	"time"
)

// surge calibrates the predictive policy's headroom on the group's own
// history: the factor k such that ceil(k·d/level) instances, sized on the
// demand d seen at a decision, would have held the peak of the demand that
// followed over the lead time below the SLO utilisation. A forecast's error
// quantiles say how far a point forecast misses on average; what violates an
// SLO is the rare minute whose peak outruns the provision, and whether it
// does depends on whole instances: on a group that mostly needs one, a
// three-fold headroom is nearly free and covers a flash crowd, while on a
// large group the same factor is expensive. So k is chosen by replaying the
// decision rule over the stored (seen, peak) pairs, with the same rounding:
// the smallest k that would have missed no peak, unless that costs more than
// Budget times what a provision of exactly each peak would have cost, in
// which case the largest k within the budget.
type surge struct {
	// samples are the demand samples of the last lead time and more, to find
	// the peak that followed each pending decision.
	sts  []int64
	svs  []float64
	pend []surgePending
	// pairs is a ring of (seen, peak) per decision, at most one a minute.
	seen, peak []float32
	head, n    int
	k          float64
	calAt      time.Time
	lastPend   time.Time
}

type surgePending struct {
	at   int64
	seen float64
}

// surge settings: a week of one-minute decisions, recalibrated hourly.
const (
	surgePairs        = 7 * 24 * 60
	surgeEvery        = time.Hour
	surgeMinPairs     = 60
	surgeMaxK         = 20
	surgeMinPairEvery = time.Minute
	// surgeSlopeOver is how far back the demand's rise is measured: two
	// Cloud Eye periods, eight scrapes of the request rate.
	surgeSlopeOver = 2 * time.Minute
)

// observe records the newest demand sample (timestamp ts) and the decision
// made at now on seen; pairs are completed once samples cover [now, now+lead].
func (s *surge) observe(now time.Time, ts int64, v float64, lead time.Duration) {
	if !finite(v) || v < 0 {
		return
	}
	if len(s.sts) == 0 || ts > s.sts[len(s.sts)-1] {
		s.sts = append(s.sts, ts)
		s.svs = append(s.svs, v)
	}
	newest := s.sts[len(s.sts)-1]
	if now.Sub(s.lastPend) >= surgeMinPairEvery {
		s.pend = append(s.pend, surgePending{at: now.UnixNano(), seen: s.reference(lead)})
		s.lastPend = now
	}
	done := 0
	for _, p := range s.pend {
		end := p.at + int64(lead)
		if newest < end {
			break
		}
		pk := 0.0
		for i := len(s.sts) - 1; i >= 0 && s.sts[i] >= p.at; i-- {
			if s.sts[i] <= end {
				pk = math.Max(pk, s.svs[i])
			}
		}
		s.add(p.seen, pk)
		done++
	}
	s.pend = s.pend[done:]
	// Keep the samples a pending decision may still need.
	from := newest - int64(lead)
	if len(s.pend) > 0 {
		from = min(from, s.pend[0].at)
	}
	cut := 0
	for cut < len(s.sts)-1 && s.sts[cut] < from {
		cut++
	}
	if cut > 0 {
		s.sts, s.svs = append(s.sts[:0], s.sts[cut:]...), append(s.svs[:0], s.svs[cut:]...)
	}
}

// reference is the demand a decision sizes on: the newest sample, carried
// forward over the lead time at the rate it rose over the last slopeOver.
func (s *surge) reference(lead time.Duration) float64 {
	i := len(s.sts) - 1
	v := s.svs[i]
	j := i
	for j > 0 && s.sts[i]-s.sts[j-1] <= int64(surgeSlopeOver) {
		j--
	}
	if j == i {
		return v
	}
	slope := (v - s.svs[j]) / float64(s.sts[i]-s.sts[j])
	return v + math.Max(0, slope)*float64(lead)
}

func (s *surge) add(seen, peak float64) {
	if s.seen == nil {
		s.seen, s.peak = make([]float32, surgePairs), make([]float32, surgePairs)
	}
	s.seen[s.head], s.peak[s.head] = float32(seen), float32(peak)
	s.head = (s.head + 1) % surgePairs
	s.n = min(s.n+1, surgePairs)
}

// factor is the calibrated headroom at now, recalibrated hourly; 0 until
// there are enough pairs. level is the utilisation the policy holds demand
// at, slo the one above which a minute violates; floor the group's minimum.
func (s *surge) factor(now time.Time, level, slo, budget float64, floor int) float64 {
	if s.n < surgeMinPairs {
		return 0
	}
	if s.k > 0 && now.Sub(s.calAt) < surgeEvery && !now.Before(s.calAt) {
		return s.k
	}
	s.calAt = now
	floor = max(floor, 1)
	count := func(k float64, v float32) float64 {
		return math.Max(float64(floor), math.Ceil(k*float64(v)/level-1e-9))
	}
	eval := func(k float64) (misses int, cost float64) {
		for i := range s.n {
			c := count(k, s.seen[i])
			cost += c
			if float64(s.peak[i]) > slo*c {
				misses++
			}
		}
		return misses, cost
	}
	oracle := 0.0
	for i := range s.n {
		oracle += math.Max(float64(floor), math.Ceil(float64(s.peak[i])/slo-1e-9))
	}
	lo, hi := 0.25, float64(surgeMaxK)
	if m, _ := eval(lo); m == 0 {
		hi = lo
	} else {
		for range 24 {
			mid := math.Sqrt(lo * hi)
			if m, _ := eval(mid); m > 0 {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	k := hi
	if _, c := eval(k); budget > 0 && c > budget*oracle {
		lo, hi = 0.25, k
		for range 24 {
			mid := math.Sqrt(lo * hi)
			if _, c := eval(mid); c > budget*oracle {
				hi = mid
			} else {
				lo = mid
			}
		}
		k = lo
	}
	s.k = k
	return k
}
