package scoring

import "math"

// The ensemble is a ridge regression, per horizon, of the value a horizon
// ahead on what the series knows at the origin: the newest sample and the
// forecasts of Holt (slow and fast), Holt-Winters and seasonal naive (daily
// and weekly). It is fitted online on the graded forecasts, with exponential
// forgetting so it follows a change of regime, and shrunk towards Holt so a
// young series forecasts as Holt does. It runs on logarithms (with the
// quantiles' offset), a multiplicative mix that suits a spiky count whose
// noise grows with its level: a second copy on the values themselves changed
// no trace's sMAPE by more than 0.001 where auto used it (docs/bench-scoring.md)
// and cost as much memory again. Auto uses it only where its rolling error
// says so.

const (
	ensDim    = 8 // intercept, newest sample, six base forecasts
	ensPacked = ensDim * (ensDim + 1) / 2
	ensForget = 0.998      // weight kept by the past per grading: ~500 gradings in memory
	ensRidge  = 0.1        // pull towards the anchor, relative to each input's spread
	ensMinFit = 3 * ensDim // gradings before the weights leave zero
)

// ensBase are the variants whose forecasts feed the regression, after the
// intercept and the newest sample.
var ensBase = [ensDim - 2]int{vHoltSlow, vHoltFast, vHWDay, vHWWeek, vSNDay, vSNWeek}

// ensAnchor is the forecast the regression corrects: every input and the
// target are taken relative to it, so zero weights (where the ridge pulls)
// forecast as Holt does.
const ensAnchor = vHoltMid

// stacker is one exponentially weighted ridge regression: the packed lower
// triangle of sum(lambda^k x x'), sum(lambda^k x y), and the weights last solved.
type stacker struct {
	a [ensPacked]float64
	b [ensDim]float64
	w [ensDim]float64
	n int32 // gradings seen
}

const stackerSize = 8*(ensPacked+2*ensDim) + 8

// update forgets a little of the past, adds the pair (x, y) and solves
// (A + ridge diag(A)) w = b: a ridge relative to each input's own spread, so
// it means the same on a flat CPU as on a spiky request count.
func (st *stacker) update(x *[ensDim]float64, y float64) {
	k := 0
	for i := 0; i < ensDim; i++ {
		for j := 0; j <= i; j++ {
			st.a[k] = ensForget*st.a[k] + x[i]*x[j]
			k++
		}
		st.b[i] = ensForget*st.b[i] + x[i]*y
	}
	var m [ensDim][ensDim]float64
	var r [ensDim]float64
	// An input that has not moved (a season not built yet) gets the floor.
	var floor float64
	for i := 0; i < ensDim; i++ {
		floor += st.a[i*(i+3)/2]
	}
	floor = 1e-4*floor/ensDim + 1e-12
	k = 0
	for i := 0; i < ensDim; i++ {
		for j := 0; j <= i; j++ {
			m[i][j] = st.a[k]
			k++
		}
		m[i][i] += ensRidge*m[i][i] + floor
		r[i] = st.b[i]
	}
	if st.n++; st.n < ensMinFit {
		return
	}
	if w, ok := cholSolve(&m, &r); ok {
		st.w = w
	}
}

// cholSolve solves m w = r for a symmetric positive definite m given by its
// lower triangle; ok is false when m is not (numerically) positive definite.
func cholSolve(m *[ensDim][ensDim]float64, r *[ensDim]float64) (w [ensDim]float64, ok bool) {
	var l [ensDim][ensDim]float64
	for i := 0; i < ensDim; i++ {
		for j := 0; j <= i; j++ {
			sum := m[i][j]
			for k := 0; k < j; k++ {
				sum -= l[i][k] * l[j][k]
			}
			if i == j {
				if !(sum > 0) {
					return w, false
				}
				l[i][i] = math.Sqrt(sum)
			} else {
				l[i][j] = sum / l[j][j]
			}
		}
	}
	var z [ensDim]float64
	for i := 0; i < ensDim; i++ {
		sum := r[i]
		for k := 0; k < i; k++ {
			sum -= l[i][k] * z[k]
		}
		z[i] = sum / l[i][i]
	}
	for i := ensDim - 1; i >= 0; i-- {
		sum := z[i]
		for k := i + 1; k < ensDim; k++ {
			sum -= l[k][i] * w[k]
		}
		w[i] = sum / l[i][i]
	}
	return w, true
}

// predict is the correction to the anchor, kept within the inputs' range
// widened by half its width: a regression fitted on the past must not
// extrapolate far beyond every model it combines.
func (st *stacker) predict(x *[ensDim]float64) float64 {
	var y, lo, hi float64
	for i, v := range x {
		y += st.w[i] * v
		if i > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	pad := (hi - lo) / 2
	return min(max(y, lo-pad), hi+pad)
}

// ensFeatures fills x with the regression's inputs, as logarithms relative to
// the anchor's, and returns the anchor's logarithm; c is the log offset.
func ensFeatures(c, last float64, f func(v int) float64, x *[ensDim]float64) float64 {
	a := math.Log(max(f(ensAnchor), 0) + c)
	x[0] = 1
	x[1] = math.Log(max(last, 0)+c) - a
	for i, v := range ensBase {
		x[2+i] = math.Log(max(f(v), 0)+c) - a
	}
	return a
}

// ensemble sets f[vEnsemble] from the base variants of f, at horizon index h.
func (s *series) ensemble(h int, f *[numVariants]float64) {
	var x [ensDim]float64
	c := s.logOffset()
	a := ensFeatures(c, s.lastValue, func(v int) float64 { return f[v] }, &x)
	f[vEnsemble] = math.Exp(min(a+s.ens[h].predict(&x), 700)) - c
}

// gradeEnsemble fits horizon h's regression to a forecast issued with p that
// fell due at actual.
func (s *series) gradeEnsemble(h int, p *pending, actual float64) {
	var x [ensDim]float64
	c := s.logOffset()
	a := ensFeatures(c, float64(p.last), func(v int) float64 { return float64(p.f[v]) }, &x)
	s.ens[h].update(&x, math.Log(max(actual, 0)+c)-a)
}
