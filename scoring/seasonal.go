package scoring

import "math"

// seasonal keeps one season of bucket means (a day of 15-minute buckets, a
// week of hourly ones) and runs additive Holt-Winters over the buckets. The
// ring doubles as the seasonal naive's memory: bucket b-period is in slot b.
type seasonal struct {
	step    int64 // bucket width, ns
	period  int64 // buckets per season
	started bool
	idx     int64 // bucket being filled
	sum     float64
	n       int32
	first   int64     // first bucket seen
	last    int64     // newest closed bucket
	ring    []float32 // bucket b at b mod period; NaN when missing
	hw      hwState
}

type hwState struct {
	season []float32 // nil until one full period of buckets has been seen
	level  float64
	trend  float64
	lastB  int64
	resid  float64 // smoothed error against the fine samples since lastB
}

func newSeasonal(step, period int64) seasonal {
	s := seasonal{step: step, period: period, ring: make([]float32, period)}
	for i := range s.ring {
		s.ring[i] = float32(math.NaN())
	}
	return s
}

func (s *seasonal) bytes() int { return 4 * (cap(s.ring) + cap(s.hw.season)) }

// add takes a fine sample at tn.
func (s *seasonal) add(tn int64, v float64) {
	b := floorDiv(tn, s.step)
	if !s.started {
		s.started, s.idx, s.last, s.first = true, b, b-1, b
	}
	if b > s.idx {
		if s.n > 0 {
			s.close(s.idx, s.sum/float64(s.n))
		}
		s.idx, s.sum, s.n = b, 0, 0
	}
	if b == s.idx {
		s.sum += v
		s.n++
	}
	if s.hw.season != nil {
		r := v - s.hw.base(b)
		s.hw.resid = residAlpha*r + (1-residAlpha)*s.hw.resid
	}
}

// addMean records a whole bucket's mean (warm start from coarse history).
func (s *seasonal) addMean(b int64, v float64) {
	if !s.started {
		s.started, s.idx, s.last, s.first = true, b, b-1, b
	}
	if b < s.idx {
		return
	}
	if b > s.idx && s.n > 0 {
		s.close(s.idx, s.sum/float64(s.n))
	}
	s.idx, s.sum, s.n = b, v, 1
}

func (s *seasonal) close(b int64, y float64) {
	if b <= s.last {
		return
	}
	n := s.period
	if b-s.last > n {
		for i := range s.ring {
			s.ring[i] = float32(math.NaN())
		}
	} else {
		for k := s.last + 1; k < b; k++ {
			s.ring[k%n] = float32(math.NaN())
		}
	}
	s.ring[b%n] = float32(y)
	s.last = b
	hw := &s.hw
	if hw.season == nil {
		s.initHW(b)
		return
	}
	k := float64(b - hw.lastB)
	slot := b % n
	old := float64(hw.season[slot])
	prev := hw.level
	hw.level = hwAlpha*(y-old) + (1-hwAlpha)*(hw.level+hw.trend*k)
	hw.trend = hwPhi * (hwBeta*(hw.level-prev)/k + (1-hwBeta)*hw.trend)
	hw.season[slot] = float32(hwGamma*(y-hw.level) + (1-hwGamma)*old)
	hw.lastB = b
	hw.resid = 0 // the new level has absorbed it
}

// initHW starts Holt-Winters once a full period has passed since the first
// bucket, with at most a tenth of the ring missing (a missing bucket starts
// with no offset).
func (s *seasonal) initHW(b int64) {
	if b-s.first+1 < s.period {
		return
	}
	var sum float64
	var cnt int64
	for _, v := range s.ring {
		if !math.IsNaN(float64(v)) {
			sum += float64(v)
			cnt++
		}
	}
	if cnt < s.period*9/10 {
		return
	}
	mean := sum / float64(cnt)
	hw := &s.hw
	hw.season = make([]float32, s.period)
	for i, v := range s.ring {
		if !math.IsNaN(float64(v)) {
			hw.season[i] = float32(float64(v) - mean)
		}
	}
	hw.level, hw.trend, hw.lastB, hw.resid = mean, 0, b, 0
}

// base is the Holt-Winters value for bucket bt, without the residual.
func (hw *hwState) base(bt int64) float64 {
	k := float64(bt - hw.lastB)
	damp := k
	if k > 0 {
		damp = hwPhi * (1 - math.Pow(hwPhi, k)) / (1 - hwPhi)
	}
	n := int64(len(hw.season))
	return hw.level + hw.trend*damp + float64(hw.season[((bt%n)+n)%n])
}

// holtWinters forecasts time tn; decay scales the residual carried over. ok is
// false until a full season has been seen.
func (s *seasonal) holtWinters(tn int64, decay float64) (float64, bool) {
	if s.hw.season == nil {
		return 0, false
	}
	return s.hw.base(floorDiv(tn, s.step)) + s.hw.resid*decay, true
}

// naive returns the mean of the bucket one season before the one holding tn.
func (s *seasonal) naive(tn int64) (float64, bool) {
	k := floorDiv(tn, s.step) - s.period
	if !s.started || k > s.last || k <= s.last-s.period || k < 0 {
		return 0, false
	}
	v := s.ring[k%s.period]
	return float64(v), !math.IsNaN(float64(v))
}

// restart forgets the residual after a gap in the fine samples.
func (s *seasonal) restart() { s.hw.resid = 0 }
