package world

import (
	"math"
	"time"
)

// shape is the scenario's demand at offset from the world start, as a
// fraction of peak (0..1, a trace may exceed 1 only if it was not normalised).
func (d *DemandConfig) shape(offset time.Duration) float64 {
	switch d.Scenario {
	case ScenarioConstant:
		return d.Level
	case ScenarioRamp:
		if offset >= d.Duration {
			return d.To
		}
		f := float64(offset) / float64(d.Duration)
		return d.From + (d.To-d.From)*f
	case ScenarioDiurnal:
		phase := 2 * math.Pi * float64(offset-d.PeakAt) / float64(d.Period)
		return d.Base + (1-d.Base)*(0.5+0.5*math.Cos(phase))
	case ScenarioSpike:
		in := offset - d.SpikeAt
		if in >= 0 && d.SpikeEvery > 0 {
			in %= d.SpikeEvery
		}
		if in >= 0 && in < d.Duration {
			return 1
		}
		return d.Base
	case ScenarioTrace:
		return d.traceAt(offset)
	}
	return 0
}

// traceAt interpolates the trace linearly, looping it, normalised to its maximum.
func (d *DemandConfig) traceAt(offset time.Duration) float64 {
	s := d.Trace
	n := len(s.Values)
	if n == 0 || d.traceMax <= 0 {
		return 0
	}
	pos := float64(offset) * d.TraceSpeedup / float64(s.Step)
	pos = math.Mod(pos, float64(n))
	if pos < 0 {
		pos += float64(n)
	}
	i := int(pos)
	frac := pos - float64(i)
	a := s.Values[i%n]
	b := s.Values[(i+1)%n]
	v := a + (b-a)*frac
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return v / d.traceMax
}

// peakDemand is the request rate at shape 1.
func (g *GroupConfig) peakDemand() float64 {
	return g.Demand.PeakInstances * g.CapacityPerInstance * g.Demand.TargetUtilization
}
