package collector

import (
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/config"
)

// The prompt's outcomes come from the recorded history: actions from changes of
// the desired count, seconds from the time each signal spent past its thresholds.
func TestSummaryOutcomesComeFromTheHistory(t *testing.T) {
	cur := advisor.SeedSettings() // cpu in below 0.30, response_time out above 2 s
	type sample struct {
		after   time.Duration // since the previous sample
		desired int
		cpu, rt float64
	}
	tests := []struct {
		name    string
		samples []sample
		want    advisor.Outcomes
	}{
		{
			name: "each rise of the desired count is a scale-out, each fall a scale-in",
			samples: []sample{
				{0, 2, 0.5, 1}, {time.Minute, 3, 0.5, 1}, {time.Minute, 3, 0.5, 1}, {time.Minute, 2, 0.5, 1}, {time.Minute, 4, 0.5, 1},
			},
			want: advisor.Outcomes{ScaleOuts: 2, ScaleIns: 1},
		},
		{
			name: "a sample above response_time's scale_out counts until the next sample",
			samples: []sample{
				{0, 2, 0.5, 3}, {time.Minute, 2, 0.5, 3}, {time.Minute, 2, 0.5, 1}, {time.Minute, 2, 0.5, 1},
			},
			want: advisor.Outcomes{ViolationSeconds: 120},
		},
		{
			name: "idle time needs every signal with data below its scale_in",
			samples: []sample{
				{0, 2, 0.1, 0.1}, {time.Minute, 2, 0.1, 1}, {time.Minute, 2, 0.1, 0.1}, {time.Minute, 2, 0.1, 0.1},
			},
			want: advisor.Outcomes{IdleSeconds: 120},
		},
		{
			name: "a gap in the history counts at most historyMaxGap",
			samples: []sample{
				{0, 2, 0.5, 3}, {time.Hour, 2, 0.5, 1},
			},
			want: advisor.Outcomes{ViolationSeconds: historyMaxGap.Seconds()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Collector{}
			now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
			for _, s := range tt.samples {
				now = now.Add(s.after)
				sigs := map[string]point{config.SignalCPU: {at: now, value: s.cpu}, config.SignalResponseTime: {at: now, value: s.rt}}
				c.history.record(now, "web", sigs, 2, s.desired, cur)
			}
			sums := c.Summaries(now)
			if len(sums) != 1 {
				t.Fatalf("%d summaries, want 1", len(sums))
			}
			got := sums[0].Outcomes
			got.MinInstances, got.MaxInstances, got.MeanInstances = 0, 0, 0
			if got != tt.want {
				t.Errorf("outcomes = %+v, want %+v", got, tt.want)
			}
		})
	}
}
