package advisor

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func answerOf(t map[Signal]Band, w map[Signal]float64) answer {
	f := func(x float64) *float64 { return &x }
	b := func(s Signal) *answerBand { return &answerBand{ScaleOut: f(t[s].Out), ScaleIn: f(t[s].In)} }
	a := answer{Thresholds: map[Signal]*answerBand{}, Weights: map[Signal]*float64{}}
	for _, s := range Signals() {
		a.Thresholds[s], a.Weights[s] = b(s), f(w[s])
	}
	return a
}

func TestSeedSettingsAreInsideTheGuardrails(t *testing.T) {
	seed := SeedSettings()
	got, adj, err := applyGuardrails(answerOf(seed.Thresholds, seed.Weights), seed, Signals())
	if err != nil || len(adj) != 0 {
		t.Fatalf("the seed's own numbers: err %v, adjustments %+v", err, adj)
	}
	for _, s := range Signals() {
		if got.Thresholds[s] != seed.Thresholds[s] {
			t.Errorf("%s: %+v, want %+v", s, got.Thresholds[s], seed.Thresholds[s])
		}
	}
}

// Whatever numbers a model sends, an accepted proposal is inside every guardrail,
// scale-out stays above scale-in, the weights are finite and non-negative and keep the
// share the tuned signals held, and what the advisor does not tune is left alone.
func TestGuardrailsHoldForAnyNumbers(t *testing.T) {
	rails := Guardrails()
	accepted := 0
	rapid.Check(t, func(rt *rapid.T) {
		hostile := rapid.OneOf(
			rapid.Float64Range(-10, 10),
			rapid.Float64Range(0, 10000),
			rapid.SampledFrom([]float64{0, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, -0.0, 1e-300}),
		)
		// Half the cases are plausible answers (in the unit's domain, out above in), so
		// the property is exercised on accepted proposals too, not only on rejections.
		plausible := rapid.Bool().Draw(rt, "plausible")
		th := map[Signal]Band{}
		ws := map[Signal]float64{}
		for _, s := range Signals() {
			if !plausible {
				th[s] = Band{Out: hostile.Draw(rt, string(s)+"_out"), In: hostile.Draw(rt, string(s)+"_in")}
				ws[s] = hostile.Draw(rt, string(s)+"_weight")
				continue
			}
			top := math.Min(rails[s].Domain.Max, 3*rails[s].Out.Max)
			a := rapid.Float64Range(0, top).Draw(rt, string(s)+"_a")
			b := rapid.Float64Range(0, top).Draw(rt, string(s)+"_b")
			th[s] = Band{Out: math.Max(a, b), In: math.Min(a, b)}
			ws[s] = rapid.Float64Range(0, 5).Draw(rt, string(s)+"_weight")
		}
		current := SeedSettings()
		current.TrendWeight = rapid.Float64Range(0, 0.5).Draw(rt, "trend")
		current.Weights["gpu"] = 0.05 // a signal the advisor does not tune; all weights sum to 1
		got, _, err := applyGuardrails(answerOf(th, ws), current, Signals())
		if err != nil {
			var rej *RejectedError
			if !errors.As(err, &rej) {
				rt.Fatalf("error %v is not a RejectedError", err)
			}
			return
		}
		sum := 0.0
		for _, s := range Signals() {
			b, g := got.Thresholds[s], rails[s]
			if b.Out < g.Out.Min || b.Out > g.Out.Max || b.In < g.In.Min || b.In > g.In.Max {
				rt.Fatalf("%s %+v outside %+v", s, b, g)
			}
			if b.Out <= b.In {
				rt.Fatalf("%s scale-out %g not above scale-in %g", s, b.Out, b.In)
			}
			w := got.Weights[s]
			if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
				rt.Fatalf("weight %s = %g", s, w)
			}
			sum += w
		}
		if math.Abs(sum-0.95) > 1e-9 || got.TrendWeight != current.TrendWeight || got.Weights["gpu"] != 0.05 {
			rt.Fatalf("tuned weights sum to %g, want the 0.95 they held; trend %g, gpu %g, want both kept", sum, got.TrendWeight, got.Weights["gpu"])
		}
		accepted++
	})
	t.Logf("%d proposals accepted", accepted)
	if accepted < 10 {
		t.Errorf("only %d of the generated proposals were accepted: the property was barely exercised", accepted)
	}
}

