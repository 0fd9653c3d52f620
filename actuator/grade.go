package actuator

import "math"

// Grading a decision in hindsight (the seed's ThresholdOptimizer grades its
// past decisions): once the lead time after a decision has passed, what the
// load did says whether the decision was right. Pure functions: the caller
// brings what followed, from the backtest's world or from Prometheus.

// Judgement is a decision's grade: the verdict label of
// flexus_decisions_graded_total.
type Judgement string

// The verdicts.
const (
	// JudgedNeeded: a scale-out without which utilisation on the old count
	// would have crossed the SLO within the lead time.
	JudgedNeeded Judgement = "needed"
	// JudgedUnneeded: a scale-out the old count would have carried.
	JudgedUnneeded Judgement = "unneeded"
	// JudgedSafe: a scale-in followed by no violation within the lead time.
	JudgedSafe Judgement = "safe"
	// JudgedPremature: a scale-in followed by a violation within the lead time.
	JudgedPremature Judgement = "premature"
	// JudgedUngraded: nothing changed (refused, duplicate, dry run, noop,
	// failed), or nothing is known of what followed.
	JudgedUngraded Judgement = "ungraded"
)

// Good reports a verdict that speaks for the decision.
func (v Judgement) Good() bool { return v == JudgedNeeded || v == JudgedSafe }

// Aftermath is what followed a decision, one entry a minute (finer over a
// lead time of a few minutes) from the decision to the end of its lead time.
type Aftermath struct {
	// Load is the offered load in instances at 100% utilisation.
	Load []float64 `json:"load"`
	// InService is the instances serving in the same minute.
	InService []int `json:"in_service"`
}

// Grade judges one decision: from and to are the desired counts before and
// after, maxUtilization the SLO's (the backtest's 0.9).
func Judge(action Action, outcome string, from, to int, after Aftermath, maxUtilization float64) Judgement {
	if outcome != OutcomeApplied || from == to || len(after.Load) == 0 || maxUtilization <= 0 {
		return JudgedUngraded
	}
	switch {
	case action == ScaleOut && to > from:
		for _, l := range after.Load {
			if overloaded(l, from, maxUtilization) {
				return JudgedNeeded
			}
		}
		return JudgedUnneeded
	case action == ScaleIn && to < from:
		for i, l := range after.Load {
			if i < len(after.InService) && overloaded(l, after.InService[i], maxUtilization) {
				return JudgedPremature
			}
		}
		return JudgedSafe
	}
	return JudgedUngraded
}

func overloaded(load float64, instances int, maxUtilization float64) bool {
	if instances <= 0 {
		return load > 0
	}
	return load/float64(instances) > maxUtilization
}

// Graded is a graded decision with what followed it.
type Graded struct {
	Action    Action
	Judgement Judgement
	After     Aftermath
}

// Effectiveness is the seed's score of a run of decisions, each part in 0..1.
type Effectiveness struct {
	// Accuracy is the share of graded decisions with a good verdict.
	Accuracy float64 `json:"accuracy"`
	// CostEfficiency is the mean utilisation after the decisions against
	// the target, capped at 1: capacity that was paid for and used.
	CostEfficiency float64 `json:"cost_efficiency"`
	// ResponseSpeed is the share of minutes after the needed scale-outs in
	// which the serving instances carried the load within the SLO.
	ResponseSpeed float64 `json:"response_speed"`
	// Overall is 0.4 accuracy + 0.3 cost efficiency + 0.3 response speed.
	Overall float64 `json:"overall"`
	Graded  int     `json:"graded"`
}

// Score is the seed's effectiveness of the graded decisions; ungraded ones
// are left out. With no needed scale-out, response speed is 1 (nothing
// needed speed).
func Score(ds []Graded, target, maxUtilization float64) Effectiveness {
	var e Effectiveness
	var good, utilSum float64
	var utilN, okMin, minutes int
	for _, d := range ds {
		if d.Judgement == JudgedUngraded {
			continue
		}
		e.Graded++
		if d.Judgement.Good() {
			good++
		}
		for i, l := range d.After.Load {
			if i >= len(d.After.InService) || d.After.InService[i] <= 0 {
				continue
			}
			u := l / float64(d.After.InService[i])
			if target > 0 {
				utilSum += math.Min(1, u/target)
				utilN++
			}
			if d.Judgement == JudgedNeeded {
				minutes++
				if u <= maxUtilization {
					okMin++
				}
			}
		}
	}
	if e.Graded == 0 {
		return e
	}
	e.Accuracy = good / float64(e.Graded)
	if utilN > 0 {
		e.CostEfficiency = utilSum / float64(utilN)
	}
	e.ResponseSpeed = 1
	if minutes > 0 {
		e.ResponseSpeed = float64(okMin) / float64(minutes)
	}
	e.Overall = 0.4*e.Accuracy + 0.3*e.CostEfficiency + 0.3*e.ResponseSpeed
	return e
}
