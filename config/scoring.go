package config

import (
	"maps"
	"math"
	"time"

	"github.com/flexus-autoscaler/flexus/scoring"
)

// ScoringParams is what the group's settings mean to scoring: thresholds,
// weights and targets of its signals, its guards' stabilisation and lead time,
// and the exporter's freshness and forecast settings. The exporter may lay an
// advisor's applied proposal over it; the backtest uses it as it is.
func (g *Group) ScoringParams(e Exporter) scoring.Params {
	p := scoring.Defaults()
	p.Thresholds = map[scoring.Signal]scoring.Threshold{}
	p.Weights = map[scoring.Signal]float64{}
	p.Targets = map[scoring.Signal]float64{}
	signals := maps.Clone(g.Signals)
	// An accelerator the file does not name still counts while it has data,
	// so a GPU pool scores on its GPUs by default. Its weight applies only
	// then (scoring renormalises), and, not being configured, its absence
	// does not block scale-in (the exporter publishes no threshold for it).
	for _, r := range scoring.SignalTable() {
		name := string(r.Signal)
		if _, named := signals[name]; r.Accelerator && !named && !g.disabled[name] {
			signals[name] = tableSignal(r)
		}
	}
	for _, sig := range scoring.Signals() {
		s, ok := signals[string(sig)]
		if !ok {
			continue
		}
		p.Thresholds[sig] = scoring.Threshold{Out: s.ScaleOut, In: s.ScaleIn}
		if s.Weight > 0 {
			p.Weights[sig] = s.Weight
		}
		if s.Target > 0 {
			p.Targets[sig] = s.Target
		}
	}
	p.TrendWeight = TrendWeight(p.TrendWeight, p.Weights)
	p.ScaleInStabilization = g.Scaling.ScaleInStabilization
	p.Lead = scoring.Lead{BootDelay: g.Scaling.BootTime, WarmUp: g.Scaling.WarmUp, AlertDelay: g.Scaling.PipelineDelay}
	p.Risk = g.Risk
	p.Headroom = scoring.Headroom{Budget: g.Headroom.Budget, MaxUtilization: g.Headroom.MaxUtilization}
	p.ServiceRate = g.InstanceCapacity
	p.DrainWindow = g.Scaling.DrainWindow
	p.StaleAfter = e.StaleAfter
	p.Forecast.Horizons = append([]time.Duration(nil), e.ForecastHorizons...)
	p.Forecast.Step = forecastStep(e.Interval, p.Forecast.CoarseStep)
	return p
}

// TrendWeight is the trend's share: what the signals leave of 1, up to want
// (the seed's 0.05). Accelerator weights are not counted: they are
// renormalised while present (scoring.Group.Evaluate).
func TrendWeight(want float64, weights map[scoring.Signal]float64) float64 {
	sum := 0.0
	// Stable order: a float sum must not depend on map order.
	for _, sig := range scoring.Signals() {
		if !scoring.IsAccelerator(sig) {
			sum += weights[sig]
		}
	}
	return math.Max(0, math.Min(want, 1-sum))
}

// forecastStep is the collection interval when it divides the coarse step,
// else a minute, Cloud Eye's raw period.
func forecastStep(interval, coarse time.Duration) time.Duration {
	if interval > 0 && interval <= coarse && coarse%interval == 0 {
		return interval
	}
	return time.Minute
}
