package backtest

import (
	"context"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

// flashCrowd is half an hour quiet, then demand six times as high for
// forty minutes: more than one doubling away, so each policy scales out as
// often as its cooldown lets it.
func flashCrowd() trace.Series {
	vals := []float64{}
	for i := range 80 { // 1-minute steps
		v := 15.0
		if i >= 30 && i < 70 {
			v = 90
		}
		vals = append(vals, v)
	}
	return trace.Series{Name: "flash-crowd", Start: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC), Step: time.Minute, Values: vals}
}

// scaleOutGaps are the minutes between successive rises of the desired
// count. The cooldown runs from the request, so a cooldown of c apart two
// rises seen at minute steps are at least c apart too.
func scaleOutGaps(s *Series) []int {
	var gaps []int
	last := -1
	for k := 1; k < len(s.Desired); k++ {
		if s.Desired[k] > s.Desired[k-1] {
			if last >= 0 {
				gaps = append(gaps, k-last)
			}
			last = k
		}
	}
	return gaps
}

// One config that leaves cooldown_out out replays target with 300 s and
// predictive with 60 s: target never scales out twice within five minutes,
// predictive does on the flash crowd. Written, 300 s holds predictive too.
func TestEachPolicyReplaysItsOwnDefaultCooldownOut(t *testing.T) {
	run := func(c *config.Config) *Result {
		t.Helper()
		res, err := Run(context.Background(), flashCrowd(), []Policy{PolicyTarget, PolicyPredictive},
			Options{Config: c, Rules: loadRules(t), KeepSeries: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	parse := func(scaling string) *config.Config {
		t.Helper()
		c, err := config.Parse([]byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n    max_instances: 20\n" + scaling))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	within := func(gaps []int, minutes int) bool {
		for _, g := range gaps {
			if g < minutes {
				return true
			}
		}
		return false
	}
	def := run(parse(""))
	target, predictive := scaleOutGaps(def.Series[PolicyTarget]), scaleOutGaps(def.Series[PolicyPredictive])
	t.Logf("default: target's gaps %v, predictive's %v (minutes)", target, predictive)
	if len(target) == 0 || within(target, 5) {
		t.Errorf("target scaled out again after %v minutes: want at least two scale-outs, 5 minutes (300 s) apart", target)
	}
	if !within(predictive, 5) {
		t.Errorf("predictive's scale-outs came %v minutes apart: want one within 5 minutes under its 60 s cooldown", predictive)
	}
	written := run(parse("    scaling: {cooldown_out: 300s}\n"))
	if gaps := scaleOutGaps(written.Series[PolicyPredictive]); len(gaps) == 0 || within(gaps, 5) {
		t.Errorf("with cooldown_out: 300s written, predictive scaled out again after %v minutes", gaps)
	}
}
