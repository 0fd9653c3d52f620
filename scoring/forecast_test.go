package scoring

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func newTestSeries(t *testing.T, change func(*ForecastParams)) *series {
	t.Helper()
	f := Defaults().Forecast
	if change != nil {
		change(&f)
	}
	if errs := f.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return newSeries(newForecastConfig(f, 10))
}

// run observes fn(i) every step and returns the time of the last sample.
func run(s *series, n int, step time.Duration, fn func(i int) float64) time.Time {
	var at time.Time
	for i := 0; i < n; i++ {
		at = t0.Add(time.Duration(i) * step)
		s.observe(at, fn(i))
	}
	return at
}

func forecastAt(s *series, at time.Time) [numVariants]float64 {
	var f [numVariants]float64
	s.forecastAll(at.UnixNano(), &f)
	return f
}

func TestForecastersRecoverKnownPatterns(t *testing.T) {
	day := float64(24 * 60)
	noise := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		n       int
		fn      func(i int) float64
		horizon time.Duration
		variant int     // the model that must recover the pattern
		tol     float64 // relative error allowed
		auto    []Model // what auto may stand for
	}{
		{
			name: "linear recovers a straight line exactly",
			n:    180, fn: func(i int) float64 { return 100 + 0.5*float64(i) },
			horizon: 15 * time.Minute, variant: vLinear, tol: 1e-9,
			auto: []Model{ModelLinear},
		},
		{
			name: "Holt-Winters recovers a daily cycle",
			n:    4 * 24 * 60, fn: func(i int) float64 { return 50 + 20*math.Sin(2*math.Pi*float64(i)/day) },
			horizon: time.Hour, variant: vHWDay, tol: 0.02,
			auto: []Model{ModelHoltWinters, ModelSeasonalNaive, ModelLinear},
		},
		{
			name: "seasonal naive repeats yesterday",
			n:    3 * 24 * 60, fn: func(i int) float64 { return 50 + 20*math.Sin(2*math.Pi*float64(i)/day) },
			horizon: time.Hour, variant: vSNDay, tol: 0.02,
		},
		{
			name: "the short-period model finds a 40-minute cycle in noise",
			n:    2 * 24 * 60,
			fn: func(i int) float64 {
				return 40 + 10*math.Sin(2*math.Pi*float64(i)/40) + noise.NormFloat64()
			},
			horizon: 15 * time.Minute, variant: vHWShort, tol: 0.1,
			auto: []Model{ModelHoltWinters},
		},
		{
			name: "every model forecasts a constant series as itself",
			n:    2 * 24 * 60, fn: func(int) float64 { return 42 },
			horizon: time.Hour, variant: -1, tol: 1e-6,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSeries(t, nil)
			last := run(s, tc.n, time.Minute, tc.fn)
			at := last.Add(tc.horizon)
			want := tc.fn(tc.n - 1 + int(tc.horizon/time.Minute))
			if tc.variant == vHWShort {
				want = 40 + 10*math.Sin(2*math.Pi*float64(tc.n-1+int(tc.horizon/time.Minute))/40)
			}
			f := forecastAt(s, at)
			variants := []int{tc.variant}
			if tc.variant < 0 {
				variants = []int{vLinear, vHoltSlow, vHoltMid, vHoltFast, vHWDay, vHWWeek, vHWShort, vSNDay, vSNWeek}
			}
			for _, v := range variants {
				if got := f[v]; math.Abs(got-want) > tc.tol*math.Abs(want) {
					t.Errorf("variant %d (%s) forecast %v, want %v within %v", v, variantModel(v), got, want, tc.tol)
				}
			}
			h := s.c.horizonFor(tc.horizon)
			if len(tc.auto) > 0 {
				got := variantModel(s.chosen[h])
				ok := false
				for _, m := range tc.auto {
					ok = ok || m == got
				}
				if !ok {
					t.Errorf("auto stands for %s, want one of %v", got, tc.auto)
				}
			}
			if e := s.smape[h]; tc.variant >= 0 && tc.variant != vHWShort && e > 0.05 {
				t.Errorf("running sMAPE of auto = %v, want below 0.05 on a clean pattern", e)
			}
		})
	}
}

