package scoring

import (
	"testing"
	"time"
)

func TestAcceleratorsCountOnlyWhileTheyHaveData(t *testing.T) {
	state := GroupState{Current: 10, Min: 1, Max: 20}
	for _, tc := range []struct {
		name    string
		signals map[Signal]float64
		want    float64
	}{
		{"a CPU pool scores exactly the article's weighted sum", map[Signal]float64{CPU: 1, Memory: 1, ResponseTime: 5, Queue: 200}, 0.95},
		{"a saturated GPU pool counts its GPU, renormalised to stay within 1",
			map[Signal]float64{CPU: 1, Memory: 1, ResponseTime: 5, Queue: 200, GPU: 1}, (0.95 + 0.30) / (1 + 0.30)},
		{"an idle-CPU GPU pool still scales out on GPU utilisation",
			map[Signal]float64{CPU: 0.5, Memory: 0.5, GPU: 1, GPUMemory: 1}, (0.30 + 0.15) / (1 + 0.30 + 0.15)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(t, nil)
			for s, v := range tc.signals {
				feed(t, g, s, t0, 5, time.Minute, func(int) float64 { return v })
			}
			r := g.Evaluate(t0.Add(4*time.Minute), state)
			if !near(r.Composite, tc.want) {
				t.Errorf("composite = %v, want %v", r.Composite, tc.want)
			}
		})
	}
}

func TestResponseTimeTargetIsInSeconds(t *testing.T) {
	g := newTestGroup(t, nil)
	target := Defaults().Targets[ResponseTime]
	feed(t, g, ResponseTime, t0, 5, time.Minute, func(int) float64 { return 2 * target })
	r := g.Evaluate(t0.Add(4*time.Minute), GroupState{Current: 5, Min: 1, Max: 20})
	if target != 1 || r.Recommended[PolicyTarget] != 10 {
		t.Errorf("target %v s, recommended %d at twice the target: want 1 s and 10 (double of 5)", target, r.Recommended[PolicyTarget])
	}
}

func TestSignalTableIsCompleteAndConsistent(t *testing.T) {
	fixed := DefaultTrendWeight
	for _, r := range SignalTable() {
		if r.Threshold.Out <= r.Threshold.In || r.HoldOut <= 0 || r.HoldIn <= 0 || r.Title == "" {
			t.Errorf("%s: needs out above in, positive holds and a title: %+v", r.Signal, r)
		}
		if r.Tuned && (r.Threshold.Out < r.Guardrail.Out.Min || r.Threshold.Out > r.Guardrail.Out.Max ||
			r.Threshold.In < r.Guardrail.In.Min || r.Threshold.In > r.Guardrail.In.Max) {
			t.Errorf("%s: the article's thresholds %+v lie outside the advisor's guardrail %+v", r.Signal, r.Threshold, r.Guardrail)
		}
		if !r.Accelerator {
			fixed += r.Weight
		}
	}
	if !near(fixed, 1) {
		t.Errorf("the article's weights plus the trend sum to %v, want 1", fixed)
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("the defaults must validate: %v", err)
	}
}
