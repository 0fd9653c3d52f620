package tune

import (
	"context"
	"fmt"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

// Check is a proposal replayed next to the present config.
type Check struct {
	Present, Proposed Outcome
	// Refused is true when the proposal is worse than the present config on
	// both cost and violation minutes: advice that would have done harm on
	// the group's own history does not count.
	Refused bool
	Reason  string
}

// CheckProposal replays the group's history tr with its present config and
// with proposal applied, and refuses a proposal worse on both counts. It is
// how an LLM's advice is checked before it counts (DESIGN.md, cost and tuning).
func CheckProposal(ctx context.Context, tr trace.Series, opts Options, proposal Point) (Check, error) {
	s, g, err := newCheck(ctx, tr, opts)
	if err != nil {
		return Check{}, err
	}
	knobs := make([]Knob, 0, len(proposal))
	for k := range proposal {
		knobs = append(knobs, k)
	}
	return s.check(Current(g, knobs), proposal)
}

// CheckChange is CheckProposal for a change from settings in force that may
// differ from the config file's (the advisor's applied values): present is
// laid over the config, proposed over present. A knob may name any numeric
// field of a signal, its weight included, which the search itself does not tune.
func CheckChange(ctx context.Context, tr trace.Series, opts Options, present, proposed Point) (Check, error) {
	s, _, err := newCheck(ctx, tr, opts)
	if err != nil {
		return Check{}, err
	}
	if s.src, err = apply(s.src, s.group, present); err != nil {
		return Check{}, err
	}
	// The empty point replays the config as it now stands: the present one.
	c, err := s.check(Point{}, proposed)
	c.Present.Settings = map[Knob]float64(present)
	return c, err
}

// newCheck prepares a search of two points with one rule set.
func newCheck(ctx context.Context, tr trace.Series, opts Options) (*search, *config.Group, error) {
	src := opts.Config
	if src == nil {
		src = []byte(builtinConfig)
	}
	base, err := config.Parse(src)
	if err != nil {
		return nil, nil, fmt.Errorf("tune: %w", err)
	}
	if opts.Group == "" {
		opts.Group = base.Groups[0].Name
	}
	g, ok := base.Group(opts.Group)
	if !ok {
		return nil, nil, fmt.Errorf("tune: group %q is not in the config", opts.Group)
	}
	if opts.LoadRules == nil {
		return nil, nil, fmt.Errorf("tune: no rules: give the rule files the group is alerted by")
	}
	s := &search{ctx: ctx, tr: tr, src: src, group: opts.Group, policy: backtest.Policy(g.Policy), opts: opts, seen: map[string]*Outcome{}}
	s.rules = make(chan *backtest.Rules, 1)
	r, err := opts.LoadRules()
	if err != nil {
		return nil, nil, err
	}
	s.rules <- r
	return s, g, nil
}

// check replays present and proposal one after the other and judges them.
func (s *search) check(present, proposal Point) (Check, error) {
	if err := s.evaluate([]Point{present, proposal}); err != nil {
		return Check{}, err
	}
	c := Check{Present: *s.seen[present.Key()], Proposed: *s.seen[proposal.Key()]}
	c.Refused, c.Reason = refuse(c.Present, c.Proposed)
	return c, nil
}

// refuse says whether proposed is worse than present on both counts, and why.
func refuse(present, proposed Outcome) (bool, string) {
	if proposed.InstanceHours > present.InstanceHours && proposed.ViolationMinutes > present.ViolationMinutes {
		return true, fmt.Sprintf("worse on the group's history: %.1f instance-hours against %.1f and %d SLO minutes against %d",
			proposed.InstanceHours, present.InstanceHours, proposed.ViolationMinutes, present.ViolationMinutes)
	}
	return false, ""
}
