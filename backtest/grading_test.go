package backtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

func TestWorldHindsightReturnsTheReplayedMinutesOfTheLeadTime(t *testing.T) {
	h := newWorldHindsight(100)
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for m := 0; m < 5; m++ {
		h.record(t0.Add(time.Duration(m)*time.Minute), world.GroupState{Demand: float64(100 * m), InService: m})
	}
	// A decision 30s into minute 1 with a 2m lead time: minutes 2 and 3 followed it.
	got, _ := h.Aftermath(context.Background(), "web", t0.Add(90*time.Second), t0.Add(210*time.Second))
	if fmt.Sprint(got.Load, got.InService) != "[2 3] [2 3]" {
		t.Errorf("aftermath %v %v, want the load (demand over one instance's capacity) and in-service of minutes 2 and 3", got.Load, got.InService)
	}
}

func TestTheLiveActuatorsDecisionsAreGradedAgainstTheWorld(t *testing.T) {
	res, err := Run(context.Background(), handMade(), Policies(), Options{Rules: loadRules(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Policies() {
		f := res.Figures[p]
		live := p == PolicyTarget || p == PolicyPredictive
		if live && f.Effectiveness != nil {
			t.Logf("%s: %+v of %d applied", p, *f.Effectiveness, f.Decisions["applied"])
		}
		switch {
		case !live && f.Effectiveness != nil:
			t.Errorf("%s: scored %+v, but it makes no actuator decisions to grade", p, *f.Effectiveness)
		case live && (f.Effectiveness == nil || f.Effectiveness.Graded == 0):
			t.Errorf("%s: %d applied decisions, none graded", p, f.Decisions["applied"])
		case live && f.Effectiveness.Graded > f.Decisions["applied"]:
			t.Errorf("%s: %d graded of %d applied decisions", p, f.Effectiveness.Graded, f.Decisions["applied"])
		case live && (f.Effectiveness.Overall < 0 || f.Effectiveness.Overall > 1):
			t.Errorf("%s: overall score %v outside 0..1", p, f.Effectiveness.Overall)
		}
	}
}
