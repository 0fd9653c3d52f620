package backtest

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

func loadRules(t testing.TB) *Rules {
	t.Helper()
	r, err := LoadRules("../rules", RuleOptions{ActionOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// handMade is a 4-hour trace: quiet, a climb to the peak, a plateau, a fall.
func handMade() trace.Series {
	vals := []float64{}
	for i := range 48 { // 5-minute steps
		switch {
		case i < 6:
			vals = append(vals, 20)
		case i < 18:
			vals = append(vals, 20+float64(i-5)*80.0/12)
		case i < 30:
			vals = append(vals, 100)
		default:
			vals = append(vals, math.Max(10, 100-float64(i-29)*15))
		}
	}
	return trace.Series{Name: "hand-made", Start: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC), Step: 5 * time.Minute, Values: vals}
}

// TestSeedFollowsTheArticleStepByStep recomputes every check of the seed
// loop with the article's own formulas, in its own units (percent, ms).
func TestSeedFollowsTheArticleStepByStep(t *testing.T) {
	var log []SeedCheck
	if _, err := Run(context.Background(), handMade(), []Policy{PolicySeed}, Options{SeedLog: &log}); err != nil {
		t.Fatal(err)
	}
	if len(log) < 200 {
		t.Fatalf("only %d checks logged", len(log))
	}
	score := func(v, out, in, outSpan, inSpan float64) float64 {
		switch {
		case v > out:
			return math.Min((v-out)/outSpan, 1)
		case v < in:
			return math.Max((v-in)/inSpan, -1)
		}
		return 0
	}
	var cpuHist []float64
	var last time.Time
	outs, ins, refused := 0, 0, 0
	for i, c := range log {
		cpu := c.Signals["cpu"] * 100
		mem := c.Signals["memory"] * 100
		rt := c.Signals["response_time"] * 1000
		q := c.Signals["queue"]
		s := 0.25 * score(rt, 2000, 500, 3000, 500)
		// Cloud Eye publishes its first point two minutes in: until then
		// CPU and memory are absent and score nothing.
		if _, published := c.Signals["cpu"]; published {
			cpuHist = append(cpuHist, cpu)
			s += 0.30*score(cpu, 70, 30, 30, 30) + 0.25*score(mem, 80, 40, 20, 40)
		}
		qs := 0.0
		switch {
		case q > 100:
			qs = math.Min(q/200, 1)
		case q < 50:
			qs = math.Max((q-50)/50, -1)
		}
		s += 0.15 * qs
		trend := 0.0
		if len(cpuHist) >= 10 {
			w := cpuHist[len(cpuHist)-10:]
			var sx, sy, sxy, sxx float64
			for k, y := range w {
				x := float64(k)
				sx, sy, sxy, sxx = sx+x, sy+y, sxy+x*y, sxx+x*x
			}
			slope := (10*sxy - sx*sy) / (10*sxx - sx*sx)
			trend = math.Tanh(slope / 10)
		}
		s += 0.05 * trend
		if math.Abs(s-c.Composite) > 1e-6 { // float rounding of the least-squares sums
			t.Fatalf("check %d at %s: composite %.12f, the article gives %.12f (cpu %.1f%% mem %.1f%% rt %.0fms q %.0f)", i, c.At, c.Composite, s, cpu, mem, rt, q)
		}
		n := c.InService
		want := n
		switch {
		case s > 0.3:
			want = min(n+max(1, int(float64(n)*s*0.5)), 20)
		case s < -0.3:
			want = max(n-max(1, int(float64(n)*math.Abs(s)*0.3)), 1)
		}
		if c.Recommend != want {
			t.Fatalf("check %d at %s: recommended %d with n=%d score %.3f, the article gives %d", i, c.At, c.Recommend, n, s, want)
		}
		applies := want != c.Desired && (last.IsZero() || c.At.Sub(last) >= 300*time.Second)
		if c.Applied != applies {
			t.Fatalf("check %d at %s: applied=%v, the article's 300 s cooldown says %v", i, c.At, c.Applied, applies)
		}
		if c.Applied {
			last = c.At
			if want > c.Desired {
				outs++
			} else {
				ins++
			}
		} else if want != c.Desired {
			refused++
		}
	}
	if outs == 0 || ins == 0 || refused == 0 {
		t.Fatalf("the hand-made trace must exercise scale-out (%d), scale-in (%d) and the cooldown (%d)", outs, ins, refused)
	}
}

func TestOracleIsNeverBeatenOnCostWithoutViolations(t *testing.T) {
	rules := loadRules(t)
	real, err := trace.Load("testdata/elb_2days.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []trace.Series{handMade(), diurnal(1, 5*time.Minute), real} {
		t.Run(tr.Name, func(t *testing.T) {
			res, err := Run(context.Background(), tr, Policies(), Options{Rules: rules})
			if err != nil {
				t.Fatal(err)
			}
			o := res.Figures[PolicyOracle]
			if o.ViolationMinutes != 0 {
				t.Fatalf("oracle broke the SLO for %d minutes", o.ViolationMinutes)
			}
			for _, p := range Policies() {
				f := res.Figures[p]
				if f.ViolationMinutes == 0 && f.InstanceHours < o.InstanceHours-1e-9 {
					t.Errorf("%s: %.3f instance-hours without violations, below the oracle's %.3f", p, f.InstanceHours, o.InstanceHours)
				}
			}
			if f := res.Figures[PolicyStaticPeak]; f.ViolationMinutes != 0 || f.ScalingActions != 0 {
				t.Errorf("static-peak: %d violation minutes, %d actions; want none", f.ViolationMinutes, f.ScalingActions)
			}
		})
	}
}

func TestSameTraceSameOutput(t *testing.T) {
	rules := loadRules(t)
	tr := handMade()
	var outs [2]string
	for i := range outs {
		res, err := Run(context.Background(), tr, Policies(), Options{Rules: rules, KeepSeries: true})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := res.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if err := res.WriteHTML(&b); err != nil {
			t.Fatal(err)
		}
		outs[i] = b.String()
	}
	if outs[0] != outs[1] {
		t.Fatal("two runs over the same trace gave different output")
	}
}

// TestShortRealTrace is the CI run: two days of a real load balancer trace
// through every policy, the project's rules and the actuator's guards.
func TestShortRealTrace(t *testing.T) {
	tr, err := LoadTrace("testdata/elb_2days.csv", "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), tr, Policies(), Options{Rules: loadRules(t), KeepSeries: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Policy{PolicyTarget, PolicyPredictive} {
		f := res.Figures[p]
		if f.ScalingActions == 0 || f.Notifications == 0 || f.Decisions["applied"] == 0 {
			t.Errorf("%s never scaled through the pipeline: %+v", p, *f)
		}
		if f.InstanceHours >= res.Figures[PolicyStaticPeak].InstanceHours {
			t.Errorf("%s cost %.1f instance-hours, no less than static-peak's %.1f", p, f.InstanceHours, res.Figures[PolicyStaticPeak].InstanceHours)
		}
	}
	var b bytes.Buffer
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, p := range Policies() {
		if !strings.Contains(b.String(), string(p)) {
			t.Errorf("text table lacks %s:\n%s", p, b.String())
		}
	}
	t.Log("\n" + b.String())
}

func TestBadTracesAreRefusedWithTheLine(t *testing.T) {
	cases := map[string]string{
		"unsorted":   "line 4",
		"duplicate":  "line 4",
		"nonnumeric": "line 3",
		"empty":      "empty file",
		"gap":        "line 5",
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadTrace("testdata/bad/"+name+".csv", "")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to say %q", err, want)
			}
		})
	}
	short := trace.Series{Name: "one", Start: time.Unix(0, 0), Step: time.Minute, Values: []float64{1}}
	if _, err := Run(context.Background(), short, Policies(), Options{}); err == nil {
		t.Fatal("a one-sample trace was replayed")
	}
	if _, err := Run(context.Background(), handMade(), []Policy{PolicyTarget}, Options{}); err == nil || !strings.Contains(err.Error(), "--rules") {
		t.Fatalf("target without rules: err = %v, want a hint at --rules", err)
	}
}

