package collector

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/advisor"
)

func TestDemandIsCPUTimesInstancesOverTheLatestStretch(t *testing.T) {
	nan := math.NaN()
	at := func(mins ...int) []time.Time {
		var out []time.Time
		for _, m := range mins {
			out = append(out, simStart.Add(time.Duration(m)*time.Minute))
		}
		return out
	}
	tests := []struct {
		name      string
		times     []time.Time
		cpu       []float64
		instances []float64
		start     time.Time
		want      []float64
	}{
		{"one sample a minute gives busy instances a minute", at(0, 1, 2), []float64{0.5, 0.25, 1}, []float64{2, 4, 3},
			simStart, []float64{1, 1, 3}},
		{"a sample holds until the next", at(0, 2, 5), []float64{0.5, 0.1, 0.2}, []float64{2, 2, 2},
			simStart, []float64{1, 1, 0.2, 0.2, 0.2, 0.4}},
		{"a stale CPU value holds the last known load", at(0, 1, 2), []float64{0.5, nan, 0.2}, []float64{2, 3, 2},
			simStart, []float64{1, 1, 0.4}},
		{"history before a gap above ten minutes is not replayed", at(0, 1, 20, 21, 22), []float64{0.9, 0.9, 0.5, 0.5, 0.5}, []float64{2, 2, 2, 2, 2},
			simStart.Add(20 * time.Minute), []float64{1, 1, 1}},
		{"the stretch starts at its first CPU value", at(0, 1, 2), []float64{nan, 0.5, 0.5}, []float64{2, 2, 2},
			simStart.Add(time.Minute), []float64{1, 1}},
		{"no CPU value at all is no demand", at(0, 1), []float64{nan, nan}, []float64{2, 2},
			time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &groupHistory{times: tt.times, instances: tt.instances, values: map[advisor.Signal][]float64{advisor.CPU: tt.cpu}}
			d := g.demand("web")
			if d.Step != time.Minute || d.Name != "web" {
				t.Errorf("step %s, name %q: want 1m and the group's name", d.Step, d.Name)
			}
			if len(tt.want) > 0 && !d.Start.Equal(tt.start) {
				t.Errorf("starts at %s, want %s", d.Start, tt.start)
			}
			if !slices.Equal(d.Values, tt.want) {
				t.Errorf("demand %v, want %v", d.Values, tt.want)
			}
		})
	}
}
