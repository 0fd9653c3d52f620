package scoring

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestResidualRingKeepsTheNewestInOrder(t *testing.T) {
	var r residuals
	r.reset()
	rng := rand.New(rand.NewPCG(5, 6))
	var all []float64
	for i := 0; i < 3*resCap+7; i++ {
		v := math.Round(rng.NormFloat64()*1000) / resScale
		if i%5 == 0 {
			v = 0.5 // ties must evict the right slot too
		}
		all = append(all, v)
		r.add(v)
		want := slices.Clone(all[max(0, len(all)-resCap):])
		slices.Sort(want)
		got := make([]float64, r.n)
		for k := range got {
			got[k] = r.value(k)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("after %d residuals the ring in order holds %v, want the newest %d sorted: %v", i+1, got, resCap, want)
		}
	}
}

func TestQuantilesWaitForEnoughGradedForecasts(t *testing.T) {
	s := newTestSeries(t, nil)
	h := s.c.horizonFor(15 * time.Minute)
	var q [NumQuantiles]float64
	i := 0
	for ; s.res[h*numModels+autoIndex].n < minResiduals; i++ {
		s.observe(t0.Add(time.Duration(i)*time.Minute), 10+float64(i%7))
		if s.quantiles(h, autoIndex, 12, &q); !math.IsNaN(q[0]) && s.res[h*numModels+autoIndex].n < minResiduals {
			t.Fatalf("quantiles %v after %d residuals, want NaN until %d", q, s.res[h*numModels+autoIndex].n, minResiduals)
		}
	}
	s.quantiles(h, autoIndex, 12, &q)
	if !slices.IsSorted(q[:]) || math.IsNaN(q[0]) {
		t.Errorf("after %d samples: quantiles %v, want finite and non-decreasing in QuantileLevels order", i, q)
	}
}

// The central 90% interval covers about 90% of what follows, whatever the
// noise: that is what quantiles taken from the model's own errors promise.
// The band allows for a model whose error depends on the time of day (Holt
// lagging a daily cycle an hour ahead covers 0.86 here): the ring holds the
// last ten hours of its errors, not the same hour of past days.
func TestIntervalsAreCalibratedOnNoisySeries(t *testing.T) {
	step := 5 * time.Minute
	n := 10 * 288
	for _, tc := range []struct {
		name  string
		value func(i int, rng *rand.Rand) float64
	}{
		{"additive Gaussian noise on a daily cycle", func(i int, rng *rand.Rand) float64 {
			return 100 + 40*math.Sin(2*math.Pi*float64(i)/288) + 5*rng.NormFloat64()
		}},
		{"multiplicative heavy-tailed noise", func(i int, rng *rand.Rand) float64 {
			return (50 + 20*math.Sin(2*math.Pi*float64(i)/288)) * math.Exp(0.3*rng.NormFloat64()) * (1 + rng.ExpFloat64()/4)
		}},
		{"a series idling at zero with bursts", func(i int, rng *rand.Rand) float64 {
			if rng.Float64() < 0.8 {
				return 0
			}
			return 30 * rng.ExpFloat64()
		}},
		{"noise that grows tenfold halfway", func(i int, rng *rand.Rand) float64 {
			sd := 1.0
			if i > n/2 {
				sd = 10
			}
			return 200 + sd*rng.NormFloat64()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 8))
			values := make([]float64, n)
			for i := range values {
				values[i] = math.Max(0, tc.value(i, rng))
			}
			rep, err := EvaluateForecasts(values, t0, step, EvalOptions{Horizons: []time.Duration{15 * time.Minute, time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range rep.Horizons {
				for _, m := range append(Models(), ModelAuto) {
					sc := h.Scores[m]
					if sc.QuantileOrigins < n/2 || sc.IntervalCoverage90 < 0.85 || sc.IntervalCoverage90 > 0.95 || !(sc.Pinball > 0) {
						t.Errorf("%v %s: 90%% interval covers %.3f of %d origins (pinball %.4g), want 0.85..0.95 over most of the series",
							h.Horizon, m, sc.IntervalCoverage90, sc.QuantileOrigins, sc.Pinball)
					}
				}
			}
		})
	}
}

// Log residuals make the interval proportional to the level: the same
// relative noise gives a band ten times wider at ten times the level.
func TestIntervalsScaleWithTheLevel(t *testing.T) {
	s := newTestSeries(t, nil)
	rng := rand.New(rand.NewPCG(9, 10))
	run(s, 2*24*60, time.Minute, func(int) float64 { return 100 * math.Exp(0.1*rng.NormFloat64()) })
	h := s.c.horizonFor(15 * time.Minute)
	var lo, hi [NumQuantiles]float64
	s.quantiles(h, autoIndex, 100, &lo)
	s.quantiles(h, autoIndex, 1000, &hi)
	wLo, wHi := lo[iP95]-lo[iP05], hi[iP95]-hi[iP05]
	if !(wLo > 0) || math.Abs(wHi/wLo-10) > 0.5 {
		t.Errorf("90%% interval %.2f wide at 100 and %.2f at 1000, want ten times wider", wLo, wHi)
	}
}

func TestPinballLossWeighsEachSideByTheLevel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		q, a, l float64
		want    float64
	}{
		{"an actual above the quantile costs level x distance", 10, 14, 0.9, 0.9 * 4},
		{"an actual below costs (1 - level) x distance", 10, 6, 0.9, 0.1 * 4},
		{"the median is half the absolute error", 10, 6, 0.5, 2},
		{"a hit costs nothing", 10, 10, 0.99, 0},
	} {
		if got := pinball(tc.q, tc.a, tc.l); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: pinball(%v, %v, %v) = %v, want %v", tc.name, tc.q, tc.a, tc.l, got, tc.want)
		}
	}
}