func TestTunedConfigSetsItsTargets(t *testing.T) {
	c, err := config.Load("testdata/tuned.yml")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := c.Group("backtest")
	p := g.ScoringParams(c.Exporter)
	if p.Targets["cpu"] != 0.75 || p.Targets["queue"] != 100 || p.Weights["cpu"] != 0.30 {
		t.Fatalf("targets %v weights %v: want cpu 0.75, queue 100 and the seed's weights", p.Targets, p.Weights)
	}
}

func TestStoreHoldsOnlyTheLookbackTheRulesNeed(t *testing.T) {
	rules := loadRules(t)
	opts, err := Options{Rules: rules}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	tr := diurnal(2, 5*time.Minute)
	g, _ := opts.Config.Group(opts.Group)
	steps := int(tr.End().Sub(tr.Start) / stepOf)
	r, err := newRunner(tr, PolicyPredictive, g, opts, newDemandCurve(tr, 600), steps)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if err := r.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, list := range r.store.byHash {
		series += len(list)
	}
	// Truncation runs every 16 steps, so up to 16 minutes beyond the retention.
	perSeries := int(rules.Retention/stepOf) + 16 + 1
	if n := r.store.samples(); n > series*perSeries || series > 100 {
		t.Fatalf("after %d minutes the store holds %d samples in %d series; want at most %d per series and under a hundred series", steps, n, series, perSeries)
	}
}