func TestSummariseSignal(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 26, h, 30, 0, 0, time.UTC) }
	band := Band{Out: 0.7, In: 0.3}
	tests := []struct {
		name   string
		times  []time.Time
		values []float64
		check  func(t *testing.T, st SignalStats)
	}{
		{
			name:   "NaN and Inf samples are skipped, not averaged",
			times:  []time.Time{at(1), at(1), at(1), at(2)},
			values: []float64{0.2, math.NaN(), math.Inf(1), 0.8},
			check: func(t *testing.T, st SignalStats) {
				if st.Samples != 2 || !near(st.Mean, 0.5) || st.Min != 0.2 || st.Max != 0.8 {
					t.Errorf("stats = %+v", st)
				}
			},
		},
		{
			name:   "hours without samples are NaN, hours with samples hold their mean in UTC",
			times:  []time.Time{at(3), at(3), at(3).In(time.FixedZone("CST", 8*3600))},
			values: []float64{0.1, 0.3, 0.5},
			check: func(t *testing.T, st SignalStats) {
				if !near(st.HourlyMean[3], 0.3) {
					t.Errorf("hour 3 = %g, want 0.3", st.HourlyMean[3])
				}
				for h, v := range st.HourlyMean {
					if h != 3 && !math.IsNaN(v) {
						t.Errorf("hour %d = %g, want NaN", h, v)
					}
				}
			},
		},
		{
			name:   "shares above scale-out and below scale-in count samples strictly beyond the thresholds",
			times:  []time.Time{at(0), at(0), at(0), at(0), at(0)},
			values: []float64{0.1, 0.3, 0.5, 0.7, 0.9},
			check: func(t *testing.T, st SignalStats) {
				if !near(st.AboveOutRatio, 0.2) || !near(st.BelowInRatio, 0.2) {
					t.Errorf("above %g below %g, want 0.2 each", st.AboveOutRatio, st.BelowInRatio)
				}
				if !near(st.P50, 0.5) || !near(st.P95, 0.86) {
					t.Errorf("p50 %g p95 %g, want 0.5 and 0.86 (linear interpolation)", st.P50, st.P95)
				}
			},
		},
		{
			name:   "a constant series has zero spread",
			times:  []time.Time{at(0), at(1), at(2)},
			values: []float64{0.4, 0.4, 0.4},
			check: func(t *testing.T, st SignalStats) {
				if st.StdDev != 0 || st.P95 != 0.4 {
					t.Errorf("stats = %+v", st)
				}
			},
		},
		{
			name:   "no finite samples gives zero samples and NaN statistics, which the prompt omits",
			times:  []time.Time{at(0)},
			values: []float64{math.NaN()},
			check: func(t *testing.T, st SignalStats) {
				if st.Samples != 0 || !math.IsNaN(st.Mean) {
					t.Errorf("stats = %+v", st)
				}
				s := Summary{Group: "g", Signals: map[Signal]SignalStats{CPU: st}}
				if s.hasData() {
					t.Error("a summary with only NaN samples counts as history")
				}
			},
		},
		{
			name:   "values without a matching time are ignored",
			times:  []time.Time{at(0)},
			values: []float64{0.4, 0.9},
			check: func(t *testing.T, st SignalStats) {
				if st.Samples != 1 {
					t.Errorf("samples = %d, want 1", st.Samples)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, SummariseSignal(tt.times, tt.values, band)) })
	}
}

func TestPromptJSONWritesNaNAsNull(t *testing.T) {
	seed := SeedSettings()
	st := SummariseSignal([]time.Time{time.Date(2026, 1, 1, 5, 0, 0, 0, time.UTC)}, []float64{0.123456789}, seed.Thresholds[CPU])
	data, err := Summary{Group: "g", Current: seed, Signals: map[Signal]SignalStats{CPU: st}}.promptJSON()
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{`"mean":0.1235`, `null`, `"trend_weight":0.05`} {
		if !strings.Contains(s, want) {
			t.Errorf("prompt JSON lacks %s:\n%s", want, s)
		}
	}
}
