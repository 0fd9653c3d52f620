package backtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestFrontierKeepsOnlyUndominatedPointsOfEachPolicy(t *testing.T) {
	pts := []SweepPoint{
		{Policy: PolicyPredictive, Value: 0.5, InstanceHours: 10, ViolationMinutes: 50},
		{Policy: PolicyPredictive, Value: 0.9, InstanceHours: 12, ViolationMinutes: 10},
		{Policy: PolicyPredictive, Value: 0.95, InstanceHours: 13, ViolationMinutes: 10}, // dearer, no fewer violations
		{Policy: PolicyTarget, Value: 0.6, InstanceHours: 11, ViolationMinutes: 60},      // another policy: judged apart
		{Policy: PolicyTarget, Value: 0.5, InstanceHours: 14, ViolationMinutes: 60},      // dominated by 0.6
	}
	markFrontier(pts)
	want := []bool{true, true, false, true, false}
	for i, p := range pts {
		if p.Frontier != want[i] {
			t.Errorf("%s at %g: frontier %v, want %v", p.Policy, p.Value, p.Frontier, want[i])
		}
	}
}

func TestSweepRunsEachKnobAndChangesOnlyThatKnob(t *testing.T) {
	opts := Options{Rules: loadRules(t)}
	sw := Sweep{Risks: []float64{0.5, 0.99}, Targets: []float64{0.4, 0.8}}
	res, err := RunSweep(context.Background(), handMade(), sw, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Points) != 4 || res.Oracle == nil {
		t.Fatalf("want 4 points and the oracle, got %d points, oracle %v", len(res.Points), res.Oracle)
	}
	byValue := map[float64]SweepPoint{}
	for _, p := range res.Points {
		byValue[p.Value] = p
	}
	if byValue[0.4].InstanceHours <= byValue[0.8].InstanceHours {
		t.Errorf("target at 0.4 (%.1f h) must cost more than at 0.8 (%.1f h)", byValue[0.4].InstanceHours, byValue[0.8].InstanceHours)
	}
	if byValue[0.99].InstanceHours < byValue[0.5].InstanceHours {
		t.Errorf("predictive at risk 0.99 (%.1f h) must not cost less than at 0.5 (%.1f h)", byValue[0.99].InstanceHours, byValue[0.5].InstanceHours)
	}
	var page bytes.Buffer
	if err := res.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "predictive frontier", "target frontier", "oracle"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the sweep page lacks %q", want)
		}
	}
	if _, err := RunSweep(context.Background(), handMade(), Sweep{Risks: []float64{1.5}}, opts); err == nil {
		t.Error("a risk outside [0.5, 0.999] must be refused")
	}
}
