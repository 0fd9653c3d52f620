package collector

import (
	"math"
	"time"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/trace"
)

// demandStep is the spacing of the demand series the advisor's proposals are
// replayed over: the backtest's minute.
const demandStep = time.Minute

// demand is the group's load in instance-equivalents, CPU utilisation ×
// instances in service, once a minute over the latest stretch of history
// without a gap above historyMaxGap: a stalled exporter's silence is not
// load. Each sample holds until the next; a stale CPU value holds the last
// known one. A group saturated at 100 % CPU shows the load it served, not
// the load offered: the replay then errs towards too little demand. The
// caller holds the history's lock.
func (g *groupHistory) demand(name string) trace.Series {
	cpu := g.values[advisor.CPU]
	first := len(g.times)
	for i := len(g.times) - 1; i >= 0; i-- {
		if i+1 < len(g.times) && g.times[i+1].Sub(g.times[i]) > historyMaxGap {
			break
		}
		first = i
	}
	for first < len(g.times) && math.IsNaN(cpu[first]) {
		first++
	}
	if first >= len(g.times) {
		return trace.Series{Name: name, Step: demandStep}
	}
	start, last := g.times[first], g.times[len(g.times)-1]
	n := int(last.Sub(start)/demandStep) + 1
	s := trace.Series{Name: name, Start: start, Step: demandStep, Values: make([]float64, 0, n)}
	j, held := first, cpu[first]*g.instances[first]
	for k := range n {
		t := s.Time(k)
		for j < len(g.times) && !g.times[j].After(t) {
			if !math.IsNaN(cpu[j]) {
				held = cpu[j] * g.instances[j]
			}
			j++
		}
		s.Values = append(s.Values, held)
	}
	return s
}
