package actuator

import (
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// A cooldown the file sets to 0s is no cooldown: the second scale-out a
// second after the first is applied. Left out, the 5m default refuses it.
func TestAZeroCooldownFromTheFileAllowsAnImmediateSecondAction(t *testing.T) {
	zero, err := config.Load("../config/testdata/zero/cooldown_out.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    *config.Group
		want string
	}{
		{"cooldown_out: 0s acts again at once", &zero.Groups[0], OutcomeApplied},
		{"the default 5m cooldown refuses", testGroup(t, ""), OutcomeRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s GroupState
			first := Decide(t0, tc.g, false, inService(4), &s, target(ScaleOut, 6))
			if first.Outcome != OutcomeApplied {
				t.Fatalf("first scale-out: %+v", first)
			}
			s.Record(t0, tc.g, target(ScaleOut, 6), first)
			second := Decide(t0.Add(time.Second), tc.g, false, inService(6), &s, target(ScaleOut, 8))
			if second.Outcome != tc.want {
				t.Errorf("second scale-out 1s later: %s (%s), want %s", second.Outcome, second.Reason, tc.want)
			}
		})
	}
}
