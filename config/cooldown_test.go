package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// cooldownGroup is a one-group file with the given group lines.
func cooldownGroup(lines string) string {
	return "cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n" + lines
}

// forgetCooldownOutDefaulted clears, in both configs, whether cooldown_out
// was defaulted, once the values agree: the effective config writes the
// policy's default, so its parse-back holds it as written. The value in
// force is the same; only a replay under another policy would tell them
// apart (TestEffectiveConfigShowsTheResolvedCooldownOut).
func forgetCooldownOutDefaulted(cs ...*Config) {
	for _, c := range cs {
		for i := range c.Groups {
			c.Groups[i].cooldownOutDefaulted = false
		}
	}
}

func TestCooldownOutDefaultsByPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy string // "" leaves it out: predictive
		want   time.Duration
	}{
		{"", 60 * time.Second},
		{PolicyPredictive, 60 * time.Second},
		{PolicyTarget, 300 * time.Second},
		{PolicySeed, 300 * time.Second},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			lines := ""
			if tc.policy != "" {
				lines = "    policy: " + tc.policy + "\n"
			}
			c, err := Parse([]byte(cooldownGroup(lines)))
			if err != nil {
				t.Fatal(err)
			}
			g := c.Groups[0]
			if g.Scaling.CooldownOut != tc.want {
				t.Errorf("policy %q: cooldown_out left out = %s, want %s", g.Policy, g.Scaling.CooldownOut, tc.want)
			}
			if g.Scaling.CooldownOut != DefaultCooldownOutFor(g.Policy) {
				t.Errorf("policy %q: cooldown_out %s is not DefaultCooldownOutFor's %s", g.Policy, g.Scaling.CooldownOut, DefaultCooldownOutFor(g.Policy))
			}
			if g.Scaling.CooldownIn != 300*time.Second {
				t.Errorf("cooldown_in %s: the policy changes only the scale-out cooldown", g.Scaling.CooldownIn)
			}
		})
	}
}

// An explicit value wins over every policy's default, the other policy's
// default and zero included, and keeps winning when replayed under another.
func TestAWrittenCooldownOutWins(t *testing.T) {
	for _, tc := range []struct {
		policy, written, other string
		want                   time.Duration
	}{
		{PolicyPredictive, "300s", PolicyTarget, 300 * time.Second},
		{PolicyPredictive, "5m", PolicySeed, 300 * time.Second},
		{PolicyTarget, "60s", PolicyPredictive, 60 * time.Second},
		{PolicySeed, "1m", PolicyPredictive, 60 * time.Second},
		{PolicyPredictive, "0s", PolicyTarget, 0},
		{PolicyTarget, "0s", PolicyPredictive, 0},
		{PolicyTarget, "2m", PolicyPredictive, 2 * time.Minute},
	} {
		t.Run(tc.policy+" "+tc.written, func(t *testing.T) {
			c, err := Parse([]byte(cooldownGroup(fmt.Sprintf("    policy: %s\n    scaling: {cooldown_out: %s, cooldown_in: 10m}\n", tc.policy, tc.written))))
			if err != nil {
				t.Fatal(err)
			}
			g := &c.Groups[0]
			if g.Scaling.CooldownOut != tc.want || g.Scaling.CooldownIn != 10*time.Minute {
				t.Errorf("cooldown_out: %s under %s = %s (cooldown_in %s), want the file's %s", tc.written, tc.policy, g.Scaling.CooldownOut, g.Scaling.CooldownIn, tc.want)
			}
			if o := g.ForPolicy(tc.other); o.Scaling.CooldownOut != tc.want || o.Policy != tc.other {
				t.Errorf("replayed under %s: policy %s, cooldown_out %s, want the file's %s", tc.other, o.Policy, o.Scaling.CooldownOut, tc.want)
			}
		})
	}
}

