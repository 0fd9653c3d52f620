package scoring

import (
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScoreIsTheSeedFormula(t *testing.T) {
	d := Defaults().Thresholds
	for _, tc := range []struct {
		name string
		sig  Signal
		v    float64
		th   Threshold
		want float64
	}{
		{"CPU 85% scores (85-70)/30 = 0.5", CPU, 0.85, d[CPU], 0.5},
		{"CPU 100% scores 1", CPU, 1.0, d[CPU], 1},
		{"CPU between the thresholds scores 0", CPU, 0.5, d[CPU], 0},
		{"CPU exactly at the out threshold scores 0", CPU, 0.7, d[CPU], 0},
		{"CPU 15% scores (15-30)/30 = -0.5", CPU, 0.15, d[CPU], -0.5},
		{"CPU 0% scores -1", CPU, 0, d[CPU], -1},
		{"memory 90% scores (90-80)/20 = 0.5", Memory, 0.9, d[Memory], 0.5},
		{"memory 20% scores (20-40)/40 = -0.5", Memory, 0.2, d[Memory], -0.5},
		{"response time 3500 ms scores (3500-2000)/3000 = 0.5", ResponseTime, 3.5, d[ResponseTime], 0.5},
		{"response time 10 s is capped at 1", ResponseTime, 10, d[ResponseTime], 1},
		{"response time 250 ms scores (250-500)/500 = -0.5", ResponseTime, 0.25, d[ResponseTime], -0.5},
		{"queue 150 scores 150/200 = 0.75", Queue, 150, d[Queue], 0.75},
		{"queue just above 100 jumps to about 0.5, as the article's code does", Queue, 101, d[Queue], 101.0 / 200},
		{"queue 400 is capped at 1", Queue, 400, d[Queue], 1},
		{"queue 25 scores (25-50)/50 = -0.5", Queue, 25, d[Queue], -0.5},
		{"CPU out 0.8 generalises to (v-out)/(1-out)", CPU, 0.9, Threshold{Out: 0.8, In: 0.2}, 0.5},
		{"CPU in 0.2 generalises to (v-in)/in", CPU, 0.1, Threshold{Out: 0.8, In: 0.2}, -0.5},
		{"response time out 1 s generalises to (v-out)/(1.5*out)", ResponseTime, 1.75, Threshold{Out: 1, In: 0.2}, 0.5},
		{"queue out 50 generalises to q/(2*out)", Queue, 50.5, Threshold{Out: 50, In: 10}, 0.505},
		{"GPU uses the ratio formula", GPU, 0.85, d[GPU], 0.5},
		{"NaN scores 0", CPU, math.NaN(), d[CPU], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Score(tc.sig, tc.v, tc.th); !near(got, tc.want) {
				t.Errorf("Score(%s, %v) = %v, want %v", tc.sig, tc.v, got, tc.want)
			}
		})
	}
}

func TestTrend(t *testing.T) {
	ramp := func(n int, start, step float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = start + float64(i)*step
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		sig    Signal
		values []float64
		want   float64
	}{
		{"fewer than 10 samples give 0", CPU, ramp(9, 0.5, 0.01), 0},
		{"CPU rising 1 point per sample gives tanh(1/10)", CPU, ramp(10, 0.5, 0.01), math.Tanh(0.1)},
		{"CPU falling 5 points per sample gives tanh(-5/10)", CPU, ramp(12, 0.9, -0.05), math.Tanh(-0.5)},
		{"only the last 10 samples count", CPU, append(ramp(5, 0, 0.2), ramp(10, 0.5, 0.01)...), math.Tanh(0.1)},
		{"a flat series gives 0", CPU, ramp(10, 0.5, 0), 0},
		{"response time slope is in ms per sample", ResponseTime, ramp(10, 1, 0.01), math.Tanh(1)},
		{"queue slope is in items per sample", Queue, ramp(10, 10, 2), math.Tanh(0.2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Trend(tc.sig, tc.values, 10); !near(got, tc.want) {
				t.Errorf("Trend = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestComposite(t *testing.T) {
	w := Defaults().Weights
	for _, tc := range []struct {
		name   string
		scores map[Signal]float64
		trend  float64
		want   float64
	}{
		{"weighted sum of the seed weights", map[Signal]float64{CPU: 0.5, Memory: 0.5, ResponseTime: 0.5, Queue: 0.5}, 0, 0.475},
		{"a signal with no data contributes 0", map[Signal]float64{CPU: 1}, 0, 0.3},
		{"the trend carries the 0.05 the error rate would have had", map[Signal]float64{}, 1, 0.05},
		{"everything at its maximum gives 1", map[Signal]float64{CPU: 1, Memory: 1, ResponseTime: 1, Queue: 1}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Composite(tc.scores, w, tc.trend, 0.05); !near(got, tc.want) {
				t.Errorf("Composite = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDefaultsAreValidAndTheSeedTable(t *testing.T) {
	p := Defaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[Signal]float64{CPU: 0.30, Memory: 0.25, ResponseTime: 0.25, Queue: 0.15}
	for s, w := range want {
		if p.Weights[s] != w {
			t.Errorf("weight of %s = %v, want %v", s, p.Weights[s], w)
		}
	}
	if p.TrendWeight != 0.05 || p.Thresholds[CPU] != (Threshold{0.7, 0.3}) || p.Thresholds[ResponseTime] != (Threshold{2, 0.5}) {
		t.Errorf("defaults drifted from the seed table: %+v", p)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Params)
		want   string
	}{
		{"out must be above in", func(p *Params) { p.Thresholds[CPU] = Threshold{Out: 0.2, In: 0.3} }, "thresholds.cpu: out 0.2 must be above in 0.3"},
		{"ratios are not percent", func(p *Params) { p.Thresholds[Memory] = Threshold{Out: 80, In: 40} }, "thresholds.memory: out 80 must be below 1"},
		{"unknown signals are refused", func(p *Params) { p.Weights["disk"] = 0.01 }, "weights.disk: unknown signal"},
		{"weights may not exceed 1 in total", func(p *Params) { p.Weights[CPU] = 0.9 }, "weights: sum"},
		{"negative weights are refused", func(p *Params) { p.Weights[CPU] = -0.1 }, "weights.cpu: -0.1 must be 0 or more"},
		{"a weighted signal needs thresholds", func(p *Params) { delete(p.Thresholds, Queue) }, "weights.queue: weighted signal has no thresholds"},
		{"utilisation targets are ratios", func(p *Params) { p.Targets[CPU] = 60 }, "targets.cpu: 60 must be at most 1"},
		{"tolerance within [0,1)", func(p *Params) { p.Tolerance = 1 }, "tolerance: 1 must be in [0, 1)"},
		{"horizons are needed", func(p *Params) { p.Forecast.Horizons = nil }, "forecast.horizons"},
		{"coarse step divides a day", func(p *Params) { p.Forecast.CoarseStep = 7 * 60e9 }, "forecast.coarse_step"},
		{"stale_after is positive", func(p *Params) { p.StaleAfter = 0 }, "stale_after"},
		{"error weight in (0,1]", func(p *Params) { p.Forecast.ErrorWeight = 0 }, "forecast.error_weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Defaults()
			tc.change(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
