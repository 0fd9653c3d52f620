package backtest

import (
	"context"
	"math"
	"testing"
)

// A demand doubling in one minute: the headroom policy sees it one minute
// late, so it needs k ≥ 2 to cover the jump, which a budget of the oracle's
// own cost cannot buy.
func TestHeadroomBoundSpendsTheBudgetOnHeadroom(t *testing.T) {
	demand := make([]float64, 20)
	for i := range demand {
		demand[i] = 1.8
		if i >= 10 {
			demand[i] = 3.6
		}
	}
	const oracle = 10*2 + 10*4 // ceil(d / 0.9) each minute
	for _, tc := range []struct {
		name       string
		budget     float64
		lag        int
		violations int
	}{
		{"no lag, no headroom needed", 1, 0, 0},
		{"one minute late at the oracle's cost misses the jump", 1, 1, 1},
		{"one minute late with twice the budget covers it", 2, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := headroomBound(demand, tc.budget*oracle, tc.lag, 0, 0.9, 1, 20, oracle)
			if r.ViolationMinutes != tc.violations {
				t.Errorf("violation minutes = %d, want %d (k %.3f, cost %.3f)", r.ViolationMinutes, tc.violations, r.Headroom, r.CostRatio)
			}
			if r.CostRatio > tc.budget+1e-9 {
				t.Errorf("cost %.3f× the oracle is over the budget %.3f", r.CostRatio, tc.budget)
			}
		})
	}
}

func TestRunBoundMeasuresAgainstTheReplayedOracle(t *testing.T) {
	tr := flashCrowd()
	b, err := RunBound(context.Background(), tr, 1.3, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rows) != 5 || b.OracleHours <= 0 || b.Minutes < 2 {
		t.Fatalf("bound = %+v", b)
	}
	for i, r := range b.Rows {
		if r.LagMinutes != i || r.CostRatio > 1.3+1e-9 || r.Headroom < 1 || math.IsNaN(r.Headroom) {
			t.Errorf("row %d = %+v", i, r)
		}
	}
	// Seeing the current minute covers it; a minute late, a sixfold jump
	// is more than 1.3× the oracle's cost buys.
	if v := b.Rows[0].ViolationMinutes; v != 0 {
		t.Errorf("lag 0 violates %d minutes, want 0", v)
	}
	if v := b.Rows[1].ViolationMinutes; v == 0 {
		t.Error("lag 1 covers a sixfold jump within 1.3× the oracle")
	}
	if _, err := RunBound(context.Background(), tr, 0.9, 0, Options{}); err == nil {
		t.Error("a budget under the oracle's cost was accepted")
	}
}

// A scale-in hold keeps the count through a dip shorter than the hold, and
// pays for it.
func TestHeadroomBoundHoldsScaleIn(t *testing.T) {
	var demand []float64
	for _, n := range []struct {
		d   float64
		len int
	}{{3.6, 5}, {1.8, 10}, {3.6, 5}} {
		for range n.len {
			demand = append(demand, n.d)
		}
	}
	// 4 instances for 10 minutes and 2 for 10: 60 instance-minutes at once,
	// 80 held through the dip.
	for _, tc := range []struct {
		hold     int
		budget   float64
		cost     float64
		headroom bool // k above 1 within the budget
	}{
		{0, 60, 60, false},
		{15, 60, 80, false}, // over the budget even without headroom
		{0, 80, 80, true},
		{15, 80, 80, false},
	} {
		r := headroomBound(demand, tc.budget, 0, tc.hold, 0.9, 1, 20, 1)
		if r.CostRatio != tc.cost || (r.Headroom > 1.01) != tc.headroom || r.ViolationMinutes != 0 {
			t.Errorf("hold %d within %g: %+v, want cost %g, headroom above 1 %v, no violations", tc.hold, tc.budget, r, tc.cost, tc.headroom)
		}
	}
}
