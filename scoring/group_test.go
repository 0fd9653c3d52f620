package scoring

import (
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC) // a Monday, midnight UTC

func newTestGroup(t *testing.T, change func(*Params)) *Group {
	t.Helper()
	p := Defaults()
	if change != nil {
		change(&p)
	}
	g, err := NewGroup(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// feed observes fn(i) for i in [0, n) every step from start and returns the time of the last sample.
func feed(t *testing.T, g *Group, s Signal, start time.Time, n int, step time.Duration, fn func(i int) float64) time.Time {
	t.Helper()
	var at time.Time
	for i := 0; i < n; i++ {
		at = start.Add(time.Duration(i) * step)
		if err := g.Observe(at, s, fn(i)); err != nil {
			t.Fatal(err)
		}
	}
	return at
}

func signalResult(t *testing.T, r Result, s Signal) SignalResult {
	t.Helper()
	for _, sr := range r.Signals {
		if sr.Signal == s {
			return sr
		}
	}
	t.Fatalf("no result for signal %s in %+v", s, r.Signals)
	return SignalResult{}
}

func forecastOf(t *testing.T, sr SignalResult, h time.Duration, m Model) float64 {
	t.Helper()
	for _, f := range sr.Forecasts {
		if f.Horizon == h && f.Model == m {
			return f.Value
		}
	}
	t.Fatalf("no %s forecast at %v", m, h)
	return 0
}

func TestPolicies(t *testing.T) {
	state := GroupState{Current: 10, Desired: 10, Min: 1, Max: 40}
	longLead := func(p *Params) {
		p.Lead = Lead{BootDelay: 20 * time.Minute, WarmUp: 5 * time.Minute, AlertDelay: 35 * time.Minute}
	}
	for _, tc := range []struct {
		name   string
		change func(*Params)
		cpu    func(i int) float64 // 180 one-minute samples
		check  func(t *testing.T, rec map[Policy]int)
	}{
		{
			name: "target tracks ceil(n*current/target); predictive holds the quantile at the scale-out threshold",
			cpu:  func(int) float64 { return 0.9 },
			check: func(t *testing.T, rec map[Policy]int) {
				if rec[PolicyTarget] != 15 {
					t.Errorf("target = %d, want ceil(10*0.9/0.6) = 15", rec[PolicyTarget])
				}
				// A constant load has no forecast error: its quantile is 0.9.
				if rec[PolicyPredictive] != 13 {
					t.Errorf("predictive = %d, want ceil(10*0.9/0.7) = 13", rec[PolicyPredictive])
				}
			},
		},
		{
			name:   "predictive scales out ahead of a rising load the reactive policy still tolerates",
			change: longLead,
			cpu:    func(i int) float64 { return 0.6 * float64(i) / 179 },
			check: func(t *testing.T, rec map[Policy]int) {
				if rec[PolicyTarget] != 10 {
					t.Errorf("target = %d, want 10 (0.6 is on target)", rec[PolicyTarget])
				}
				// An hour ahead the ramp reaches 0.8: ceil(10*0.8/0.7) = 12, or
				// more for the forecast's error.
				if rec[PolicyPredictive] < 12 {
					t.Errorf("predictive = %d, want at least 12", rec[PolicyPredictive])
				}
			},
		},
		{
			name:   "predictive never scales in below what the current load needs at its level",
			change: longLead,
			cpu:    func(i int) float64 { return 0.9 - 0.3*float64(i)/179 },
			check: func(t *testing.T, rec map[Policy]int) {
				if rec[PolicyTarget] != 10 {
					t.Errorf("target %d, want 10", rec[PolicyTarget])
				}
				// The forecast falls further; the current 0.6 still needs ceil(10*0.6/0.7) = 9.
				if rec[PolicyPredictive] != 9 {
					t.Errorf("predictive %d, want 9: the forecast of a falling load must not scale in", rec[PolicyPredictive])
				}
			},
		},
		{
			name: "seed holds while the composite is inside ±0.3",
			cpu:  func(int) float64 { return 0.85 }, // score 0.5, composite 0.15
			check: func(t *testing.T, rec map[Policy]int) {
				if rec[PolicySeed] != 10 {
					t.Errorf("seed = %d, want 10", rec[PolicySeed])
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(t, tc.change)
			last := feed(t, g, CPU, t0, 180, time.Minute, tc.cpu)
			r := g.Evaluate(last, state)
			tc.check(t, r.Recommended)
		})
	}
}

func TestSeedScalesOutOnTheComposite(t *testing.T) {
	g := newTestGroup(t, nil)
	for _, s := range []Signal{CPU, Memory, ResponseTime, Queue} {
		v := map[Signal]float64{CPU: 1, Memory: 1, ResponseTime: 5, Queue: 200}[s]
		feed(t, g, s, t0, 5, time.Minute, func(int) float64 { return v })
	}
	r := g.Evaluate(t0.Add(4*time.Minute), GroupState{Current: 10, Min: 1, Max: 20})
	if !near(r.Composite, 0.95) {
		t.Errorf("composite = %v, want 0.95 (every signal at 1, no trend yet)", r.Composite)
	}
	if r.Recommended[PolicySeed] != 14 {
		t.Errorf("seed = %d, want 10+int(10*0.95*0.5) = 14", r.Recommended[PolicySeed])
	}
}

func TestTargetScaleInWaitsForTheStabilisationWindow(t *testing.T) {
	g := newTestGroup(t, nil)
	state := GroupState{Current: 10, Min: 1, Max: 40}
	at := feed(t, g, CPU, t0, 10, time.Minute, func(int) float64 { return 0.6 })
	if got := g.Evaluate(at, state).Recommended[PolicyTarget]; got != 10 {
		t.Fatalf("on target: %d, want 10", got)
	}
	for i := 1; i <= 6; i++ {
		at = at.Add(time.Minute)
		g.Observe(at, CPU, 0.3)
		got := g.Evaluate(at, state).Recommended[PolicyTarget]
		want := 10
		if i >= 5 {
			want = 5
		}
		if got != want {
			t.Errorf("%d min after load halved: target %d, want %d", i, got, want)
		}
	}
}

func TestPredictiveScaleInWaitsForTheQuantileToFitForTheWholeWindow(t *testing.T) {
	g := newTestGroup(t, nil)
	state := GroupState{Current: 10, Min: 1, Max: 40}
	at := feed(t, g, CPU, t0, 10, time.Minute, func(int) float64 { return 0.7 })
	if got := g.Evaluate(at, state).Recommended[PolicyPredictive]; got != 10 {
		t.Fatalf("at the threshold: %d, want 10", got)
	}
	for i := 1; i <= 6; i++ {
		at = at.Add(time.Minute)
		g.Observe(at, CPU, 0.35)
		got := g.Evaluate(at, state).Recommended[PolicyPredictive]
		if i < 5 && got != 10 {
			t.Errorf("%d min after load halved: predictive %d, want 10 until the 5m window agrees", i, got)
		}
		if i >= 5 && got >= 10 {
			t.Errorf("%d min after load halved: predictive %d, want fewer than 10", i, got)
		}
	}
}

func TestPredictiveSizesDemandNotUtilisation(t *testing.T) {
	// Demand worth 5.6 instances at 100%, while the group's own actions move
	// the count between 10, 14 and 8: the utilisation jumps at every action,
	// but demand does not, so at 8 instances (0.7, the level) predictive asks
	// for exactly 8, where the utilisation's forecast errors would ask more.
	g := newTestGroup(t, nil)
	at := t0
	var got int
	for k := 0; k < 16; k++ {
		n := []int{10, 14, 8}[k%3]
		for i := 0; i < 15; i++ {
			at = at.Add(time.Minute)
			g.Observe(at, CPU, 5.6/float64(n))
			got = g.Evaluate(at, GroupState{Current: n, Min: 1, Max: 40}).Recommended[PolicyPredictive]
		}
		if n == 8 && got != 8 {
			t.Errorf("after %d actions, at 8 instances: predictive %d, want 8", k, got)
		}
	}
}

func TestHigherRiskNeverAsksForFewer(t *testing.T) {
	noisy := func(i int) float64 { return 0.5 + 0.2*math.Sin(float64(i)*1.7)*math.Cos(float64(i)*0.31) }
	rec := map[float64]int{}
	for _, risk := range []float64{0.5, 0.9, 0.99} {
		g := newTestGroup(t, func(p *Params) { p.Risk = risk })
		last := feed(t, g, CPU, t0, 600, time.Minute, noisy)
		rec[risk] = g.Evaluate(last, GroupState{Current: 10, Min: 1, Max: 100}).Recommended[PolicyPredictive]
	}
	if rec[0.5] > rec[0.9] || rec[0.9] > rec[0.99] || rec[0.5] == rec[0.99] {
		t.Errorf("recommendations by risk %v: want non-decreasing, and 0.99 above 0.5 on a noisy load", rec)
	}
}

func TestQueueIsSizedAsWorkToDrain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue float64
		want  int
	}{
		// (4*0.6 + 12000/(120 s * 100/s)) / 0.6 = 3.4/0.6 = 5.67.
		{"a backlog asks for arrival plus backlog over the drain window", 12000, 6},
		{"a backlog within the deadband of 20 per instance asks nothing beyond the CPU", 60, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(t, func(p *Params) { p.ServiceRate = 100; p.DrainWindow = 2 * time.Minute })
			feed(t, g, CPU, t0, 10, time.Minute, func(int) float64 { return 0.6 })
			last := feed(t, g, Queue, t0, 10, time.Minute, func(int) float64 { return tc.queue })
			r := g.Evaluate(last, GroupState{Current: 4, Min: 1, Max: 100})
			if got := r.Recommended[PolicyTarget]; got != tc.want {
				t.Errorf("target = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSignalsWithoutFreshDataContributeNothing(t *testing.T) {
	g := newTestGroup(t, nil)
	g.Observe(t0, CPU, 0.95)
	r := g.Evaluate(t0.Add(10*time.Minute), GroupState{Current: 4, Min: 1, Max: 10})
	cpu := signalResult(t, r, CPU)
	if cpu.Fresh || cpu.Score != 0 || r.Composite != 0 || len(cpu.Forecasts) != 0 {
		t.Errorf("stale CPU: fresh %v score %v composite %v forecasts %d; want not fresh and all 0", cpu.Fresh, cpu.Score, r.Composite, len(cpu.Forecasts))
	}
	if r.Recommended[PolicyTarget] != 4 || r.Recommended[PolicyPredictive] != 4 {
		t.Errorf("with nothing fresh the policies must hold: %v", r.Recommended)
	}
	mem := signalResult(t, r, Memory)
	if mem.Fresh || mem.Weight != 0.25 || !mem.HasThreshold {
		t.Errorf("a weighted signal without data is listed with its weight and threshold: %+v", mem)
	}
}

func TestBadSamples(t *testing.T) {
	g := newTestGroup(t, nil)
	if err := g.Observe(t0, "disk", 1); err == nil || !strings.Contains(err.Error(), `unknown signal "disk"`) {
		t.Errorf("unknown signal: %v", err)
	}
	g.Observe(t0, CPU, 0.5)
	g.Observe(t0.Add(time.Minute), CPU, math.NaN())
	g.Observe(t0.Add(time.Minute), CPU, math.Inf(1))
	g.Observe(t0.Add(2*time.Minute), CPU, 0.7)
	g.Observe(t0.Add(2*time.Minute+10*time.Second), CPU, 0.99) // a repeat of the same datapoint
	r := g.Evaluate(t0.Add(2*time.Minute), GroupState{Current: 1, Min: 1, Max: 5})
	cpu := signalResult(t, r, CPU)
	if cpu.Dropped != 2 {
		t.Errorf("dropped %d, want 2 (NaN and +Inf)", cpu.Dropped)
	}
	if cpu.Value != 0.7 {
		t.Errorf("value %v, want 0.7: the repeat is ignored", cpu.Value)
	}
	for _, f := range cpu.Forecasts {
		if !finite(f.Value) {
			t.Errorf("forecast %+v is not finite", f)
		}
	}
}

func TestResultHoldsEverythingTheExporterPublishes(t *testing.T) {
	g := newTestGroup(t, nil)
	last := feed(t, g, CPU, t0, 240, time.Minute, func(i int) float64 { return 0.5 + 0.1*math.Sin(float64(i)/20) })
	r := g.Evaluate(last, GroupState{Current: 5, Min: 1, Max: 10})
	cpu := signalResult(t, r, CPU)
	if want := 3 * (len(Models()) + 1); len(cpu.Forecasts) != want {
		t.Errorf("%d forecasts, want %d (3 horizons x 4 models and auto)", len(cpu.Forecasts), want)
	}
	for i, e := range cpu.ErrorRatio {
		if math.IsNaN(e) || e < 0 || e > 2 {
			t.Errorf("error ratio at %v = %v, want a graded sMAPE in 0..2", r.Horizons[i], e)
		}
	}
	if cpu.Model == "" || len(cpu.Models) != 3 {
		t.Errorf("model %q models %v: want the auto choice per horizon", cpu.Model, cpu.Models)
	}
	if r.LeadTime != 3*time.Minute || len(r.Recommended) != 3 {
		t.Errorf("lead %v recommended %v", r.LeadTime, r.Recommended)
	}
	if cpu.Bytes <= 0 {
		t.Error("bytes per series not reported")
	}
}

func TestWarmStartMakesSeasonalForecastsUsefulAtOnce(t *testing.T) {
	g := newTestGroup(t, nil)
	daily := func(at time.Time) float64 {
		h := float64(at.Sub(t0)) / float64(time.Hour)
		return 0.5 + 0.3*math.Sin(2*math.Pi*h/24)
	}
	// Eight days of hourly history, then ten minutes of live samples.
	var times []time.Time
	var values []float64
	for at := t0; at.Before(t0.Add(8 * 24 * time.Hour)); at = at.Add(time.Hour) {
		times = append(times, at)
		values = append(values, daily(at.Add(30*time.Minute))) // the hour's mean sits at its middle
	}
	if err := g.WarmStart(CPU, times, values, time.Hour); err != nil {
		t.Fatal(err)
	}
	live := t0.Add(8 * 24 * time.Hour)
	var last time.Time
	for i := 0; i < 10; i++ {
		last = live.Add(time.Duration(i) * time.Minute)
		g.Observe(last, CPU, daily(last))
	}
	r := g.Evaluate(last, GroupState{Current: 5, Min: 1, Max: 10})
	cpu := signalResult(t, r, CPU)
	want := daily(last.Add(time.Hour))
	for _, m := range []Model{ModelHoltWinters, ModelSeasonalNaive} {
		if got := forecastOf(t, cpu, time.Hour, m); math.Abs(got-want) > 0.05 {
			t.Errorf("%s 1h forecast %v, want about %v", m, got, want)
		}
	}
	if err := g.WarmStart(CPU, times[:2], values[:1], time.Hour); err == nil {
		t.Error("mismatched lengths must be refused")
	}
	if err := g.WarmStart(CPU, []time.Time{t0, t0}, []float64{1, 2}, time.Hour); err == nil {
		t.Error("unsorted history must be refused")
	}
}

func TestSetParamsKeepsForecastsUnlessTheirSettingsChange(t *testing.T) {
	g := newTestGroup(t, nil)
	last := feed(t, g, CPU, t0, 120, time.Minute, func(int) float64 { return 0.85 })
	p := g.Params()
	p.Thresholds[CPU] = Threshold{Out: 0.8, In: 0.2}
	if err := g.SetParams(p); err != nil {
		t.Fatal(err)
	}
	cpu := signalResult(t, g.Evaluate(last, GroupState{Current: 2, Min: 1, Max: 4}), CPU)
	if !near(cpu.Score, 0.25) || len(cpu.Forecasts) == 0 {
		t.Errorf("score %v (want (0.85-0.8)/0.2 = 0.25) with %d forecasts kept", cpu.Score, len(cpu.Forecasts))
	}
	p.Thresholds[CPU] = Threshold{Out: 0.1, In: 0.2}
	if err := g.SetParams(p); err == nil {
		t.Error("invalid params must be refused")
	}
	p.Thresholds[CPU] = Threshold{Out: 0.8, In: 0.2}
	p.Forecast.LinearWindow = 2 * time.Hour
	if err := g.SetParams(p); err != nil {
		t.Fatal(err)
	}
	if cpu := signalResult(t, g.Evaluate(last, GroupState{Current: 2, Min: 1, Max: 4}), CPU); cpu.Fresh {
		t.Error("new forecast settings must start the forecasters again")
	}
}

func TestNewGroupCopiesTheCallersMaps(t *testing.T) {
	p := Defaults()
	g, err := NewGroup(p)
	if err != nil {
		t.Fatal(err)
	}
	p.Weights[CPU] = 0.9
	if g.Params().Weights[CPU] != 0.30 {
		t.Error("changing the caller's map changed the group")
	}
}