func TestForPolicyGivesADefaultedCooldownOutThePolicysDefault(t *testing.T) {
	c, err := Parse([]byte(cooldownGroup("    policy: predictive\n    risk: 0.8\n")))
	if err != nil {
		t.Fatal(err)
	}
	g := &c.Groups[0]
	for _, tc := range []struct {
		policy string
		want   time.Duration
	}{
		{PolicyTarget, 300 * time.Second},
		{PolicySeed, 300 * time.Second},
		{PolicyPredictive, 60 * time.Second},
	} {
		o := g.ForPolicy(tc.policy)
		if o.Policy != tc.policy || o.Scaling.CooldownOut != tc.want {
			t.Errorf("ForPolicy(%s): policy %s, cooldown_out %s, want %s", tc.policy, o.Policy, o.Scaling.CooldownOut, tc.want)
		}
		if o.Risk != 0.8 || o.Scaling.CooldownIn != g.Scaling.CooldownIn || o.Name != g.Name {
			t.Errorf("ForPolicy(%s) changed more than the policy and its default: %+v", tc.policy, o)
		}
		// Back under the group's policy, the default follows again.
		if back := o.ForPolicy(PolicyPredictive); back.Scaling.CooldownOut != 60*time.Second {
			t.Errorf("ForPolicy(%s).ForPolicy(predictive): cooldown_out %s, want 1m0s", tc.policy, back.Scaling.CooldownOut)
		}
	}
	if g.Policy != PolicyPredictive || g.Scaling.CooldownOut != 60*time.Second {
		t.Errorf("ForPolicy changed the group itself: policy %s, cooldown_out %s", g.Policy, g.Scaling.CooldownOut)
	}
}

// tune sets the cooldown on the parsed group and replays under the group's
// own policy: the value it set is the one replayed.
func TestForPolicyKeepsACooldownOutSetOnTheGroup(t *testing.T) {
	for _, policy := range []string{PolicyPredictive, PolicyTarget} {
		c, err := Parse([]byte(cooldownGroup("    policy: " + policy + "\n")))
		if err != nil {
			t.Fatal(err)
		}
		g := &c.Groups[0]
		other := DefaultCooldownOutFor(PolicyTarget) + DefaultCooldownOutFor(PolicyPredictive) - g.Scaling.CooldownOut
		for _, set := range []time.Duration{7 * time.Minute, 0, other} {
			g.Scaling.CooldownOut = set
			if o := g.ForPolicy(g.Policy); o.Scaling.CooldownOut != set || o.Policy != policy {
				t.Errorf("%s group set to %s, replayed under its own policy: policy %s, cooldown_out %s", policy, set, o.Policy, o.Scaling.CooldownOut)
			}
		}
		// A value set since parsing is no longer the default: kept under another policy too.
		g.Scaling.CooldownOut = 7 * time.Minute
		for _, p := range []string{PolicyPredictive, PolicyTarget, PolicySeed} {
			if o := g.ForPolicy(p); o.Scaling.CooldownOut != 7*time.Minute {
				t.Errorf("%s group set to 7m, replayed under %s: cooldown_out %s", policy, p, o.Scaling.CooldownOut)
			}
		}
	}
}

func TestEffectiveConfigShowsTheResolvedCooldownOut(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{PolicyPredictive, "cooldown_out: 1m0s\n"},
		{PolicyTarget, "cooldown_out: 5m0s\n"},
		{PolicySeed, "cooldown_out: 5m0s\n"},
	} {
		c, err := Parse([]byte(cooldownGroup("    policy: " + tc.policy + "\n")))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Effective(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: the effective config lacks %q:\n%s", tc.policy, tc.want, out)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		// Parsed back, the value is written: the same in force, and kept under another policy.
		g, b := &c.Groups[0], &back.Groups[0]
		if b.Scaling.CooldownOut != g.Scaling.CooldownOut || b.ForPolicy(PolicyTarget).Scaling.CooldownOut != g.Scaling.CooldownOut {
			t.Errorf("%s: parsed back, cooldown_out %s (%s under target), want the written %s", tc.policy,
				b.Scaling.CooldownOut, b.ForPolicy(PolicyTarget).Scaling.CooldownOut, g.Scaling.CooldownOut)
		}
	}
}

func TestANegativeCooldownOutIsRefusedUnderEveryPolicy(t *testing.T) {
	for _, policy := range []string{PolicyPredictive, PolicyTarget} {
		_, err := Parse([]byte(cooldownGroup("    policy: " + policy + "\n    scaling: {cooldown_out: -1m}\n")))
		if err == nil || !strings.Contains(err.Error(), "scaling.cooldown_out") {
			t.Errorf("%s: cooldown_out -1m: error %v, want it to name scaling.cooldown_out", policy, err)
		}
	}
}
