package actuator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/flexus-autoscaler/flexus/config"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// fataler is what testGroup needs of a *testing.T, *testing.B or *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// testGroup is a group as config parses it, with the defaults filled in.
func testGroup(t fataler, scaling string) *config.Group {
	t.Helper()
	cfg, err := config.Parse([]byte(`
cloud: {region: cn-north-4, project_id: p}
actuator: {insecure_no_auth: true}
groups:
  - name: web
    discovery: {as_group_id: asg-1}
    min_instances: 2
    max_instances: 20
    scaling: {` + scaling + `}
`))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cfg.Group("web")
	return g
}

// mergeScaling overrides "key: value" pairs of base with those of over.
func mergeScaling(base, over string) string {
	var keys []string
	vals := map[string]string{}
	for _, part := range strings.Split(base+","+over, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		if _, seen := vals[k]; !seen {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	var out []string
	for _, k := range keys {
		out = append(out, k+":"+vals[k])
	}
	return strings.Join(out, ", ")
}

func inService(desired int) CloudState {
	return CloudState{Desired: desired, Current: desired, InService: true, Status: "INSERVICE"}
}

func target(a Action, n int) Intent {
	return Intent{Group: "web", Action: a, Target: n, HasTarget: true, Key: "k"}
}

func TestDecide(t *testing.T) {
	base := "cooldown_out: 5m, cooldown_in: 10m, max_step_out: 4, max_step_in: 2, max_step_out_percent: 100, max_step_in_percent: 50, scale_in_stabilization: 5m"
	tests := []struct {
		name    string
		scaling string
		dryRun  bool
		cloud   CloudState
		local   GroupState
		intent  Intent
		outcome string
		reason  string
		to      int
	}{
		{name: "scale-out to the target within every bound", cloud: inService(4), intent: target(ScaleOut, 6), outcome: OutcomeApplied, to: 6},
		{name: "scale-out is clamped to the config max", cloud: inService(18), intent: target(ScaleOut, 30), outcome: OutcomeApplied, to: 20},
		{name: "scale-out is clamped to the cloud max when it is tighter",
			cloud: CloudState{Desired: 4, InService: true, HasBounds: true, Min: 1, Max: 6}, intent: target(ScaleOut, 10), outcome: OutcomeApplied, to: 6},
		{name: "scale-in is clamped to the config min", cloud: inService(3), intent: target(ScaleIn, 0), outcome: OutcomeApplied, to: 2},
		{name: "scale-in is clamped to the cloud min when it is tighter",
			cloud: CloudState{Desired: 6, InService: true, HasBounds: true, Min: 5, Max: 50}, intent: target(ScaleIn, 2), outcome: OutcomeApplied, to: 5},
		{name: "scale-out step limited by the count bound", cloud: inService(10), intent: target(ScaleOut, 19), outcome: OutcomeApplied, to: 14},
		{name: "scale-out step limited by the percent bound when smaller", scaling: ", max_step_out_percent: 50",
			cloud: inService(4), intent: target(ScaleOut, 12), outcome: OutcomeApplied, to: 6},
		{name: "scale-in step limited by the count bound", cloud: inService(12), intent: target(ScaleIn, 2), outcome: OutcomeApplied, to: 10},
		{name: "scale-in step limited by the percent bound when smaller", scaling: ", max_step_in: 10",
			cloud: inService(6), intent: target(ScaleIn, 2), outcome: OutcomeApplied, to: 3},
		{name: "a group below its min is raised to it in one action, beyond the step", scaling: ", max_step_out: 1",
			cloud: CloudState{Desired: 0, InService: true}, intent: target(ScaleOut, 1), outcome: OutcomeApplied, to: 2},
		{name: "a group above its max is lowered to it in one action, beyond the step",
			cloud: inService(25), intent: target(ScaleIn, 15), outcome: OutcomeApplied, to: 20},
		{name: "a step of at least one even when the percent rounds to zero", scaling: ", max_step_out_percent: 10",
			cloud: inService(3), intent: target(ScaleOut, 9), outcome: OutcomeApplied, to: 4},
		{name: "no target: step from the fresh desired count",
			cloud: inService(5), intent: Intent{Group: "web", Action: ScaleOut, Step: 2}, outcome: OutcomeApplied, to: 7},
		{name: "no target and no step: one instance",
			cloud: inService(5), intent: Intent{Group: "web", Action: ScaleIn}, outcome: OutcomeApplied, to: 4},
		{name: "scale-out at the max is a noop", cloud: inService(20), intent: target(ScaleOut, 25), outcome: OutcomeNoop, to: 20},
		{name: "scale-out to a target below desired is a noop, never a scale-in", cloud: inService(8), intent: target(ScaleOut, 5), outcome: OutcomeNoop, to: 8},
		{name: "scale-in to a target above desired is a noop", cloud: inService(4), intent: target(ScaleIn, 6), outcome: OutcomeNoop, to: 4},
		{name: "scale-in below min from a group already under min is a noop, never a scale-out", cloud: inService(1), intent: target(ScaleIn, 0), outcome: OutcomeNoop, to: 1},
		{name: "scale-out refused inside its cooldown",
			cloud: inService(4), local: GroupState{LastOut: t0.Add(-4 * time.Minute)}, intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 4},
		{name: "scale-out allowed once its cooldown has passed",
			cloud: inService(4), local: GroupState{LastOut: t0.Add(-5 * time.Minute)}, intent: target(ScaleOut, 6), outcome: OutcomeApplied, to: 6},
		{name: "scale-out cooldown counts from the cloud's activity end when later than the local stamp",
			cloud: func() CloudState { c := inService(4); c.LastOutEnd = t0.Add(-time.Minute); return c }(),
			local: GroupState{LastOut: t0.Add(-time.Hour)}, intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 4},
		{name: "scale-out is not held back by a recent scale-in",
			cloud: inService(4), local: GroupState{LastIn: t0.Add(-time.Minute)}, intent: target(ScaleOut, 6), outcome: OutcomeApplied, to: 6},
		{name: "scale-in refused inside its cooldown",
			cloud: inService(8), local: GroupState{LastIn: t0.Add(-9 * time.Minute)}, intent: target(ScaleIn, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 8},
		{name: "scale-in refused within its cooldown after a scale-out",
			cloud: inService(8), local: GroupState{LastOut: t0.Add(-9 * time.Minute)}, intent: target(ScaleIn, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 8},
		{name: "scale-in allowed once its cooldown has passed",
			cloud: inService(8), local: GroupState{LastIn: t0.Add(-10 * time.Minute)}, intent: target(ScaleIn, 6), outcome: OutcomeApplied, to: 6},
		{name: "a scale-out activity still running holds the scale-out cooldown",
			cloud: func() CloudState { c := inService(4); c.Activity = ActivityOut; return c }(), intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 4},
		{name: "a clock that went backwards keeps the cooldown",
			cloud: inService(4), local: GroupState{LastOut: t0.Add(time.Hour)}, intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 4},
		{name: "scale-in refused while instances boot",
			cloud: func() CloudState { c := inService(8); c.Booting = 1; return c }(), intent: target(ScaleIn, 6), outcome: OutcomeRefused, reason: GuardBooting, to: 8},
		{name: "scale-in refused while a scaling activity runs",
			cloud: func() CloudState { c := inService(8); c.Activity = ActivityIn; return c }(), intent: target(ScaleIn, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 8},
		{name: "scale-out goes ahead while instances boot",
			cloud: func() CloudState { c := inService(4); c.Booting = 2; return c }(), intent: target(ScaleOut, 6), outcome: OutcomeApplied, to: 6},
		{name: "scale-in stabilised to the highest target seen in the window",
			cloud: inService(10), local: GroupState{Targets: []TargetSample{{At: t0.Add(-4 * time.Minute), Target: 9}, {At: t0.Add(-time.Minute), Target: 8}}},
			intent: target(ScaleIn, 8), outcome: OutcomeApplied, to: 9},
		{name: "scale-in ignores targets older than the window",
			cloud: inService(10), local: GroupState{Targets: []TargetSample{{At: t0.Add(-6 * time.Minute), Target: 10}}},
			intent: target(ScaleIn, 9), outcome: OutcomeApplied, to: 9},
		{name: "scale-in becomes a noop when a recent scale-out target is higher",
			cloud: inService(6), local: GroupState{Targets: []TargetSample{{At: t0.Add(-2 * time.Minute), Target: 8}}},
			intent: target(ScaleIn, 3), outcome: OutcomeNoop, to: 6},
		{name: "paused group refuses", scaling: ", paused: true", cloud: inService(4), intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardPaused, to: 4},
		{name: "AS group out of service refuses",
			cloud: CloudState{Desired: 4, Status: "PAUSED"}, intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardNotInService, to: 4},
		{name: "conflicting bounds refuse", cloud: CloudState{Desired: 4, InService: true, HasBounds: true, Min: 25, Max: 30}, intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardBounds, to: 4},
		{name: "global dry-run decides but does not apply", dryRun: true, cloud: inService(4), intent: target(ScaleOut, 6), outcome: OutcomeDryRun, to: 6},
		{name: "group dry-run decides but does not apply", scaling: ", dry_run: true", cloud: inService(4), intent: target(ScaleOut, 6), outcome: OutcomeDryRun, to: 6},
		{name: "a refusal wins over dry-run", dryRun: true, cloud: inService(4), local: GroupState{LastOut: t0}, intent: target(ScaleOut, 6), outcome: OutcomeRefused, reason: GuardCooldown, to: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := testGroup(t, mergeScaling(base, tc.scaling))
			local := tc.local
			before := local.Clone()
			d := Decide(t0, g, tc.dryRun, tc.cloud, &local, tc.intent)
			if d.Outcome != tc.outcome || d.To != tc.to || (tc.reason != "" && d.Reason != tc.reason) {
				t.Fatalf("got outcome %s reason %q to %d, want %s %q %d; guards %+v", d.Outcome, d.Reason, d.To, tc.outcome, tc.reason, tc.to, d.Guards)
			}
			if len(local.Targets) != len(before.Targets) || local.LastOut != before.LastOut || local.LastIn != before.LastIn {
				t.Error("Decide changed the local state: it must be pure")
			}
			lo, hi := Bounds(g, tc.cloud)
			if d.Outcome == OutcomeApplied && (d.To < lo || d.To > hi) {
				t.Errorf("applied %d outside %d..%d", d.To, lo, hi)
			}
		})
	}
}

func TestDecideReportsEveryGuard(t *testing.T) {
	g := testGroup(t, "paused: true")
	c := inService(8)
	c.Booting = 1
	d := Decide(t0, g, false, c, &GroupState{LastIn: t0}, target(ScaleIn, 6))
	var refused []string
	for _, v := range d.Guards {
		if !v.Pass {
			refused = append(refused, v.Guard)
		}
	}
	if got, want := strings.Join(refused, ","), "paused,cooldown,booting"; got != want {
		t.Errorf("refusing guards %s, want %s (every guard is evaluated and reported)", got, want)
	}
	if d.Reason != GuardPaused {
		t.Errorf("reason %q, want the first refusing guard", d.Reason)
	}
}

func TestRecord(t *testing.T) {
	g := testGroup(t, "scale_in_stabilization: 5m")
	var s GroupState
	in := target(ScaleOut, 7)
	s.Record(t0, g, in, Decision{Action: ScaleOut, Outcome: OutcomeRefused})
	if !s.LastOut.IsZero() || len(s.Targets) != 1 {
		t.Fatalf("a refusal stamps nothing but keeps the target: %+v", s)
	}
	s.Record(t0.Add(time.Minute), g, in, Decision{Action: ScaleOut, Outcome: OutcomeApplied, To: 7})
	if !s.LastOut.Equal(t0.Add(time.Minute)) || s.Desired != 7 {
		t.Fatalf("an applied scale-out stamps its cooldown and desired: %+v", s)
	}
	s.Record(t0.Add(10*time.Minute), g, Intent{Action: ScaleIn}, Decision{Action: ScaleIn, Outcome: OutcomeApplied, To: 5})
	if !s.LastIn.Equal(t0.Add(10*time.Minute)) || len(s.Targets) != 0 {
		t.Fatalf("targets older than the window are pruned: %+v", s)
	}
}

func TestMaxStepNeverBelowOne(t *testing.T) {
	g := testGroup(t, "max_step_in_percent: 1")
	for d := 0; d < 50; d++ {
		if s := MaxStep(g, ScaleIn, d); s < 1 {
			t.Fatalf("step %d at desired %d", s, d)
		}
	}
}

// TestDecideProperties checks Decide over random inputs: an applied change
// stays within the bounds in force, moves only in the asked direction, by
// at most the step (or what it takes to get back inside the bounds), and
// never inside the direction's cooldown.
func TestDecideProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		minI := rapid.IntRange(0, 10).Draw(rt, "min")
		maxI := rapid.IntRange(minI, 30).Draw(rt, "max")
		g := testGroup(rt, fmt.Sprintf("cooldown_out: %ds, cooldown_in: %ds, max_step_out: %d, max_step_in: %d, max_step_out_percent: %d, max_step_in_percent: %d",
			rapid.IntRange(0, 600).Draw(rt, "cdOut"), rapid.IntRange(0, 600).Draw(rt, "cdIn"),
			rapid.IntRange(1, 10).Draw(rt, "stepOut"), rapid.IntRange(1, 10).Draw(rt, "stepIn"),
			rapid.IntRange(1, 300).Draw(rt, "pctOut"), rapid.IntRange(1, 100).Draw(rt, "pctIn")))
		g.MinInstances, g.MaxInstances = minI, maxI
		cloud := CloudState{
			Desired: rapid.IntRange(max(minI-2, 0), maxI+2).Draw(rt, "desired"), InService: rapid.Bool().Draw(rt, "inService"),
			Booting: rapid.IntRange(0, 2).Draw(rt, "booting"), HasBounds: rapid.Bool().Draw(rt, "hasBounds"),
			Min: rapid.IntRange(0, 5).Draw(rt, "cloudMin"), Max: rapid.IntRange(5, 40).Draw(rt, "cloudMax"),
			Activity:   rapid.SampledFrom([]Activity{ActivityNone, ActivityOut, ActivityIn}).Draw(rt, "activity"),
			LastOutEnd: t0.Add(time.Duration(rapid.IntRange(-900, 60).Draw(rt, "cloudOut")) * time.Second),
		}
		local := &GroupState{LastIn: t0.Add(time.Duration(rapid.IntRange(-900, 60).Draw(rt, "localIn")) * time.Second)}
		for i := rapid.IntRange(0, 5).Draw(rt, "targets"); i > 0; i-- {
			local.Targets = append(local.Targets, TargetSample{At: t0.Add(-time.Duration(rapid.IntRange(0, 600).Draw(rt, "at")) * time.Second), Target: rapid.IntRange(0, 40).Draw(rt, "t")})
		}
		in := Intent{Group: "web", Action: rapid.SampledFrom([]Action{ScaleOut, ScaleIn}).Draw(rt, "action"), Step: rapid.IntRange(0, 5).Draw(rt, "step")}
		if rapid.Bool().Draw(rt, "hasTarget") {
			in.Target, in.HasTarget = rapid.IntRange(0, 50).Draw(rt, "target"), true
		}
		d := Decide(t0, g, false, cloud, local, in)
		if d.Outcome != OutcomeApplied {
			if d.To != cloud.Desired && d.Outcome != OutcomeDryRun {
				rt.Fatalf("%s decision changes the count: %+v", d.Outcome, d)
			}
			return
		}
		lo, hi := Bounds(g, cloud)
		step := MaxStep(g, in.Action, cloud.Desired)
		switch {
		case d.To < lo || d.To > hi:
			rt.Fatalf("applied %d outside %d..%d", d.To, lo, hi)
		case in.Action == ScaleOut && (d.To <= cloud.Desired || d.To-cloud.Desired > max(step, lo-cloud.Desired)):
			rt.Fatalf("scale-out %d -> %d with step %d", cloud.Desired, d.To, step)
		case in.Action == ScaleIn && (d.To >= cloud.Desired || cloud.Desired-d.To > max(step, cloud.Desired-hi)):
			rt.Fatalf("scale-in %d -> %d with step %d", cloud.Desired, d.To, step)
		case CooldownRemaining(t0, g, in.Action, cloud, local) > 0:
			rt.Fatalf("applied inside the cooldown")
		case in.Action == ScaleIn && (cloud.Booting > 0 || cloud.Activity != ActivityNone):
			rt.Fatalf("scale-in while booting or mid-activity")
		case !cloud.InService:
			rt.Fatalf("applied to a group out of service")
		}
		if in.Action == ScaleIn && d.To < StabilizedTarget(t0, g, local, d.Requested) && d.To < hi {
			rt.Fatalf("scale-in to %d below the stabilised target %d", d.To, StabilizedTarget(t0, g, local, d.Requested))
		}
	})
}
