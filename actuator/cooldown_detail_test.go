package actuator

import (
	"testing"
	"time"
)

func TestCooldownRefusalSaysWholeSecondsLeft(t *testing.T) {
	g := testGroup(t, "cooldown_out: 5m")
	for _, tc := range []struct {
		name    string
		lastOut time.Time
		want    string
	}{
		{"a fraction of a second rounds up to the next second", t0.Add(-5*time.Minute + 16003665387*time.Nanosecond), "17s left"},
		{"whole seconds stay as they are", t0.Add(-4 * time.Minute), "1m0s left"},
		{"the last fraction of a second still reads 1s, never 0s", t0.Add(-5*time.Minute + time.Millisecond), "1s left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := GroupState{LastOut: tc.lastOut}
			d := Decide(t0, g, false, inService(4), &local, target(ScaleOut, 6))
			for _, v := range d.Guards {
				if v.Guard == GuardCooldown && !v.Pass {
					if v.Detail != tc.want {
						t.Errorf("cooldown detail %q, want %q", v.Detail, tc.want)
					}
					return
				}
			}
			t.Fatalf("no cooldown refusal in %+v", d.Guards)
		})
	}
}