func TestGapsNaNsAndRepeats(t *testing.T) {
	t.Run("a short gap is interpolated", func(t *testing.T) {
		s := newTestSeries(t, nil)
		s.observe(t0, 10)
		s.observe(t0.Add(5*time.Minute), 20)
		if s.cur != 5 || s.restarts != 0 || s.at(2) != 16 {
			t.Errorf("cur %d restarts %d sample 2 back %v: want 5, 0 and 16", s.cur, s.restarts, s.at(2))
		}
	})
	t.Run("a long gap restarts the fine models but keeps the seasons", func(t *testing.T) {
		s := newTestSeries(t, nil)
		last := run(s, 2*24*60, time.Minute, func(i int) float64 { return float64(i % 100) })
		s.observe(last.Add(3*time.Hour), 7)
		if s.restarts != 1 || s.ringN != 1 || s.day.hw.season == nil {
			t.Errorf("restarts %d ring %d seasons kept %v", s.restarts, s.ringN, s.day.hw.season != nil)
		}
		f := forecastAt(s, last.Add(4*time.Hour))
		for v, x := range f {
			if !finite(x) {
				t.Errorf("variant %d forecast %v after a gap", v, x)
			}
		}
	})
	t.Run("NaN and Inf are dropped and counted", func(t *testing.T) {
		s := newTestSeries(t, nil)
		s.observe(t0, 1)
		s.observe(t0.Add(time.Minute), math.NaN())
		s.observe(t0.Add(time.Minute), math.Inf(-1))
		if s.dropped != 2 || s.cur != 0 {
			t.Errorf("dropped %d cur %d", s.dropped, s.cur)
		}
	})
	t.Run("a repeat or an older sample is ignored", func(t *testing.T) {
		s := newTestSeries(t, nil)
		s.observe(t0, 1)
		s.observe(t0.Add(20*time.Second), 5)
		s.observe(t0.Add(-time.Minute), 5)
		if s.repeated != 2 || s.cur != 0 || s.lastValue != 1 {
			t.Errorf("repeated %d cur %d last %v", s.repeated, s.cur, s.lastValue)
		}
	})
}

func TestMemoryPerSeriesIsBounded(t *testing.T) {
	s := newTestSeries(t, nil)
	bound := s.c.maxBytes()
	at := t0
	// Ten days of a daily cycle, then ten of a 37-minute one: every season gets built.
	for i := 0; i < 20*24*60; i++ {
		at = t0.Add(time.Duration(i) * time.Minute)
		v := float64(i % 1440)
		if i > 10*24*60 {
			v = float64(i % 37)
		}
		s.observe(at, v)
		if i%1000 == 0 && s.Bytes() > bound {
			t.Fatalf("after %d samples %d bytes, above the bound %d", i, s.Bytes(), bound)
		}
	}
	if s.Bytes() != bound {
		t.Errorf("with every season built: %d bytes, want the bound %d", s.Bytes(), bound)
	}
	// A day of 15-minute and a week of hourly buckets with their seasons, a
	// 3-hour fine ring, a few pending forecasts, 64 graded residuals per
	// model and horizon for the quantiles and the ensemble's 8x8 regression
	// per horizon: not two weeks of minutes.
	if bound > 10500 {
		t.Errorf("%d bytes per series, want under 10500", bound)
	}
	t.Logf("bytes per series with the defaults: at most %d", bound)
}

func TestEvaluateForecastsGradesOutOfSample(t *testing.T) {
	noise := rand.New(rand.NewPCG(3, 4))
	step := 5 * time.Minute
	n := 14 * 288
	values := make([]float64, n)
	for i := range values {
		values[i] = 100 + 40*math.Sin(2*math.Pi*float64(i)/288) + 2*noise.NormFloat64()
	}
	rep, err := EvaluateForecasts(values, t0, step, EvalOptions{Horizons: []time.Duration{15 * time.Minute, time.Hour, 7 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Horizons) != 3 || rep.Horizons[2].Skipped == "" {
		t.Fatalf("want 3 horizons with 7m skipped (not a multiple of 5m): %+v", rep.Horizons)
	}
	for _, h := range rep.Horizons[:2] {
		lin, auto := h.Scores[ModelLinear], h.Scores[ModelAuto]
		if auto.Origins != n-10+1-int(h.Horizon/step) {
			t.Errorf("%v: %d origins", h.Horizon, auto.Origins)
		}
		// Near the noise floor at 15m auto need only win; an hour ahead the
		// daily cycle must give it a 25% lead over predict_linear.
		margin := 1.0
		if h.Horizon == time.Hour {
			margin = 0.75
		}
		if !(auto.SMAPE < margin*lin.SMAPE) || !(auto.MASE < lin.MASE) {
			t.Errorf("%v: auto sMAPE %.4f MASE %.3f, linear %.4f %.3f: want auto below %.2f x linear", h.Horizon, auto.SMAPE, auto.MASE, lin.SMAPE, lin.MASE, margin)
		}
	}
	if _, err := EvaluateForecasts(values, t0, step, EvalOptions{}); err == nil {
		t.Error("no horizons must be an error")
	}
}
