package actuator

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// Action is what an alert asks for.
type Action string

// The two actions of the alert contract (docs/metrics.md).
const (
	ScaleOut Action = "scale_out"
	ScaleIn  Action = "scale_in"
)

// Direction returns the metric label of the action: out or in.
func (a Action) Direction() string {
	if a == ScaleIn {
		return "in"
	}
	return "out"
}

// Outcomes of a decision, the outcome label of flexus_actuator_decisions_total.
const (
	// OutcomeApplied from Decide means "every guard passed, go ahead"; the
	// actuator keeps it once the cloud accepted the change.
	OutcomeApplied   = "applied"
	OutcomeRefused   = "refused"
	OutcomeDuplicate = "duplicate"
	OutcomeDryRun    = "dry_run"
	OutcomeNoop      = "noop"
	OutcomeFailed    = "failed"
)

// Guard names, also the reason label of flexus_actuator_guard_refusals_total.
const (
	GuardPaused        = "paused"
	GuardNotInService  = "not_in_service"
	GuardBounds        = "bounds"
	GuardStabilization = "stabilization"
	GuardStep          = "step"
	GuardCooldown      = "cooldown"
	GuardBooting       = "booting"
	GuardInProgress    = "in_progress"
	GuardDryRun        = "dry_run"
)

// Intent is one (group, action) request taken from a notification.
type Intent struct {
	Group  string `json:"group"`
	Action Action `json:"action"`
	// Target is the instance count asked for; HasTarget says whether one was given.
	Target    int  `json:"target"`
	HasTarget bool `json:"has_target"`
	// Step is used when no target is given: desired ± Step (1 when 0).
	Step int `json:"step,omitempty"`
	// Key is the idempotency key of the notification's alerts for this group and action.
	Key string `json:"key,omitempty"`
	// Alerts is how many firing alerts the intent was taken from.
	Alerts int `json:"alerts,omitempty"`
}

// Activity says which scaling activity the cloud is running.
type Activity string

// Activities.
const (
	ActivityNone Activity = ""
	ActivityOut  Activity = "out"
	ActivityIn   Activity = "in"
)

// CloudState is the group as the cloud sees it, read fresh before each decision.
type CloudState struct {
	// Desired is the AS desired count, or the ecs backend's count of live servers.
	Desired int `json:"desired"`
	// Current counts instances that exist, in any state.
	Current int `json:"current"`
	// Booting counts instances created but not yet serving.
	Booting int `json:"booting"`
	// Pooled counts the stopped servers of the ecs backend's warm pool, out
	// of Desired (pool.go).
	Pooled int `json:"pooled,omitempty"`
	// Min and Max are the cloud's own bounds; HasBounds is false when it has none (ecs).
	Min       int  `json:"min,omitempty"`
	Max       int  `json:"max,omitempty"`
	HasBounds bool `json:"has_bounds,omitempty"`
	// InService is false when the AS group is paused, in error or being deleted.
	InService bool   `json:"in_service"`
	Status    string `json:"status,omitempty"`
	// Activity is the scaling activity in progress, if any.
	Activity Activity `json:"activity,omitempty"`
	// LastOutEnd and LastInEnd are when the cloud's last scaling activity in
	// each direction ended (AS activity logs, ECS server creation times).
	LastOutEnd time.Time `json:"last_out_end,omitzero"`
	LastInEnd  time.Time `json:"last_in_end,omitzero"`
}

// TargetSample is a target seen in a firing alert, kept for scale-in stabilisation.
type TargetSample struct {
	At     time.Time `json:"at"`
	Target int       `json:"target"`
}

// GroupState is what the actuator remembers about a group between decisions;
// the store persists it so a restart keeps cooldowns and stabilisation.
type GroupState struct {
	LastOut time.Time `json:"last_out,omitzero"`
	LastIn  time.Time `json:"last_in,omitzero"`
	// Desired is the last count the actuator set (0 before the first action).
	Desired int            `json:"desired"`
	Targets []TargetSample `json:"targets,omitempty"`
	// Grades are the applied decisions awaiting or holding their grade in
	// hindsight (grader.go): kept with the state, so a restart or another
	// replica never grades one twice.
	Grades []Grade `json:"grades,omitempty"`
}

// maxTargets bounds the stabilisation window's memory.
const maxTargets = 256

// Verdict is one guard's answer.
type Verdict struct {
	Guard string `json:"guard"`
	// Pass is false when the guard refused the action; a guard that only
	// changed the count (bounds, step, stabilisation) passes with a Detail.
	Pass   bool   `json:"pass"`
	Detail string `json:"detail,omitempty"`
}

// Decision is the result of Decide: what to set and why.
type Decision struct {
	Time   time.Time `json:"time"`
	Group  string    `json:"group"`
	Action Action    `json:"action"`
	// From is the fresh desired count, Requested what the intent asked for,
	// Goal the request after stabilisation and bounds, and To what the
	// guards allow now (Goal limited by the step).
	From      int    `json:"from"`
	Requested int    `json:"requested"`
	Goal      int    `json:"goal"`
	To        int    `json:"to"`
	Outcome   string `json:"outcome"`
	// Reason is the first refusing guard (refused), or why nothing changes (noop).
	Reason string    `json:"reason,omitempty"`
	Guards []Verdict `json:"guards"`
	// CooldownRemaining is what is left of the action's cooldown at Time.
	CooldownRemaining time.Duration `json:"cooldown_remaining"`
	DryRun            bool          `json:"dry_run,omitempty"`
}

