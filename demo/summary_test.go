package demo

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"
)

// story is a recorded run: calm, a spike at 60s, a scale-out 2→5 decided at
// 100s (its alert fired at 98.5s), capacity in service at 130s, load falling
// at 160s and a scale-in 5→2 at 220s.
func story() Snapshot {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	s := Snapshot{Start: t0, End: at(300), Groups: []string{"web"}, Samples: map[string][]Sample{},
		Phases: []PhaseMark{{PhaseCalm, at(0)}, {PhaseSpike, at(60)}, {PhaseAfter, at(160)}}}
	for sec := 0.0; sec <= 300; sec += 10 {
		st := GroupState{Name: "web", Min: 0, Max: 12, Desired: 2, InService: 2, Current: 2, Demand: 90, Capacity: 200, ResponseTimeSeconds: 0.15}
		switch {
		case sec >= 220:
			st.Desired, st.InService, st.Current = 2, 2, 2
		case sec >= 130:
			st.Desired, st.InService, st.Current = 5, 5, 5
		case sec >= 100:
			st.Desired, st.InService, st.Current, st.Pending = 5, 2, 5, 3
		}
		if sec >= 60 && sec < 160 {
			st.Demand = 270
		}
		if sec >= 70 && sec < 130 {
			st.ResponseTimeSeconds = 2.5 // overloaded until capacity arrives
		}
		st.Utilization = st.Demand / math.Max(1, float64(st.InService)*100)
		st.CostInstanceSeconds = 2 * sec
		s.Samples["web"] = append(s.Samples["web"], Sample{T: at(sec), State: st, Score: 0, Forecast: 0.5, Recommended: float64(st.Desired)})
	}
	s.Fires = []AlertFire{
		{Name: "FlexusScaleOut", Group: "web", Action: "scale_out", ActiveAt: at(92.5), FiredAt: at(98.5)},
		{Name: "FlexusScaleIn", Group: "web", Action: "scale_in", ActiveAt: at(187), FiredAt: at(217)},
	}
	s.Decisions = []Decision{
		{Time: at(100), Group: "web", Action: "scale_out", Outcome: "applied", From: 2, Requested: 5, To: 5, Grade: &Grade{Verdict: "needed"}},
		{Time: at(105), Group: "web", Action: "scale_out", Outcome: "refused", Reason: "cooldown", From: 5, Requested: 6, To: 5},
		{Time: at(220), Group: "web", Action: "scale_in", Outcome: "applied", From: 5, Requested: 2, To: 2, Grade: &Grade{Verdict: "pending"}},
	}
	return s
}

