package advisor

import (
	"fmt"
	"math"

	"github.com/flexus-autoscaler/flexus/scoring"
)

// Signal is a signal the advisor tunes; the names match the `signal` label of docs/metrics.md.
type Signal string

// The tuned signals, named after scoring's table.
const (
	CPU          = Signal(scoring.CPU)          // ratio 0..1
	Memory       = Signal(scoring.Memory)       // ratio 0..1
	ResponseTime = Signal(scoring.ResponseTime) // seconds
	Queue        = Signal(scoring.Queue)        // items
)

// Signals lists the tuned signals (those scoring.SignalTable marks Tuned) in a fixed order.
func Signals() []Signal {
	var out []Signal
	for _, r := range scoring.SignalTable() {
		if r.Tuned {
			out = append(out, Signal(r.Signal))
		}
	}
	return out
}

// Direction is the `direction` label: out for scale-out thresholds, in for scale-in.
type Direction string

const (
	Out Direction = "out"
	In  Direction = "in"
)

// Band is a signal's pair of thresholds in its base unit: scale out above Out, scale in below In.
type Band struct {
	Out float64
	In  float64
}

// Settings are the thresholds and weights the scoring uses for one group, keyed by the
// `signal` label. The advisor tunes the four Signals(); it copies any other entry and
// TrendWeight unchanged, and keeps the total weight of the four as it was.
type Settings struct {
	Thresholds  map[Signal]Band
	Weights     map[Signal]float64
	TrendWeight float64
}

// SeedSettings are the seed article's defaults (scoring.SignalTable) in base
// units, for the tuned signals.
func SeedSettings() Settings {
	out := Settings{
		Thresholds:  map[Signal]Band{},
		Weights:     map[Signal]float64{},
		TrendWeight: scoring.DefaultTrendWeight,
	}
	for _, r := range scoring.SignalTable() {
		if r.Tuned {
			out.Thresholds[Signal(r.Signal)] = Band{Out: r.Threshold.Out, In: r.Threshold.In}
			out.Weights[Signal(r.Signal)] = r.Weight
		}
	}
	return out
}

// Range is a closed interval a threshold is clamped into.
type Range = scoring.Range

// Guardrail bounds one signal's thresholds (see scoring.Guardrail).
type Guardrail = scoring.Guardrail

// Guardrails are DESIGN.md's advisor bounds in base units, from scoring's
// table. They are not configurable on purpose: a config cannot widen what a
// model may set.
func Guardrails() map[Signal]Guardrail {
	out := map[Signal]Guardrail{}
	for _, r := range scoring.SignalTable() {
		if r.Tuned {
			out[Signal(r.Signal)] = r.Guardrail
		}
	}
	return out
}

// Reason says why a proposal was rejected or changed; it is the `reason` label of
// flexus_advisor_rejected_proposals_total.
type Reason string

const (
	// Rejections: the whole proposal is dropped and the last good one stays.
	ReasonEmptyAnswer     Reason = "empty_answer"
	ReasonNotJSON         Reason = "not_json"
	ReasonTextAroundJSON  Reason = "text_around_json"
	ReasonWrongType       Reason = "wrong_type"
	ReasonUnknownField    Reason = "unknown_field"
	ReasonMissingField    Reason = "missing_field"
	ReasonNonFinite       Reason = "non_finite"
	ReasonOutOfDomain     Reason = "out_of_domain"
	ReasonOutNotAboveIn   Reason = "scale_out_not_above_scale_in"
	ReasonNegativeWeight  Reason = "negative_weight"
	ReasonZeroWeights     Reason = "zero_weights"
	ReasonDuplicateKey    Reason = "duplicate_key"
	ReasonWeightsAboveOne Reason = "weights_above_one"
	// Adjustments: the proposal is kept, changed as stated.
	ReasonClampedHigh       Reason = "threshold_above_guardrail"
	ReasonClampedLow        Reason = "threshold_below_guardrail"
	ReasonWeightsNormalised Reason = "weights_normalised"
	// In mode apply: a change held back by min_change_interval.
	ReasonRateLimited Reason = "rate_limited"
	// Replayed over the group's history, worse than the settings in force on
	// both cost and SLO minutes (check.go).
	ReasonWorseOnHistory Reason = "worse_on_history"
)

// Reasons lists every reason, so the counter starts at 0 for each.
func Reasons() []Reason {
	return []Reason{
		ReasonEmptyAnswer, ReasonNotJSON, ReasonTextAroundJSON, ReasonWrongType, ReasonUnknownField,
		ReasonMissingField, ReasonNonFinite, ReasonOutOfDomain, ReasonOutNotAboveIn,
		ReasonNegativeWeight, ReasonZeroWeights, ReasonDuplicateKey, ReasonWeightsAboveOne,
		ReasonClampedHigh, ReasonClampedLow, ReasonWeightsNormalised, ReasonRateLimited, ReasonWorseOnHistory,
	}
}

// RejectedError is returned for a proposal that was dropped.
type RejectedError struct {
	Reason Reason
	Detail string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("advisor: proposal rejected (%s): %s", e.Reason, e.Detail)
}

