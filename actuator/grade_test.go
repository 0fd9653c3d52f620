package actuator

import (
	"math"
	"testing"
)

func TestGrade(t *testing.T) {
	const slo = 0.9
	steady := func(load float64, n int, minutes int) Aftermath {
		var a Aftermath
		for range minutes {
			a.Load = append(a.Load, load)
			a.InService = append(a.InService, n)
		}
		return a
	}
	for _, tc := range []struct {
		name     string
		action   Action
		outcome  string
		from, to int
		after    Aftermath
		want     Judgement
	}{
		{"a scale-out was needed when the old count would have run above the SLO", ScaleOut, OutcomeApplied, 4, 6, steady(3.8, 6, 5), JudgedNeeded},
		{"a scale-out was not needed when the old count carried the load", ScaleOut, OutcomeApplied, 4, 6, steady(3.0, 6, 5), JudgedUnneeded},
		{"one overloaded minute is enough to need the scale-out", ScaleOut, OutcomeApplied, 4, 6, Aftermath{Load: []float64{2, 2, 3.7, 2}, InService: []int{4, 4, 6, 6}}, JudgedNeeded},
		{"a scale-in was safe when no violation followed", ScaleIn, OutcomeApplied, 6, 4, steady(3.0, 4, 5), JudgedSafe},
		{"a scale-in was premature when the serving count ran above the SLO", ScaleIn, OutcomeApplied, 6, 4, Aftermath{Load: []float64{3, 3.8}, InService: []int{5, 4}}, JudgedPremature},
		{"a scale-in that left nothing serving under load was premature", ScaleIn, OutcomeApplied, 1, 0, Aftermath{Load: []float64{0.5}, InService: []int{0}}, JudgedPremature},
		{"a refused decision is not graded", ScaleOut, OutcomeRefused, 4, 6, steady(3.8, 4, 5), JudgedUngraded},
		{"a dry run is not graded", ScaleIn, OutcomeDryRun, 6, 4, steady(1, 6, 5), JudgedUngraded},
		{"without what followed there is no grade", ScaleOut, OutcomeApplied, 4, 6, Aftermath{}, JudgedUngraded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Judge(tc.action, tc.outcome, tc.from, tc.to, tc.after, slo); got != tc.want {
				t.Fatalf("Judge = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestScoreWeighsAccuracyCostAndSpeedAsTheSeed(t *testing.T) {
	ds := []Graded{
		// Needed, and the new count kept within the SLO half the time: speed 0.5.
		{ScaleOut, JudgedNeeded, Aftermath{Load: []float64{5.4, 3}, InService: []int{5, 5}}},
		// Safe scale-in at exactly the target: cost efficiency 1 for its minutes.
		{ScaleIn, JudgedSafe, Aftermath{Load: []float64{3, 3}, InService: []int{5, 5}}},
		// Unneeded scale-out: wrong.
		{ScaleOut, JudgedUnneeded, Aftermath{Load: []float64{1.5, 1.5}, InService: []int{5, 5}}},
		{ScaleOut, JudgedUngraded, Aftermath{Load: []float64{100}, InService: []int{1}}},
	}
	e := Score(ds, 0.6, 0.9)
	if e.Graded != 3 || math.Abs(e.Accuracy-2.0/3) > 1e-9 || math.Abs(e.ResponseSpeed-0.5) > 1e-9 {
		t.Fatalf("graded %d, accuracy %g, speed %g; want 3, 2/3, 0.5", e.Graded, e.Accuracy, e.ResponseSpeed)
	}
	// Utilisation against the 0.6 target: 1 (capped), 1, 1, 1, 0.5, 0.5.
	if want := 5.0 / 6; math.Abs(e.CostEfficiency-want) > 1e-9 {
		t.Fatalf("cost efficiency %g, want %g", e.CostEfficiency, want)
	}
	if want := 0.4*e.Accuracy + 0.3*e.CostEfficiency + 0.3*e.ResponseSpeed; math.Abs(e.Overall-want) > 1e-12 {
		t.Fatalf("overall %g, want 0.4/0.3/0.3 of the parts %g", e.Overall, want)
	}
	if none := Score(nil, 0.6, 0.9); none.Graded != 0 || none.Overall != 0 {
		t.Fatalf("no decisions should score nothing, got %+v", none)
	}
}
