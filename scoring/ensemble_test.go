package scoring

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestStackerFitsWhatTheGradingsShow(t *testing.T) {
	// Inputs with unit spread and no correlation: the relative ridge then
	// shrinks each weight by exactly 1/(1+ensRidge).
	shrink := 1 / (1 + ensRidge)
	for _, tc := range []struct {
		name    string
		updates int
		target  func(i int, x *[ensDim]float64) float64
		want    [ensDim]float64
		tol     float64
	}{
		{
			name:    "weights stay at the anchor until enough gradings are seen",
			updates: ensMinFit - 1,
			target:  func(_ int, x *[ensDim]float64) float64 { return x[2] },
			want:    [ensDim]float64{},
			tol:     0,
		},
		{
			name:    "a linear combination of the inputs is recovered, shrunk by the ridge",
			updates: 4000,
			target:  func(_ int, x *[ensDim]float64) float64 { return 0.7*x[4] - 0.3*x[6] },
			want:    [ensDim]float64{4: 0.7 * shrink, 6: -0.3 * shrink},
			tol:     0.05,
		},
		{
			name:    "an old regime is forgotten",
			updates: 8000,
			target: func(i int, x *[ensDim]float64) float64 {
				if i < 4000 {
					return x[3]
				}
				return x[5]
			},
			want: [ensDim]float64{5: shrink},
			tol:  0.05,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			var st stacker
			for i := 0; i < tc.updates; i++ {
				x := [ensDim]float64{0: 1}
				for k := 1; k < ensDim; k++ {
					x[k] = rng.NormFloat64()
				}
				st.update(&x, tc.target(i, &x))
			}
			for k := 1; k < ensDim; k++ {
				if math.Abs(st.w[k]-tc.want[k]) > tc.tol+1e-12 {
					t.Errorf("weight %d = %.4f, want %.4f within %v (all %v)", k, st.w[k], tc.want[k], tc.tol, st.w)
				}
			}
		})
	}
}

func TestStackerNeverExtrapolatesFarBeyondItsInputs(t *testing.T) {
	st := stacker{w: [ensDim]float64{0, 50}}
	for _, tc := range []struct {
		name string
		x    [ensDim]float64
		want float64
	}{
		{"above the highest input by at most half the inputs' range", [ensDim]float64{1, 2, 1, 0}, 3},
		{"below the lowest input by at most half the inputs' range", [ensDim]float64{1, -2, 0, 1}, -3.5},
		{"no correction when every input agrees with the anchor", [ensDim]float64{1}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := st.predict(&tc.x); got != tc.want {
				t.Errorf("predict = %v, want %v", got, tc.want)
			}
		})
	}
}

// weeklyTraffic is five weeks of five-minute request counts: a daily shape
// (busy afternoons, quiet nights), a weekend at 40% of a weekday, and noise
// that grows with the level, as a count's does.
func weeklyTraffic(seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	step := 5 * time.Minute
	values := make([]float64, 5*7*288)
	for i := range values {
		at := t0.Add(time.Duration(i) * step)
		h := float64(at.Hour()) + float64(at.Minute())/60
		level := 100 + 80*math.Sin(2*math.Pi*(h-9)/24)
		if wd := at.Weekday(); wd == time.Saturday || wd == time.Sunday {
			level *= 0.4
		}
		values[i] = max(0, level*math.Exp(0.15*rng.NormFloat64()))
	}
	return values
}

func TestEnsembleBeatsEveryModelItCombinesOnDailyAndWeeklyTraffic(t *testing.T) {
	values := weeklyTraffic(1)
	rep, err := EvaluateForecasts(values, t0, 5*time.Minute, EvalOptions{Horizons: []time.Duration{15 * time.Minute, time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range rep.Horizons {
		ens := h.Scores[ModelEnsemble].SMAPE
		for _, m := range Models() {
			if other := h.Scores[m].SMAPE; !(ens < other) {
				t.Errorf("%v: ensemble sMAPE %.4f, %s %.4f: want the ensemble below", h.Horizon, ens, m, other)
			}
		}
		// Near the noise floor at 15m auto need only win; an hour ahead, 25%.
		margin := 1.0
		if h.Horizon == time.Hour {
			margin = 0.75
		}
		if lin, auto := h.Scores[ModelLinear].SMAPE, h.Scores[ModelAuto].SMAPE; !(auto < margin*lin) {
			t.Errorf("%v: auto sMAPE %.4f, predict_linear %.4f: want auto below %.2f x linear", h.Horizon, auto, lin, margin)
		}
		if h.AutoChoices[ModelEnsemble] == 0 {
			t.Errorf("%v: auto never stood for the ensemble: %v", h.Horizon, h.AutoChoices)
		}
	}
}

func TestHindsightBoundsSeeWhatNoForecasterCan(t *testing.T) {
	values := weeklyTraffic(2)
	rep, err := EvaluateForecasts(values, t0, 5*time.Minute, EvalOptions{Horizons: []time.Duration{time.Hour}, Bounds: true})
	if err != nil {
		t.Fatal(err)
	}
	sc := rep.Horizons[0].Scores
	for _, tc := range []struct {
		name  string
		bound Model
		below Model
	}{
		// predict_linear is a linear function of the last hour: one of the lag models.
		{"the lag model fitted in hindsight beats predict_linear, one of its family", ModelBoundLags, ModelLinear},
		{"the future level leaves only noise: below every causal forecast", ModelBoundLevel, ModelAuto},
	} {
		b, ok := sc[tc.bound]
		if !ok || b.Origins < len(values)/2 || !(b.SMAPE < sc[tc.below].SMAPE) || !(b.MASE < sc[tc.below].MASE) {
			t.Errorf("%s: %s %+v (present %v), want more than half the trace's origins and below %s's %+v", tc.name, tc.bound, b, ok, tc.below, sc[tc.below])
		}
	}
	t.Run("without bounds asked for, none is scored", func(t *testing.T) {
		rep, err := EvaluateForecasts(values, t0, 5*time.Minute, EvalOptions{Horizons: []time.Duration{time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rep.Horizons[0].Scores[ModelBoundLags]; ok {
			t.Error("bound scored without EvalOptions.Bounds")
		}
	})
	t.Run("a trace under three days has no bounds", func(t *testing.T) {
		rep, err := EvaluateForecasts(values[:2*288], t0, 5*time.Minute, EvalOptions{Horizons: []time.Duration{time.Hour}, Bounds: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rep.Horizons[0].Scores[ModelBoundLags]; ok {
			t.Error("bound scored on two days")
		}
	})
}

func TestWorstShareIsTheWorstPercentsPartOfTheSum(t *testing.T) {
	for _, tc := range []struct {
		name  string
		terms []float64
		want  float64
	}{
		{"even errors: the worst 1% carry 1%", func() []float64 {
			ts := make([]float64, 200)
			for i := range ts {
				ts[i] = 0.5
			}
			return ts
		}(), 0.01},
		{"one flash crowd among a hundred steps carries its share", append(make([]float64, 99), 2), 1},
		{"no error at all", make([]float64, 10), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := worstShare(tc.terms); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("worstShare = %v, want %v", got, tc.want)
			}
		})
	}
}
