package scoring

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// Whatever the samples (spikes, NaN, Inf, repeats, gaps, clock jumps back),
// the group stays within its memory bound, publishes only finite forecasts,
// and keeps every recommendation inside min..max.
func TestGroupInvariantsUnderArbitraryInput(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		g, err := NewGroup(Defaults())
		if err != nil {
			rt.Fatal(err)
		}
		lo := rapid.IntRange(0, 5).Draw(rt, "min")
		hi := lo + rapid.IntRange(0, 30).Draw(rt, "span")
		n := rapid.IntRange(0, 40).Draw(rt, "current")
		value := rapid.OneOf(
			rapid.Float64Range(0, 1),
			rapid.Float64Range(-1e6, 1e9),
			rapid.SampledFrom([]float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, 1e308}),
		)
		step := rapid.SampledFrom([]time.Duration{0, 10 * time.Second, time.Minute, time.Minute, 5 * time.Minute, 3 * time.Hour, -2 * time.Minute})
		sig := rapid.SampledFrom([]Signal{CPU, Memory, Queue, ResponseTime, GPU})
		at := t0
		bound := g.fc.maxBytes()
		steps := rapid.IntRange(1, 400).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			at = at.Add(step.Draw(rt, "step"))
			if err := g.Observe(at, sig.Draw(rt, "signal"), value.Draw(rt, "value")); err != nil {
				rt.Fatal(err)
			}
			if i%7 != 0 {
				continue
			}
			r := g.Evaluate(at, GroupState{Current: n, Min: lo, Max: hi})
			for _, p := range Policies() {
				if v := r.Recommended[p]; v < lo || (hi > 0 && v > hi) {
					rt.Fatalf("%s recommends %d outside %d..%d", p, v, lo, hi)
				}
			}
			if math.IsNaN(r.Composite) || r.Composite < -1 || r.Composite > 1 {
				rt.Fatalf("composite %v", r.Composite)
			}
			for _, sr := range r.Signals {
				if sr.Bytes > bound {
					rt.Fatalf("%s holds %d bytes, above %d", sr.Signal, sr.Bytes, bound)
				}
				if sr.Score < -1 || sr.Score > 1 || math.IsNaN(sr.Score) || math.IsNaN(sr.Trend) {
					rt.Fatalf("%s score %v trend %v", sr.Signal, sr.Score, sr.Trend)
				}
				for _, f := range sr.Forecasts {
					if !finite(f.Value) || f.Value < 0 {
						rt.Fatalf("%s forecast %+v", sr.Signal, f)
					}
				}
			}
		}
	})
}
