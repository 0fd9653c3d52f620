// Package scoring turns group signals into what the autoscaler decides on:
// per-signal scores and the seed article's composite score, a trend, forecasts
// at several horizons with automatic model choice, and recommended instance
// counts by policy (seed, target, predictive).
//
// It is pure and deterministic: no I/O, and time is always passed in, so the
// backtest runs the same code in virtual time. Values are in base units (ratios
// 0..1, seconds, items); the seed formulas are generalised to configurable
// thresholds so that with the default thresholds they give the article's numbers.
//
// A signal with no fresh data contributes 0 to the composite score and is
// skipped by the target and predictive policies.
package scoring

import "math"

// Score is the seed article's per-signal score in [-1, 1] for value v against
// thresholds th; 0 between the thresholds. With the defaults it is exactly the
// article's code: CPU 85% gives (85-70)/30 = 0.5.
//
//   - ratios (cpu, memory, gpu, npu, error rate): above out (v-out)/(1-out), below in (v-in)/in;
//   - response time: above out (v-out)/(1.5*out), below in (v-in)/in;
//   - queue: above out q/(2*out) (the article's jump to 0.5 at the threshold), below in (q-in)/in.
func Score(s Signal, v float64, th Threshold) float64 {
	if !finite(v) {
		return 0
	}
	switch {
	case v > th.Out:
		var x float64
		switch KindOf(s) {
		case Ratio:
			x = (v - th.Out) / (1 - th.Out)
		case Seconds:
			x = (v - th.Out) / (1.5 * th.Out)
		case Items:
			x = v / (2 * th.Out)
		}
		return math.Min(x, 1)
	case v < th.In:
		return math.Max((v-th.In)/th.In, -1)
	}
	return 0
}

// Trend is tanh(slope/10), the slope being the least-squares slope per sample
// of the last n values, in the article's units (percent for ratios, ms for
// response time). It is 0 with fewer than n values.
func Trend(s Signal, values []float64, n int) float64 {
	if n < 2 || len(values) < n {
		return 0
	}
	slope := lsSlope(values[len(values)-n:])
	return math.Tanh(slope * articleUnits(s) / 10)
}

// lsSlope is the least-squares slope of ys against 0, 1, 2, ...
func lsSlope(ys []float64) float64 {
	n := float64(len(ys))
	if n < 2 {
		return 0
	}
	mx := (n - 1) / 2
	var my float64
	for _, y := range ys {
		my += y
	}
	my /= n
	var sxy, sxx float64
	for i, y := range ys {
		dx := float64(i) - mx
		sxy += dx * (y - my)
		sxx += dx * dx
	}
	return sxy / sxx
}

// Composite is the weighted sum of the scores plus trendWeight*trend, clamped to [-1, 1].
// Signals missing from scores contribute 0.
func Composite(scores map[Signal]float64, weights map[Signal]float64, trend, trendWeight float64) float64 {
	sum := trendWeight * trend
	for s, w := range weights {
		sum += w * scores[s]
	}
	return math.Max(-1, math.Min(1, sum))
}
