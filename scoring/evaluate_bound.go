package scoring

import (
	"math"
	"slices"
	"time"
)

// Bounds that no causal forecaster is held to, to tell a weak model from an
// unforecastable trace. Both see the future, so they are not models.
const (
	// ModelBoundLags is the best linear model on lags fitted in hindsight: least
	// squares over the whole trace (values or their logarithms, whichever scores
	// better) of the value a horizon ahead on the last hour's samples and the
	// same time one and two days and one week earlier.
	ModelBoundLags Model = "bound_hindsight_lags"
	// ModelBoundLevel forecasts the median of the hour centred on the target,
	// the target itself left out: it knows the local level from the future, so
	// what it misses is noise around that level.
	ModelBoundLevel Model = "bound_centered_median"
)

// BoundModels are the hindsight bounds forecast-eval reports with --bounds.
func BoundModels() []Model { return []Model{ModelBoundLags, ModelBoundLevel} }

// hindsightBounds scores the bounds at a horizon of h steps; ok is false when
// the trace is shorter than three days (the lags need two days of past).
func hindsightBounds(values []float64, step time.Duration, h int, scale float64) (map[Model]EvalScore, bool) {
	day := int(24 * time.Hour / step)
	week := 7 * day
	nLags := max(4, int(time.Hour/step))
	seasonal := []int{day, 2 * day}
	if len(values) >= 2*week {
		seasonal = append(seasonal, week)
	}
	first := slices.Max(seasonal) // the earliest origin with every input
	if len(values)-h-first < day {
		return nil, false
	}
	var mean float64
	for _, v := range values {
		mean += v
	}
	c := max(offsetShare*mean/float64(len(values)), 1e-9)
	features := func(i int, tr func(float64) float64, x []float64) {
		x[0] = 1
		for k := 0; k < nLags; k++ {
			x[1+k] = tr(values[i-k])
		}
		for k, lag := range seasonal {
			x[1+nLags+k] = tr(values[i+h-lag])
		}
	}
	dim := 1 + nLags + len(seasonal)
	origins := len(values) - h - first
	ident := func(v float64) float64 { return v }
	logc := func(v float64) float64 { return math.Log(max(v, 0) + c) }
	best := EvalScore{SMAPE: math.Inf(1)}
	for _, domain := range []struct {
		to, from func(float64) float64
	}{{ident, ident}, {logc, func(z float64) float64 { return math.Exp(min(z, 700)) - c }}} {
		ata := make([]float64, dim*dim)
		atb := make([]float64, dim)
		x := make([]float64, dim)
		for i := first; i+h < len(values); i++ {
			features(i, domain.to, x)
			y := domain.to(values[i+h])
			for r := range x {
				atb[r] += x[r] * y
				for q := range x {
					ata[r*dim+q] += x[r] * x[q]
				}
			}
		}
		for r := 0; r < dim; r++ {
			ata[r*dim+r] += 1e-9*ata[r*dim+r] + 1e-12
		}
		w, ok := solveDense(ata, atb)
		if !ok {
			continue
		}
		var sc EvalScore
		terms := make([]float64, 0, origins)
		var abs float64
		for i := first; i+h < len(values); i++ {
			features(i, domain.to, x)
			var z float64
			for r := range x {
				z += w[r] * x[r]
			}
			f := max(domain.from(z), 0)
			terms = append(terms, smapeTerm(f, values[i+h]))
			abs += math.Abs(f - values[i+h])
		}
		sc = scoreTerms(terms, abs, scale)
		if sc.SMAPE < best.SMAPE {
			best = sc
		}
	}
	half := max(1, int(30*time.Minute/step))
	terms := make([]float64, 0, origins)
	var abs float64
	win := make([]float64, 0, 2*half)
	for j := first + h; j < len(values); j++ {
		win = win[:0]
		for k := j - half; k <= j+half; k++ {
			if k != j && k >= 0 && k < len(values) {
				win = append(win, values[k])
			}
		}
		slices.Sort(win)
		f := win[len(win)/2]
		if len(win)%2 == 0 {
			f = (win[len(win)/2-1] + f) / 2
		}
		terms = append(terms, smapeTerm(f, values[j]))
		abs += math.Abs(f - values[j])
	}
	return map[Model]EvalScore{ModelBoundLags: best, ModelBoundLevel: scoreTerms(terms, abs, scale)}, true
}

// scoreTerms is the score of a forecaster from its sMAPE terms and summed
// absolute error.
func scoreTerms(terms []float64, abs, scale float64) EvalScore {
	n := float64(len(terms))
	sc := EvalScore{SMAPE: sum(terms) / n, MASE: math.NaN(), Origins: len(terms), WorstShare: worstShare(terms)}
	if scale > 0 {
		sc.MASE = abs / n / scale
	}
	return sc
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

// worstShare is the share of the summed sMAPE terms in the worst 1% of them:
// how much of a score a few unforeseeable steps (a flash crowd) make.
func worstShare(terms []float64) float64 {
	total := sum(terms)
	if total == 0 {
		return 0
	}
	sorted := slices.Clone(terms)
	slices.Sort(sorted)
	k := max(1, len(sorted)/100)
	return sum(sorted[len(sorted)-k:]) / total
}

// solveDense solves the n x n system a w = b (row-major a) by Gaussian
// elimination with partial pivoting; ok is false when a is singular.
func solveDense(a, b []float64) ([]float64, bool) {
	n := len(b)
	m := slices.Clone(a)
	w := slices.Clone(b)
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(m[r*n+col]) > math.Abs(m[p*n+col]) {
				p = r
			}
		}
		if m[p*n+col] == 0 {
			return nil, false
		}
		if p != col {
			for k := 0; k < n; k++ {
				m[p*n+k], m[col*n+k] = m[col*n+k], m[p*n+k]
			}
			w[p], w[col] = w[col], w[p]
		}
		for r := col + 1; r < n; r++ {
			f := m[r*n+col] / m[col*n+col]
			for k := col; k < n; k++ {
				m[r*n+k] -= f * m[col*n+k]
			}
			w[r] -= f * w[col]
		}
	}
	for r := n - 1; r >= 0; r-- {
		s := w[r]
		for k := r + 1; k < n; k++ {
			s -= m[r*n+k] * w[k]
		}
		w[r] = s / m[r*n+r]
	}
	return w, true
}
