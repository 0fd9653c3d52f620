package demo

import (
	"context"
	"fmt"
	"time"
)

// Phase is one stretch of the scenario at a constant demand multiplier.
type Phase struct {
	Name       string
	Length     time.Duration
	Multiplier float64
}

// Scenario is the demand the demo puts on every group, phase after phase.
type Scenario struct {
	Phases []Phase
}

// Phase names the summary and the e2e test look for.
const (
	PhaseCalm  = "calm"
	PhaseSpike = "load spike"
	PhaseAfter = "calm again"
)

// SpikeScenario is calm, then a load spike, then calm again, in proportions
// that leave time to scale out during the spike and to scale in after it.
func SpikeScenario(total time.Duration, spike float64) Scenario {
	calm := total * 15 / 100
	high := total * 30 / 100
	return Scenario{Phases: []Phase{
		{Name: PhaseCalm, Length: calm, Multiplier: 1},
		{Name: PhaseSpike, Length: high, Multiplier: spike},
		{Name: PhaseAfter, Length: total - calm - high, Multiplier: 1},
	}}
}

// Length is the whole scenario's duration.
func (s Scenario) Length() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		d += p.Length
	}
	return d
}

// At returns the phase running at offset and its index (-1 past the end).
func (s Scenario) At(offset time.Duration) (Phase, int) {
	var start time.Duration
	for i, p := range s.Phases {
		if offset < start+p.Length {
			return p, i
		}
		start += p.Length
	}
	return Phase{}, -1
}

// Start returns the offset at which the named phase begins.
func (s Scenario) Start(name string) (time.Duration, bool) {
	var start time.Duration
	for _, p := range s.Phases {
		if p.Name == name {
			return start, true
		}
		start += p.Length
	}
	return 0, false
}

// Validate refuses a scenario that cannot run.
func (s Scenario) Validate() error {
	if len(s.Phases) == 0 {
		return fmt.Errorf("scenario: no phases")
	}
	for _, p := range s.Phases {
		if p.Length <= 0 || p.Multiplier < 0 {
			return fmt.Errorf("scenario: phase %q: length %s must be positive and multiplier %g not negative", p.Name, p.Length, p.Multiplier)
		}
	}
	return nil
}

// drive applies each phase's multiplier to every group when the phase starts,
// and returns when the scenario is over or ctx is done. onPhase is told of
// each phase as it begins.
func drive(ctx context.Context, sim Simcloud, groups []string, s Scenario, onPhase func(i int, p Phase)) error {
	for i, p := range s.Phases {
		for _, g := range groups {
			// The multiplier is applied again on failure: simcloud may be busy.
			var err error
			for try := 0; try < 5; try++ {
				if err = sim.SetDemandMultiplier(ctx, g, p.Multiplier); err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				return fmt.Errorf("scenario phase %q: setting the demand of group %q: %w", p.Name, g, err)
			}
		}
		if onPhase != nil {
			onPhase(i, p)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.Length):
		}
	}
	return nil
}