// CooldownStart returns when the cooldown of the action's direction started:
// the later of the local stamp and the cloud's, so a restart or a second
// replica agrees. Scale-in counts from the last activity in either
// direction (no scale-in right after a scale-out); scale-out only from the
// last scale-out (a scale-out after a scale-in may be urgent).
func CooldownStart(a Action, cloud CloudState, local *GroupState) time.Time {
	var t time.Time
	later := func(u time.Time) {
		if u.After(t) {
			t = u
		}
	}
	later(cloud.LastOutEnd)
	if local != nil {
		later(local.LastOut)
	}
	if a == ScaleIn {
		later(cloud.LastInEnd)
		if local != nil {
			later(local.LastIn)
		}
	}
	return t
}

// CooldownRemaining is what is left of the direction's cooldown at now. An
// activity of the same direction still running counts as a full cooldown,
// since the cooldown runs from its end. A clock that went backwards keeps
// the cooldown (remaining is capped at the cooldown itself).
func CooldownRemaining(now time.Time, g *config.Group, a Action, cloud CloudState, local *GroupState) time.Duration {
	cd := g.Scaling.CooldownOut
	if a == ScaleIn {
		cd = g.Scaling.CooldownIn
	}
	if cloud.Activity == ActivityOut || (a == ScaleIn && cloud.Activity == ActivityIn) {
		return cd
	}
	start := CooldownStart(a, cloud, local)
	if start.IsZero() {
		return 0
	}
	left := start.Add(cd).Sub(now)
	switch {
	case left <= 0:
		return 0
	case left > cd:
		return cd
	}
	return left
}

// Bounds returns the bounds in force: the tighter of config and cloud.
func Bounds(g *config.Group, cloud CloudState) (lo, hi int) {
	lo, hi = g.MinInstances, g.MaxInstances
	if cloud.HasBounds {
		lo = max(lo, cloud.Min)
		hi = min(hi, cloud.Max)
	}
	return lo, hi
}

// MaxStep is the largest change one action may make from desired: the
// smaller of the count and the percent bound, and never below 1.
func MaxStep(g *config.Group, a Action, desired int) int {
	n, pct := g.Scaling.MaxStepOut, g.Scaling.MaxStepOutPercent
	if a == ScaleIn {
		n, pct = g.Scaling.MaxStepIn, g.Scaling.MaxStepInPercent
	}
	byPct := int(math.Floor(float64(desired) * pct / 100))
	return max(1, min(n, byPct))
}

// StabilizedTarget is the highest target seen within the scale-in
// stabilisation window, counting the intent's own target.
func StabilizedTarget(now time.Time, g *config.Group, local *GroupState, target int) int {
	hi := target
	if local == nil {
		return hi
	}
	from := now.Add(-g.Scaling.ScaleInStabilization)
	for _, s := range local.Targets {
		if !s.At.Before(from) && !s.At.After(now) && s.Target > hi {
			hi = s.Target
		}
	}
	return hi
}

