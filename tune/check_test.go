package tune

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/trace"
)

const checkSeedGroup = `cloud:
  region: cn-north-4
  project_id: check
groups:
  - name: web
    discovery: {as_group_id: web}
    min_instances: 1
    max_instances: 20
    policy: seed
`

func checkOpts(src string) Options {
	return Options{Config: []byte(src), LoadRules: func() (*backtest.Rules, error) {
		return backtest.LoadRules("../rules", backtest.RuleOptions{EvalInterval: time.Minute, ActionOnly: true, Logger: promslog.NewNopLogger()})
	}}
}

// checkRamps climbs sharply every two hours for half a day.
func checkRamps() trace.Series {
	tr := trace.Series{Name: "ramps", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: 5 * time.Minute}
	for i := range 144 {
		tr.Values = append(tr.Values, 20+80*float64(i%24)/23)
	}
	return tr
}

func TestCheckChangeLaysThePresentSettingsOverTheConfig(t *testing.T) {
	ctx := context.Background()
	applied := cpuAloneKnobs(0.6, 0.4)
	proposed := cpuAloneKnobs(0.8, 0.2)
	over, err := CheckChange(ctx, checkRamps(), checkOpts(checkSeedGroup), applied, proposed)
	if err != nil {
		t.Fatal(err)
	}
	// The same settings written into the file replay the same.
	src, err := apply([]byte(checkSeedGroup), "web", applied)
	if err != nil {
		t.Fatal(err)
	}
	written, err := CheckChange(ctx, checkRamps(), checkOpts(string(src)), Point{}, proposed)
	if err != nil {
		t.Fatal(err)
	}
	if !replayedAlike(over.Present, written.Present) || !replayedAlike(over.Proposed, written.Proposed) {
		t.Errorf("laid over: present %+v proposed %+v; written: present %+v proposed %+v", over.Present, over.Proposed, written.Present, written.Proposed)
	}
	if over.Present.Settings[Of("cpu", "weight")] != 0.9 {
		t.Errorf("present settings %v, want the applied ones reported", over.Present.Settings)
	}
}

func TestCheckChangeReplaysWeights(t *testing.T) {
	// The seed loop acts on the weighted sum of the signals' scores: moving
	// every weight onto CPU changes what it does.
	c, err := CheckChange(context.Background(), checkRamps(), checkOpts(checkSeedGroup), Point{}, cpuAloneKnobs(0.7, 0.3))
	if err != nil {
		t.Fatal(err)
	}
	if replayedAlike(c.Present, c.Proposed) {
		t.Errorf("the seed's weights and CPU's alone replay the same, %+v: the weights were not replayed", c.Present)
	}
}

// cpuAloneKnobs is a CPU band with every tuned weight on CPU.
func cpuAloneKnobs(out, in float64) Point {
	return Point{Of("cpu", FieldScaleOut): out, Of("cpu", FieldScaleIn): in,
		Of("cpu", "weight"): 0.9, Of("memory", "weight"): 0, Of("response_time", "weight"): 0, Of("queue", "weight"): 0}
}

func replayedAlike(a, b Outcome) bool {
	return a.InstanceHours == b.InstanceHours && a.ViolationMinutes == b.ViolationMinutes && a.ScalingActions == b.ScalingActions
}