func reject(r Reason, format string, args ...any) error {
	return &RejectedError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Adjustment records one change the guardrails made to an accepted proposal.
type Adjustment struct {
	Reason    Reason
	Signal    Signal    // empty for weights_normalised
	Direction Direction // empty for weights
	From, To  float64
}

// weightTolerance is how far the proposed weights may miss their sum before it counts as an adjustment.
const weightTolerance = 0.01

// applyGuardrails turns a parsed answer into Settings: reject what is malformed or
// contradictory, clamp what is merely too bold, normalise the weights to the total the
// enabled tuned signals hold now. Signals the advisor does not tune or that are disabled,
// and the trend weight, are copied from current unchanged, so the result can replace
// current as a whole; a result the scoring would refuse is rejected.
func applyGuardrails(a answer, current Settings, enabled []Signal) (Settings, []Adjustment, error) {
	rails := Guardrails()
	out := current.clone()
	if out.Thresholds == nil {
		out.Thresholds = make(map[Signal]Band, 4)
	}
	if out.Weights == nil {
		out.Weights = make(map[Signal]float64, 4)
	}
	var adj []Adjustment
	for _, s := range enabled {
		b := a.band(s)
		g := rails[s]
		for _, v := range []struct {
			d Direction
			x float64
		}{{Out, b.Out}, {In, b.In}} {
			if math.IsNaN(v.x) || math.IsInf(v.x, 0) {
				return Settings{}, nil, reject(ReasonNonFinite, "%s scale_%s is %v", s, v.d, v.x)
			}
			if v.x < g.Domain.Min || v.x > g.Domain.Max {
				return Settings{}, nil, reject(ReasonOutOfDomain, "%s scale_%s %g is outside [%g, %g] of its base unit", s, v.d, v.x, g.Domain.Min, g.Domain.Max)
			}
		}
		if b.Out <= b.In {
			return Settings{}, nil, reject(ReasonOutNotAboveIn, "%s scale_out %g is not above scale_in %g", s, b.Out, b.In)
		}
		clamped := Band{Out: clamp(b.Out, g.Out, s, Out, &adj), In: clamp(b.In, g.In, s, In, &adj)}
		if clamped.Out <= clamped.In {
			return Settings{}, nil, reject(ReasonOutNotAboveIn, "%s scale_out %g is not above scale_in %g after clamping", s, clamped.Out, clamped.In)
		}
		out.Thresholds[s] = clamped
	}

	target := tunedWeightTotal(current)
	sum := 0.0
	for _, s := range enabled {
		w := a.weight(s)
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return Settings{}, nil, reject(ReasonNonFinite, "weight of %s is %v", s, w)
		}
		if w < 0 {
			return Settings{}, nil, reject(ReasonNegativeWeight, "weight of %s is %g", s, w)
		}
		sum += w
	}
	if math.IsInf(sum, 0) {
		return Settings{}, nil, reject(ReasonNonFinite, "weights sum to %g", sum)
	}
	if sum <= 0 {
		return Settings{}, nil, reject(ReasonZeroWeights, "weights sum to %g: give at least one signal a weight", sum)
	}
	for _, s := range enabled {
		out.Weights[s] = a.weight(s) / sum * target
	}
	if math.Abs(sum-target) > weightTolerance {
		adj = append(adj, Adjustment{Reason: ReasonWeightsNormalised, From: sum, To: target})
	}
	// The exporter refuses a group whose weights exceed 1: its score would vanish.
	// Accelerator weights are renormalised while present, so, as in
	// scoring.Params.Validate, they are not part of that sum.
	all := 0.0
	for s, w := range out.Weights {
		if !scoring.IsAccelerator(scoring.Signal(s)) {
			all += w
		}
	}
	if all > 1+1e-9 {
		return Settings{}, nil, reject(ReasonWeightsAboveOne, "the weights of all signals would sum to %g, above 1", all)
	}
	return out, adj, nil
}

func clamp(x float64, r Range, s Signal, d Direction, adj *[]Adjustment) float64 {
	switch {
	case x > r.Max:
		*adj = append(*adj, Adjustment{Reason: ReasonClampedHigh, Signal: s, Direction: d, From: x, To: r.Max})
		return r.Max
	case x < r.Min:
		*adj = append(*adj, Adjustment{Reason: ReasonClampedLow, Signal: s, Direction: d, From: x, To: r.Min})
		return r.Min
	}
	return x
}

// tunedWeightTotal is the weight the enabled tuned signals hold in current: the advisor
// redistributes it among them and leaves the trend's and other signals' shares alone.
func tunedWeightTotal(current Settings) float64 {
	total := 0.0
	for _, s := range enabledSignals(current) {
		if w := current.Weights[s]; w > 0 && !math.IsInf(w, 0) {
			total += w
		}
	}
	if total > 0 && total <= 1 {
		return total
	}
	if t := 1 - current.TrendWeight; t > 0 && t <= 1 {
		return t
	}
	return 1
}