// Decide is the one place every guard lives. It is pure: the clock, the
// group's config, the fresh cloud state, the local state and the intent go
// in; the decision with each guard's verdict comes out. dryRun is the global
// switch (actuator.dry_run); the group's own scaling.dry_run is read from g.
// The live actuator and the backtest call it the same way, then Record.
func Decide(now time.Time, g *config.Group, dryRun bool, cloud CloudState, local *GroupState, in Intent) Decision {
	d := Decision{Time: now, Group: g.Name, Action: in.Action, From: cloud.Desired, To: cloud.Desired}
	refuse := func(guard, detail string) {
		d.Guards = append(d.Guards, Verdict{Guard: guard, Pass: false, Detail: detail})
		if d.Outcome == "" {
			d.Outcome, d.Reason = OutcomeRefused, guard
		}
	}
	pass := func(guard, detail string) {
		d.Guards = append(d.Guards, Verdict{Guard: guard, Pass: true, Detail: detail})
	}

	if g.Scaling.Paused {
		refuse(GuardPaused, "scaling.paused is set")
	} else {
		pass(GuardPaused, "")
	}
	if !cloud.InService {
		refuse(GuardNotInService, fmt.Sprintf("cloud status %q", cloud.Status))
	} else {
		pass(GuardNotInService, "")
	}

	// The request, from the fresh desired count.
	want := in.Target
	if !in.HasTarget {
		step := max(in.Step, 1)
		if in.Action == ScaleOut {
			want = cloud.Desired + step
		} else {
			want = cloud.Desired - step
		}
	}
	want = max(want, 0)
	d.Requested = want

	if in.Action == ScaleIn {
		st := StabilizedTarget(now, g, local, want)
		if st > want {
			pass(GuardStabilization, fmt.Sprintf("highest target within %s is %d", g.Scaling.ScaleInStabilization, st))
			want = st
		} else {
			pass(GuardStabilization, "")
		}
	}

	lo, hi := Bounds(g, cloud)
	switch {
	case lo > hi:
		refuse(GuardBounds, fmt.Sprintf("bounds conflict: min %d above max %d (config and cloud)", lo, hi))
	case want > hi:
		pass(GuardBounds, fmt.Sprintf("clamped %d to max %d", want, hi))
		want = hi
	case want < lo:
		pass(GuardBounds, fmt.Sprintf("clamped %d to min %d", want, lo))
		want = lo
	default:
		pass(GuardBounds, "")
	}

	d.Goal = want
	step := MaxStep(g, in.Action, cloud.Desired)
	switch {
	case in.Action == ScaleOut && want > cloud.Desired+step:
		pass(GuardStep, fmt.Sprintf("limited %d to %d (max step %d)", want, cloud.Desired+step, step))
		want = cloud.Desired + step
	case in.Action == ScaleIn && want < cloud.Desired-step:
		pass(GuardStep, fmt.Sprintf("limited %d to %d (max step %d)", want, cloud.Desired-step, step))
		want = cloud.Desired - step
	default:
		pass(GuardStep, "")
	}
	// The bounds are hard, the step is a rate: a group found outside its
	// bounds is brought inside in one action even beyond the step.
	if lo <= hi && in.Action == ScaleOut && want < lo && want > cloud.Desired {
		d.Guards[len(d.Guards)-1].Detail += fmt.Sprintf("; raised to min %d: bounds win over the step", lo)
		want = lo
	}
	if lo <= hi && in.Action == ScaleIn && want > hi && want < cloud.Desired {
		d.Guards[len(d.Guards)-1].Detail += fmt.Sprintf("; lowered to max %d: bounds win over the step", hi)
		want = hi
	}

	// An action never moves the count the other way.
	moves := (in.Action == ScaleOut && want > cloud.Desired) || (in.Action == ScaleIn && want < cloud.Desired)

	d.CooldownRemaining = CooldownRemaining(now, g, in.Action, cloud, local)
	if d.CooldownRemaining > 0 {
		// Whole seconds, rounded up: a refusal never reads "0s left".
		refuse(GuardCooldown, fmt.Sprintf("%s left", (d.CooldownRemaining+time.Second-1).Truncate(time.Second)))
	} else {
		pass(GuardCooldown, "")
	}

	if in.Action == ScaleIn {
		if cloud.Booting > 0 {
			refuse(GuardBooting, fmt.Sprintf("%d instances still booting", cloud.Booting))
		} else {
			pass(GuardBooting, "")
		}
		if cloud.Activity != ActivityNone {
			refuse(GuardInProgress, fmt.Sprintf("scaling activity %q in progress", cloud.Activity))
		} else {
			pass(GuardInProgress, "")
		}
	}

	d.DryRun = dryRun || g.Scaling.DryRun
	switch {
	case d.Outcome == OutcomeRefused:
		// d.To stays at From.
	case !moves:
		d.Outcome = OutcomeNoop
		d.Reason = fmt.Sprintf("target %d does not %s desired %d", want, map[Action]string{ScaleOut: "exceed", ScaleIn: "go below"}[in.Action], cloud.Desired)
	case d.DryRun:
		d.To = want
		d.Outcome = OutcomeDryRun
		d.Guards = append(d.Guards, Verdict{Guard: GuardDryRun, Pass: false, Detail: "dry-run: no write API called"})
	default:
		d.To = want
		d.Outcome = OutcomeApplied
	}
	return d
}

// Record updates the local state with an intent and its decision: the
// target joins the stabilisation window, and an applied decision stamps the
// cooldown of its direction. Call it after the change went through (or after
// a refusal, for the window only).
func (s *GroupState) Record(now time.Time, g *config.Group, in Intent, d Decision) {
	if in.HasTarget {
		s.Targets = append(s.Targets, TargetSample{At: now, Target: in.Target})
	}
	s.Prune(now, g.Scaling.ScaleInStabilization)
	if d.Outcome != OutcomeApplied {
		return
	}
	s.Desired = d.To
	if d.Action == ScaleOut {
		s.LastOut = now
	} else {
		s.LastIn = now
	}
}

// Prune drops targets outside the window and keeps at most maxTargets.
func (s *GroupState) Prune(now time.Time, window time.Duration) {
	from := now.Add(-window)
	kept := s.Targets[:0]
	for _, t := range s.Targets {
		if !t.At.Before(from) {
			kept = append(kept, t)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].At.Before(kept[j].At) })
	if len(kept) > maxTargets {
		kept = kept[len(kept)-maxTargets:]
	}
	s.Targets = kept
}

// Clone returns a deep copy.
func (s *GroupState) Clone() *GroupState {
	c := *s
	c.Targets = append([]TargetSample(nil), s.Targets...)
	c.Grades = cloneGrades(s.Grades)
	return &c
}
