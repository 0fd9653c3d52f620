package advisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/tune"
)

// CheckResult is the `result` label of flexus_advisor_history_checks_total:
// what replaying a proposal over the group's history said.
type CheckResult string

const (
	// CheckPassed: replayed, and not worse than the settings in force on both
	// cost and SLO minutes.
	CheckPassed CheckResult = "passed"
	// CheckWorse: replayed, and worse on both: the proposal is refused.
	CheckWorse CheckResult = "worse_on_history"
	// CheckInsufficientHistory: too little history to judge; the proposal
	// passes unchecked.
	CheckInsufficientHistory CheckResult = "insufficient_history"
	// CheckError: the replay failed or ran out of time; the proposal passes
	// unchecked, as the guardrails alone let it.
	CheckError CheckResult = "error"
)

// CheckResults lists every result, so the counter starts at 0 for each.
func CheckResults() []CheckResult {
	return []CheckResult{CheckPassed, CheckWorse, CheckInsufficientHistory, CheckError}
}

// FieldWeight is the knob field of a signal's weight: the backtest replays
// weights as the config sets them, though tune does not search them.
const FieldWeight = "weight"

// CheckOptions are what a Checker replays with, from the exporter.
type CheckOptions struct {
	// Config returns the config file's text in force: the group's bounds,
	// policy, targets and capacity come from it.
	Config func() ([]byte, error)
	// LoadRules loads the rule files the replay evaluates (a fresh set per
	// replay: a rule set keeps alert state).
	LoadRules func() (*backtest.Rules, error)
	Clock     clock.Clock
	Logger    *slog.Logger
}

// Checker replays a proposal through the backtest over the group's recent
// history next to the settings in force, one replay at a time.
type Checker struct {
	o    CheckOptions
	slot chan struct{}
}

// NewChecker builds a checker; Config and LoadRules are required.
func NewChecker(o CheckOptions) (*Checker, error) {
	if o.Config == nil || o.LoadRules == nil {
		return nil, errors.New("advisor: a history check needs the config's text and the rule files: set CheckOptions.Config and LoadRules")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = promslog.NewNopLogger()
	}
	return &Checker{o: o, slot: make(chan struct{}, 1)}, nil
}

// Verdict is one check's result, with the replays when there were any.
type Verdict struct {
	Result            CheckResult
	Present, Proposed tune.Outcome
	// Detail says why, for the log and the refusal.
	Detail string
}

// Check replays proposed and s.Current over s.Demand. It takes at most
// timeout, waiting for another replay included, and never fails: a replay
// that cannot be made is a verdict (insufficient_history or error).
func (c *Checker) Check(ctx context.Context, s Summary, proposed Settings, minHistory, timeout time.Duration) Verdict {
	span := s.Demand.End().Sub(s.Demand.Start)
	if s.Demand.Len() < 2 || span < minHistory {
		return Verdict{Result: CheckInsufficientHistory,
			Detail: fmt.Sprintf("%s of history, below check_min_history %s", span.Round(time.Second), minHistory)}
	}
	peak := s.Demand.Max()
	if !(peak > 0) || math.IsInf(peak, 0) {
		return Verdict{Result: CheckInsufficientHistory, Detail: "the history holds no load to replay"}
	}
	enabled := enabledSignals(s.Current)
	present, proposal := Knobs(s.Current, enabled), Knobs(proposed, enabled)
	if maps.Equal(present, proposal) {
		// The model repeated the settings in force: two identical replays would say so.
		return Verdict{Result: CheckPassed, Detail: "the settings in force, not replayed"}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case c.slot <- struct{}{}:
		defer func() { <-c.slot }()
	case <-ctx.Done():
		return Verdict{Result: CheckError, Detail: fmt.Sprintf("another replay held the slot for check_timeout %s", timeout)}
	}
	src, err := c.o.Config()
	if err != nil {
		return Verdict{Result: CheckError, Detail: err.Error()}
	}
	started := c.o.Clock.Now()
	ck, err := tune.CheckChange(ctx, s.Demand, tune.Options{Config: src, Group: s.Group, LoadRules: c.o.LoadRules, Backtest: demandScale(peak)},
		present, proposal)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("the replay ran past check_timeout %s: %w", timeout, err)
		}
		return Verdict{Result: CheckError, Detail: err.Error()}
	}
	v := Verdict{Result: CheckPassed, Present: ck.Present, Proposed: ck.Proposed, Detail: ck.Reason}
	if ck.Refused {
		v.Result = CheckWorse
	} else {
		v.Detail = fmt.Sprintf("%.1f instance-hours against %.1f and %d SLO minutes against %d",
			ck.Proposed.InstanceHours, ck.Present.InstanceHours, ck.Proposed.ViolationMinutes, ck.Present.ViolationMinutes)
	}
	c.o.Logger.Debug("advisor proposal replayed", "group", s.Group, "result", string(v.Result), "detail", v.Detail,
		"history", span, "took", c.o.Clock.Now().Sub(started))
	return v
}

// demandScale sizes the replay's world to the history: Demand is in
// instance-equivalents (busy instances), so its peak is peak × the instance
// capacity. The backtest sizes its peak as PeakInstances × TargetUtilization
// instances; the target is set so that the two agree exactly.
func demandScale(peak float64) backtest.Options {
	const target = 0.6 // the backtest's default, the CPU target
	n := max(1, int(math.Ceil(peak/target)))
	return backtest.Options{PeakInstances: n, TargetUtilization: peak / float64(n)}
}

// Knobs maps settings to the knobs the backtest replays: each enabled tuned
// signal's scale_out, scale_in and weight, in the config's base units. The
// trend weight and the signals the advisor does not tune are not proposals:
// the replay takes them from the config.
func Knobs(s Settings, enabled []Signal) tune.Point {
	p := tune.Point{}
	for _, sig := range enabled {
		if b, ok := s.Thresholds[sig]; ok {
			p[tune.Of(string(sig), tune.FieldScaleOut)] = b.Out
			p[tune.Of(string(sig), tune.FieldScaleIn)] = b.In
		}
		if w, ok := s.Weights[sig]; ok {
			p[tune.Of(string(sig), FieldWeight)] = w
		}
	}
	return p
}
