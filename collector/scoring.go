package collector

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// Advice gives the thresholds in force for a group when the advisor applies
// its proposals (advisor.Advisor satisfies it).
type Advice interface {
	Effective(group string) (advisor.Settings, bool)
}

// paramsFor turns a group's config (and the advisor's applied proposal, if
// any) into scoring parameters.
func ScoringParams(cfg *config.Config, g *config.Group, advice Advice) scoring.Params {
	p := scoring.Defaults()
	p.Thresholds = map[scoring.Signal]scoring.Threshold{}
	p.Weights = map[scoring.Signal]float64{}
	p.Targets = map[scoring.Signal]float64{}
	sum := 0.0
	// Stable order: the sum, and so the trend weight, must not depend on map order.
	for _, name := range g.SignalNames() {
		s := g.Signals[name]
		sig := scoring.Signal(name)
		p.Thresholds[sig] = scoring.Threshold{Out: s.ScaleOut, In: s.ScaleIn}
		if s.Weight > 0 {
			p.Weights[sig] = s.Weight
			sum += s.Weight
		}
		if s.Target > 0 {
			p.Targets[sig] = s.Target
		}
	}
	if a, ok := adviceFor(advice, g.Name); ok {
		for sig, b := range a.Thresholds {
			if _, on := p.Thresholds[scoring.Signal(sig)]; on {
				p.Thresholds[scoring.Signal(sig)] = scoring.Threshold{Out: b.Out, In: b.In}
			}
		}
		for sig, w := range a.Weights {
			if _, on := p.Thresholds[scoring.Signal(sig)]; on && w > 0 {
				p.Weights[scoring.Signal(sig)] = w
			}
		}
		sum = 0
		for _, sig := range scoring.Signals() {
			sum += p.Weights[sig]
		}
		p.TrendWeight = a.TrendWeight
	}
	// The trend takes what the signals leave, up to the seed's 0.05.
	p.TrendWeight = math.Max(0, math.Min(p.TrendWeight, 1-sum))
	p.ScaleInStabilization = g.Scaling.ScaleInStabilization
	p.Lead = scoring.Lead{BootDelay: g.Scaling.BootTime, AlertDelay: g.Scaling.PipelineDelay}
	p.StaleAfter = cfg.Exporter.StaleAfter
	p.Forecast.Horizons = append([]time.Duration(nil), cfg.Exporter.ForecastHorizons...)
	p.Forecast.Step = forecastStep(cfg.Exporter.Interval, p.Forecast.CoarseStep)
	return p
}

func adviceFor(a Advice, group string) (advisor.Settings, bool) {
	if a == nil || reflect.ValueOf(a).IsNil() {
		return advisor.Settings{}, false
	}
	return a.Effective(group)
}

// forecastStep is the collection interval when it divides the coarse step,
// else a minute, Cloud Eye's raw period.
func forecastStep(interval, coarse time.Duration) time.Duration {
	if interval > 0 && interval <= coarse && coarse%interval == 0 {
		return interval
	}
	return time.Minute
}

// refreshScorer (re)builds the group's scorer when its parameters changed (a
// reload, or an applied advisor proposal). A new scorer is warm-started again.
func (st *groupState) refreshScorer(cfg *config.Config, advice Advice) error {
	p := ScoringParams(cfg, &st.cfg, advice)
	if st.scorer != nil && reflect.DeepEqual(p, st.params) {
		return nil
	}
	sc, err := scoring.NewGroup(p)
	if err != nil {
		st.scorer = nil
		return fmt.Errorf("group %q: %w", st.cfg.Name, err)
	}
	st.scorer, st.params, st.warmed = sc, p, false
	return nil
}

// evaluate feeds this cycle's fresh signals to the group's scorer and returns
// its result. The sample time is the data's own time, so the scorer ages it
// the way the exporter does.
func (st *groupState) evaluate(now time.Time, sigs map[string]point, state scoring.GroupState) scoring.Result {
	for _, name := range config.Signals() {
		p, ok := sigs[name]
		if !ok {
			continue
		}
		_ = st.scorer.Observe(p.at, scoring.Signal(name), p.value)
	}
	return st.scorer.Evaluate(now, state)
}

// publishComputed adds the scoring result of a group to the snapshot:
// thresholds and weights in force for every configured signal, and scores,
// trends and forecasts for the fresh ones.
func (b *builder) publishComputed(d *descs, group string, g *config.Group, p scoring.Params, res scoring.Result) {
	for _, name := range g.SignalNames() {
		sig := scoring.Signal(name)
		if th, ok := p.Thresholds[sig]; ok {
			b.group(d.threshold, th.Out, group, name, "out")
			b.group(d.threshold, th.In, group, name, "in")
		}
		b.group(d.weight, p.Weights[sig], group, name)
	}
	for _, r := range res.Signals {
		sig := string(r.Signal)
		if !r.Fresh {
			continue
		}
		if r.HasThreshold {
			b.group(d.score, r.Score, group, sig)
		}
		b.group(d.trend, r.Trend, group, sig)
		for _, f := range r.Forecasts {
			if !finite(f.Value) {
				continue
			}
			h := horizonLabel(f.Horizon)
			b.group(d.forecast, f.Value, group, sig, h, string(f.Model))
			if f.Model != scoring.ModelAuto {
				continue
			}
			for j, l := range scoring.QuantileLevels() {
				if q := f.Quantiles[j]; finite(q) {
					b.group(d.forecastQuantile, q, group, sig, h, string(f.Model), strconv.FormatFloat(l, 'g', -1, 64))
				}
			}
		}
		if r.Model != "" {
			b.group(d.forecastModel, 1, group, sig, string(r.Model))
		}
		for i, e := range r.ErrorRatio {
			if i < len(res.Horizons) && finite(e) {
				b.group(d.forecastError, e, group, sig, horizonLabel(res.Horizons[i]))
			}
		}
	}
	b.group(d.scalingScore, res.Composite, group)
	for _, pol := range scoring.Policies() {
		if n, ok := res.Recommended[pol]; ok {
			b.group(d.recommended, float64(n), group, string(pol))
		}
	}
}

// publishThresholds publishes the configured thresholds and weights when no
// scorer could be built, so rules keep their reference lines.
func (b *builder) publishThresholds(d *descs, group string, g *config.Group) {
	for _, name := range g.SignalNames() {
		s := g.Signals[name]
		b.group(d.threshold, s.ScaleOut, group, name, "out")
		b.group(d.threshold, s.ScaleIn, group, name, "in")
		b.group(d.weight, s.Weight, group, name)
	}
}

// publishConfigured adds what config alone decides: the policy in force and
// the lead time.
func (b *builder) publishConfigured(d *descs, g *config.Group) {
	b.group(d.policyInfo, 1, g.Name, g.Policy)
	b.group(d.leadTime, g.LeadTime().Seconds(), g.Name)
}

func horizonLabel(h time.Duration) string { return model.Duration(h).String() }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// scoringParamsCheck reports a group whose settings scoring refuses, so
// check-config catches it before the exporter runs.
func scoringParamsCheck(cfg *config.Config, g *config.Group) (scoring.Params, error) {
	p := ScoringParams(cfg, g, nil)
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("group %q: %w", g.Name, err)
	}
	return p, nil
}
