package collector

import (
	"fmt"
	"math"
	"reflect"
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

// ScoringParams is the group's scoring parameters (config's meaning of the
// group) with the advisor's applied proposal, if any, laid over them.
func ScoringParams(cfg *config.Config, g *config.Group, advice Advice) scoring.Params {
	p := g.ScoringParams(cfg.Exporter)
	a, ok := adviceFor(advice, g.Name)
	if !ok {
		return p
	}
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
	p.TrendWeight = config.TrendWeight(a.TrendWeight, p.Weights)
	return p
}

func adviceFor(a Advice, group string) (advisor.Settings, bool) {
	if a == nil || reflect.ValueOf(a).IsNil() {
		return advisor.Settings{}, false
	}
	return a.Effective(group)
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
			if finite(f.Value) {
				b.group(d.forecast, f.Value, group, sig, horizonLabel(f.Horizon), string(f.Model))
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
