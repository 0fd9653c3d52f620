package collector

import (
	"math"
	"sync"
	"time"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// historyWindow is what the advisor summary covers; historyCap bounds the
// memory per group and signal whatever the interval.
const (
	historyWindow = 24 * time.Hour
	historyCap    = 1440
	// historyMaxGap is the most one sample stands for in the outcome seconds: a
	// stalled exporter must not count its silence as time above a threshold.
	historyMaxGap = 10 * time.Minute
)

// history keeps the recent values of the signals the advisor tunes, the
// in-service and desired counts, per group, for advisor summaries.
type history struct {
	mu     sync.Mutex
	groups map[string]*groupHistory
}

type groupHistory struct {
	times     []time.Time
	values    map[advisor.Signal][]float64 // NaN where the signal was stale
	instances []float64
	desired   []int
	current   advisor.Settings
}

func (h *history) record(now time.Time, group string, sigs map[string]point, inService, desired int, cur advisor.Settings) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.groups == nil {
		h.groups = map[string]*groupHistory{}
	}
	g := h.groups[group]
	if g == nil {
		g = &groupHistory{values: map[advisor.Signal][]float64{}}
		h.groups[group] = g
	}
	drop := 0
	for drop < len(g.times) && (now.Sub(g.times[drop]) > historyWindow || len(g.times)-drop >= historyCap) {
		drop++
	}
	g.times = append(g.times[drop:], now)
	g.instances = append(g.instances[drop:], float64(inService))
	g.desired = append(g.desired[drop:], desired)
	for _, s := range advisor.Signals() {
		v := math.NaN()
		if p, ok := sigs[string(s)]; ok {
			v = p.value
		}
		g.values[s] = append(g.values[s][drop:], v)
	}
	g.current = cur
}

// retain forgets groups no longer configured.
func (h *history) retain(cfg *config.Config) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name := range h.groups {
		if _, ok := cfg.Group(name); !ok {
			delete(h.groups, name)
		}
	}
}

// Summaries describes every group's recent history for the advisor. It only
// reads memory, so the advisor never waits on a collection.
func (c *Collector) Summaries(now time.Time) []advisor.Summary {
	h := &c.history
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []advisor.Summary
	for name, g := range h.groups {
		if len(g.times) == 0 {
			continue
		}
		s := advisor.Summary{Group: name, Window: now.Sub(g.times[0]), Current: g.current, Signals: map[advisor.Signal]advisor.SignalStats{}}
		for _, sig := range advisor.Signals() {
			band, on := g.current.Thresholds[sig]
			if !on {
				continue // disabled for the group: the advisor is not asked about it
			}
			st := advisor.SummariseSignal(g.times, g.values[sig], band)
			if st.Samples > 0 {
				s.Signals[sig] = st
			}
		}
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for _, n := range g.instances {
			lo, hi, sum = math.Min(lo, n), math.Max(hi, n), sum+n
		}
		s.Outcomes.MinInstances, s.Outcomes.MaxInstances = int(lo), int(hi)
		s.Outcomes.MeanInstances = sum / float64(len(g.instances))
		g.outcomes(&s.Outcomes)
		s.Demand = g.demand(name)
		out = append(out, s)
	}
	return out
}

// outcomes fills what scaling did over the window: the changes of the desired
// count (the group's own actions, whoever decided them), the time the response
// time spent above its scale-out threshold, and the time every signal with data
// spent below its scale-in threshold, against the thresholds in force now. Each
// sample stands for the time to the next, at most historyMaxGap. Refusals are
// the actuator's and are not observable here: Refused stays 0.
func (g *groupHistory) outcomes(o *advisor.Outcomes) {
	for i := 1; i < len(g.desired); i++ {
		switch d := g.desired[i] - g.desired[i-1]; {
		case d > 0:
			o.ScaleOuts++
		case d < 0:
			o.ScaleIns++
		}
	}
	rt, hasRT := g.current.Thresholds[advisor.ResponseTime]
	for i := 0; i+1 < len(g.times); i++ {
		dt := min(g.times[i+1].Sub(g.times[i]), historyMaxGap).Seconds()
		if v := g.values[advisor.ResponseTime][i]; hasRT && v > rt.Out {
			o.ViolationSeconds += dt
		}
		idle, seen := true, false
		for sig, b := range g.current.Thresholds {
			vs, tuned := g.values[sig]
			if !tuned || math.IsNaN(vs[i]) {
				continue
			}
			seen = true
			idle = idle && vs[i] < b.In
		}
		if seen && idle {
			o.IdleSeconds += dt
		}
	}
}

// settingsOf is the advisor's view of the thresholds and weights in force. It
// holds every enabled signal, tuned or not, so the advisor can check the sum of
// all weights; a disabled signal is absent.
func settingsOf(p scoring.Params) advisor.Settings {
	s := advisor.Settings{Thresholds: map[advisor.Signal]advisor.Band{}, Weights: map[advisor.Signal]float64{}, TrendWeight: p.TrendWeight}
	for _, sig := range scoring.Signals() {
		if th, ok := p.Thresholds[sig]; ok {
			s.Thresholds[advisor.Signal(sig)] = advisor.Band{Out: th.Out, In: th.In}
			s.Weights[advisor.Signal(sig)] = p.Weights[sig]
		}
	}
	return s
}