func TestSummarize(t *testing.T) {
	sum := Summarize(story(), time.Second, map[string]Bounds{"web": {2, 10}})
	if len(sum.Groups) != 1 {
		t.Fatalf("%d groups", len(sum.Groups))
	}
	g := sum.Groups[0]
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"applied scale-outs are counted", g.ScaleOuts, 1},
		{"applied scale-ins are counted", g.ScaleIns, 1},
		{"refusals are counted apart", g.Refused, 1},
		{"spike to scale-out is from the spike's start to the decision", g.SpikeToRequest, 40 * time.Second},
		{"spike to capacity is until the target is in service", g.SpikeToCapacity, 70 * time.Second},
		{"alert to decision is from each firing to the first decision after it", g.AlertToAction, []time.Duration{1500 * time.Millisecond, 3 * time.Second}},
		{"bounds are the actuator's, not the cloud's", [2]int{g.BoundMin, g.BoundMax}, [2]int{2, 10}},
		{"instance-hours come from simcloud's billing", g.InstanceHours, 600.0 / 3600},
		{"minutes over the SLO add up sampled intervals", g.MinutesOverSLO, 1.0},
		{"the highest count seen is the desired or existing one", g.MaxSeen, 5},
		{"the lowest count seen", g.MinSeen, 2},
		{"graded decisions are counted by verdict", g.Verdicts["needed"], 1},
		{"a decision whose lead time had not passed is pending, not graded", [2]int{len(g.Verdicts), g.GradePending}, [2]int{1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !equal(c.got, c.want) {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
	var b bytes.Buffer
	sum.Write(&b)
	for _, want := range []string{"1 scale-out, 1 scale-in", "load spike → scale-out 40s", "load spike → capacity  1m10s", "0.167 instance-hours",
		"graded in hindsight    needed 1 (accuracy 100%); 1 pending"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSummarizeWithoutScaleOutSaysSo(t *testing.T) {
	s := story()
	s.Decisions = nil
	g := Summarize(s, time.Second, nil).Groups[0]
	if g.SpikeToRequest >= 0 || g.SpikeToCapacity >= 0 {
		t.Errorf("no decision, yet spike→request %s and spike→capacity %s", g.SpikeToRequest, g.SpikeToCapacity)
	}
	var b bytes.Buffer
	Summarize(s, time.Second, nil).Write(&b)
	if !strings.Contains(b.String(), "did not happen") {
		t.Errorf("summary hides the missing scale-out:\n%s", b.String())
	}
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		return math.Abs(x-b.(float64)) < 1e-9
	case []time.Duration:
		y := b.([]time.Duration)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestReport(t *testing.T) {
	s := story()
	var b bytes.Buffer
	if err := WriteReport(&b, s, Summarize(s, time.Second, nil)); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, "<svg"); n != 6 {
		t.Errorf("%d plots in the report, want 6 for one group", n)
	}
	for _, want := range []string{"Group web", "scale_out", "FlexusScaleOut", "load spike", "Demand and capacity", "<td>needed</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	var p bytes.Buffer
	if err := WritePNG(&p, s, time.Second); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&p)
	if err != nil {
		t.Fatalf("the picture is not a PNG: %v", err)
	}
	if img.Bounds().Dx() < 800 {
		t.Errorf("picture %v is too small to read", img.Bounds())
	}
}

func TestViewShowsGroupsDecisionsAndPhase(t *testing.T) {
	s := story()
	var b bytes.Buffer
	v := View{W: &b, Scenario: SpikeScenario(5*time.Minute, 3), Links: Links{Prometheus: "http://127.0.0.1:1"}}
	v.Draw(s, s.Start.Add(90*time.Second))
	out := b.String()
	for _, want := range []string{"1:30 / 5:00", "phase 2/3: load spike", "web", "scale_out", "refused", "cooldown"} {
		if !strings.Contains(out, want) {
			t.Errorf("view lacks %q:\n%s", want, out)
		}
	}
}

func TestViewShowsEachDecisionsGrade(t *testing.T) {
	s := story()
	var b bytes.Buffer
	v := View{W: &b, Scenario: SpikeScenario(5*time.Minute, 3)}
	v.Draw(s, s.Start.Add(5*time.Minute))
	out := b.String()
	for _, want := range []string{"2→5", "[graded: needed]", "5→2", "[graded: pending]"} {
		if !strings.Contains(out, want) {
			t.Errorf("view lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "[graded:"); n != 2 {
		t.Errorf("%d grades shown, want 2 (refused decisions have none):\n%s", n, out)
	}
}

func TestFiredAtIsTheFirstEvaluationAfterTheHold(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name       string
		hold, eval time.Duration
		want       time.Duration
	}{
		{"a 6s hold with 5s evaluations fires on the third evaluation", 6 * time.Second, 5 * time.Second, 10 * time.Second},
		{"a hold of whole intervals fires on time", 30 * time.Second, 5 * time.Second, 30 * time.Second},
		{"without a hold it fires at once", 0, 5 * time.Second, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := firedAt(t0, c.hold, c.eval).Sub(t0); got != c.want {
				t.Errorf("fired after %s, want %s", got, c.want)
			}
		})
	}
}

func TestViewAfterTheLastPhaseNamesItDoneWithItsDemand(t *testing.T) {
	s := story()
	var b bytes.Buffer
	v := View{W: &b, Scenario: SpikeScenario(5*time.Minute, 3)}
	v.Draw(s, s.Start.Add(5*time.Minute+2*time.Second))
	out := b.String()
	if !strings.Contains(out, "phase 3/3: calm again, done (demand ×1.0)") || strings.Contains(out, "phase 0/") {
		t.Errorf("final frame does not name the last phase as done:\n%s", out)
	}
}

func TestViewOnATerminalPrintsTheCurlLineForDecisions(t *testing.T) {
	var b bytes.Buffer
	v := View{W: &b, TTY: true, Scenario: SpikeScenario(5*time.Minute, 3),
		Links: Links{Actuator: "http://127.0.0.1:9848", ActuatorToken: "s3cret"}}
	v.Draw(story(), story().Start)
	if want := `curl -H "Authorization: Bearer s3cret" http://127.0.0.1:9848/api/v1/decisions`; !strings.Contains(b.String(), want) {
		t.Errorf("view lacks %q:\n%s", want, b.String())
	}
}

func TestDecisionWhyNamesTheRefusingGuardOnce(t *testing.T) {
	var d Decision
	line := `{"outcome":"refused","reason":"cooldown","from":6,"requested":3,"to":6,` +
		`"guards":[{"guard":"bounds","pass":true,"detail":"2..12"},{"guard":"cooldown","pass":false,"detail":"17s left"}]}`
	if err := json.Unmarshal([]byte(line), &d); err != nil {
		t.Fatal(err)
	}
	if got, want := d.Why(), "cooldown: 17s left"; got != want {
		t.Errorf("Why() = %q, want %q", got, want)
	}
}
