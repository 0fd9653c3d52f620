package scoring

import (
	"math"
	"slices"
)

// Probabilistic forecasts. Each model (and auto) keeps, per horizon, a ring of
// its own recent graded residuals and reads quantiles off it: split conformal
// prediction on a rolling window, so an interval is as wide as the model's
// measured error at that horizon and no wider. Residuals are logarithmic with
// an offset, ln(a+c) - ln(f+c), so intervals scale with the level (a daily
// peak gets a wider band than the night) while zeros stay defined; c is a
// twentieth of the series' running mean level. Because the error distribution
// drifts (a quiet week, then a busy one), each quantile level is steered by
// adaptive conformal inference (Gibbs and Candès, 2021): every graded forecast
// nudges the level read off the ring by gamma times the gap between the
// nominal level and whether the residual fell below it, so the long-run
// coverage meets the nominal one whatever the drift.

// NumQuantiles is the number of quantile levels each forecast carries.
const NumQuantiles = 5

// QuantileLevels are the levels of Forecast.Quantiles: the central 90%
// interval (0.05, 0.95), the median and the upper tail a scale-out cares about.
func QuantileLevels() [NumQuantiles]float64 {
	return [NumQuantiles]float64{0.05, 0.5, 0.9, 0.95, 0.99}
}

// The indices of the central 90% interval's ends in QuantileLevels.
const iP05, iP95 = 0, 3

const (
	resCap       = 64     // residuals kept per model and horizon
	minResiduals = 16     // residuals needed before quantiles are published
	resScale     = 1024.0 // int16 quantisation of the log residual: ±32 in steps of 1/1024
	aciGamma     = 0.005  // step of the adaptive level per graded forecast
	offsetShare  = 0.05   // log offset c as a share of the running mean level
	levelWeight  = 0.002  // weight of a sample in the running mean level
	numModels    = 5      // Models() and auto
	autoIndex    = numModels - 1
)

// residuals is one model's error memory at one horizon: a ring in arrival
// order (to evict the oldest) and its slots in order of value (so a quantile
// is a lookup, not a sort, when the exporter asks every cycle).
type residuals struct {
	ring  [resCap]int16
	order [resCap]uint8 // ring slots, smallest residual first
	n     uint8
	next  uint8
	level [NumQuantiles]float32 // ACI-adjusted level read off the ring
	// mult is exp of the residual quantile at each level, refreshed when a
	// residual arrives, so a forecast's quantiles cost no exp or log.
	mult [NumQuantiles]float32
}

const residualsSize = 3*resCap + 2 + 2*4*NumQuantiles

func (r *residuals) reset() {
	lv := QuantileLevels()
	for j := range r.level {
		r.level[j] = float32(lv[j])
	}
}

// add records a residual, first steering each level by whether the residual
// fell at or below the quantile the ring gives for it now.
func (r *residuals) add(res float64) {
	if r.n >= minResiduals {
		lv := QuantileLevels()
		e := float32(math.Exp(res)) // compared with the cached multipliers: one exp, no lookups
		for j := range r.level {
			hit := 0.0
			if e <= r.mult[j] {
				hit = 1
			}
			l := float64(r.level[j]) + aciGamma*(lv[j]-hit)
			r.level[j] = float32(min(1, max(0, l)))
		}
	}
	q := int16(max(-32767, min(32767, math.Round(res*resScale))))
	slot := r.next
	if int(r.n) == resCap { // evict the oldest, which is in this slot
		i := slices.Index(r.order[:], slot)
		copy(r.order[i:], r.order[i+1:])
		r.n--
	}
	r.ring[slot] = q
	r.next = uint8((int(slot) + 1) % resCap)
	i, _ := slices.BinarySearchFunc(r.order[:r.n], q, func(o uint8, q int16) int { return int(r.ring[o]) - int(q) })
	copy(r.order[i+1:r.n+1], r.order[i:r.n])
	r.order[i] = slot
	r.n++
	if r.n < minResiduals {
		return
	}
	for j := range r.mult {
		r.mult[j] = float32(math.Exp(r.quantile(float64(r.level[j]))))
	}
}

// value is the i-th smallest residual.
func (r *residuals) value(i int) float64 { return float64(r.ring[r.order[i]]) / resScale }

// quantile is the empirical quantile at level p (0..1) of the residuals,
// interpolating between order statistics. The k-th smallest of n stands for
// level k/(n+1), split conformal's finite-sample rule, which keeps a small
// ring from giving too narrow an interval.
func (r *residuals) quantile(p float64) float64 {
	n := int(r.n)
	x := max(0, p*float64(n+1)-1)
	i := int(x)
	if i >= n-1 {
		return r.value(n - 1)
	}
	lo, hi := r.value(i), r.value(i+1)
	return lo + (x-float64(i))*(hi-lo)
}

// logOffset is c in ln(v+c): a share of the running mean level, so a series
// that idles at 0 still has finite residuals.
func (s *series) logOffset() float64 {
	return max(offsetShare*s.meanLevel, 1e-9)
}

// residual is the log residual of forecast f against actual a.
func (s *series) residual(f, a float64) float64 {
	c := s.logOffset()
	return math.Log(max(a, 0)+c) - math.Log(max(f, 0)+c)
}

// quantiles fills q with the quantiles of model m's forecast f at horizon h,
// in QuantileLevels order and non-decreasing; NaN until the model has been
// graded minResiduals times at h.
func (s *series) quantiles(h, m int, f float64, q *[NumQuantiles]float64) {
	r := &s.res[h*numModels+m]
	if r.n < minResiduals {
		for j := range q {
			q[j] = math.NaN()
		}
		return
	}
	c := s.logOffset()
	base := max(f, 0) + c
	for j := range q {
		v := max(base*float64(r.mult[j])-c, 0)
		if j > 0 {
			v = max(v, q[j-1])
		}
		q[j] = v
	}
}

// modelIndex is m's slot among Models() and auto.
func modelIndex(m Model) int {
	if m == ModelAuto {
		return autoIndex
	}
	return slices.Index(Models(), m)
}
