package backtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/trace"
)

// step is two quiet hours, then a jump to the peak held for two hours, then
// quiet again: the scale-out has to come from where the pool helps.
func step() trace.Series {
	vals := []float64{}
	for i := range 72 { // 5-minute steps, 6 hours
		v := 15.0
		if i >= 24 && i < 48 {
			v = 100
		}
		vals = append(vals, v)
	}
	return trace.Series{Name: "step", Start: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC), Step: 5 * time.Minute, Values: vals}
}

func TestWarmPoolShortensTheStepsViolations(t *testing.T) {
	// A slow boot (3 minutes, a model loading into memory) and a pool large
	// enough for the whole jump: the pool's 15 s start is what changes.
	base := Options{Rules: loadRules(t), BootDelay: 3 * time.Minute}
	variant := base
	variant.Pool = PoolOptions{Size: 12}
	res, err := Compare(context.Background(), step(), []Policy{PolicyTarget, PolicyPredictive}, base, variant)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Policies) != 2 {
		t.Fatalf("%d policies compared, want 2", len(res.Policies))
	}
	for _, pr := range res.Policies {
		p, a, b := pr.Policy, pr.Base, pr.Variant
		t.Logf("%s: without %.2f h / %d min, with %.2f h (pool %.2f stopped h) / %d min", p, a.InstanceHours, a.ViolationMinutes, b.InstanceHours, b.PoolHours, b.ViolationMinutes)
		if a.ViolationMinutes == 0 {
			t.Fatalf("%s: the step broke no SLO minute without a pool: the test shows nothing", p)
		}
		if b.ViolationMinutes >= a.ViolationMinutes {
			t.Errorf("%s: %d violation minutes with a pool of 12, %d without: the faster start must cut them", p, b.ViolationMinutes, a.ViolationMinutes)
		}
		if b.PoolHours <= 0 || a.PoolHours != 0 {
			t.Errorf("%s: pool hours %.2f with, %.2f without: only the pooled run keeps stopped instances", p, b.PoolHours, a.PoolHours)
		}
		// The pool is billed for its disk: the cost rises by at most the
		// pool's stopped hours at the stopped cost, plus what serving sooner costs.
		if b.InstanceHours < a.InstanceHours-1 {
			t.Errorf("%s: %.2f instance-hours with the pool, %.2f without: a pool should not make serving much cheaper", p, b.InstanceHours, a.InstanceHours)
		}
	}
	var out bytes.Buffer
	if err := res.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "warm pool of 12") {
		t.Errorf("the comparison does not name the pool:\n%s", out.String())
	}
}

func TestWarmPoolOptionsAreChecked(t *testing.T) {
	cases := []struct {
		name string
		pool PoolOptions
		want string
	}{
		{"a negative pool", PoolOptions{Size: -1}, "--warm-pool -1 is negative"},
		{"a stopped cost above a running one", PoolOptions{Size: 1, StoppedCost: 1.5}, "--warm-pool.stopped-cost 1.5 must be a fraction"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.pool.withDefaults()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
		})
	}
	p, err := PoolOptions{Size: 2}.withDefaults()
	if err != nil || p.StartDelay != 15*time.Second || p.StoppedCost < 0.07 || p.StoppedCost > 0.08 {
		t.Fatalf("defaults %+v %v: want a 15s start and a stopped cost of the 40 GB disk over the flavour's price (0.077)", p, err)
	}
}
