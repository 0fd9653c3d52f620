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
)

// history keeps the recent values of the signals the advisor tunes and the
// in-service count, per group, for advisor summaries.
type history struct {
	mu     sync.Mutex
	groups map[string]*groupHistory
}

type groupHistory struct {
	times     []time.Time
	values    map[advisor.Signal][]float64 // NaN where the signal was stale
	instances []float64
	current   advisor.Settings
}

func (h *history) record(now time.Time, group string, sigs map[string]point, inService int, cur advisor.Settings) {
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
			st := advisor.SummariseSignal(g.times, g.values[sig], g.current.Thresholds[sig])
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
		out = append(out, s)
	}
	return out
}

// settingsOf is the advisor's view of the thresholds and weights in force.
func settingsOf(p scoring.Params) advisor.Settings {
	s := advisor.Settings{Thresholds: map[advisor.Signal]advisor.Band{}, Weights: map[advisor.Signal]float64{}, TrendWeight: p.TrendWeight}
	for _, sig := range advisor.Signals() {
		if th, ok := p.Thresholds[scoring.Signal(sig)]; ok {
			s.Thresholds[sig] = advisor.Band{Out: th.Out, In: th.In}
			s.Weights[sig] = p.Weights[scoring.Signal(sig)]
		}
	}
	return s
}
