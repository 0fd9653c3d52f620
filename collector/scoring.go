package collector

import (
	"fmt"
	"log/slog"
	"maps"
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

// forecastStep is the collection interval when it divides the coarse step,
// else a minute, Cloud Eye's raw period.
func forecastStep(interval, coarse time.Duration) time.Duration {
	if interval > 0 && interval <= coarse && coarse%interval == 0 {
		return interval
	}
	return time.Minute
}

// adviceApplier is what the advisor (advisor.Advisor) offers in mode apply: the
// settings in force given the config's own values now, so that an operator's edit
// wins and an expired value gives the config's back.
type adviceApplier interface {
	Apply(group string, now time.Time, base advisor.Settings) (advisor.Settings, bool)
}

// refreshScorer brings the group's scorer to its parameters (a reload, an applied
// or lapsed advisor proposal). A change goes through SetParams, which keeps the
// forecasters and the scale-in stabilisation window; only the first scorer, or one
// after an invalid config, is built new and warm-started.
func (st *groupState) refreshScorer(now time.Time, cfg *config.Config, advice Advice, logger *slog.Logger) error {
	p := ScoringParams(cfg, &st.cfg, nil)
	if ap, ok := advice.(adviceApplier); ok && !reflect.ValueOf(advice).IsNil() {
		if eff, on := ap.Apply(st.cfg.Name, now, settingsOf(p)); on {
			q := withAdvice(p, eff)
			if err := q.Validate(); err != nil {
				// The advisor refuses such proposals; this guards the score should one slip through.
				logger.Error("applied advice refused: the config's values stay in force", "group", st.cfg.Name, "err", err)
			} else {
				p = q
			}
		}
	} else if advice != nil {
		p = ScoringParams(cfg, &st.cfg, advice)
	}
	if boot, ok := st.boots.p90(); ok {
		p.Lead.BootDelay = boot // the group's own boots over scaling.boot_time
	}
	if st.scorer != nil && reflect.DeepEqual(p, st.params) {
		return nil
	}
	if st.scorer != nil {
		if err := st.scorer.SetParams(p); err != nil {
			st.scorer = nil
			return fmt.Errorf("group %q: %w", st.cfg.Name, err)
		}
		// SetParams empties the forecasters when their settings change: warm them again.
		if !reflect.DeepEqual(p.Forecast, st.params.Forecast) || p.TrendSamples != st.params.TrendSamples {
			st.warmed = false
		}
		st.params = p
		return nil
	}
	sc, err := scoring.NewGroup(p)
	if err != nil {
		return fmt.Errorf("group %q: %w", st.cfg.Name, err)
	}
	st.scorer, st.params, st.warmed = sc, p, false
	return nil
}

// withAdvice lays the advisor's settings over the group's configured parameters:
// thresholds and weights (a weight of 0 included) of the enabled tuned signals only.
// The trend keeps what the signals leave, up to its configured share.
func withAdvice(p scoring.Params, eff advisor.Settings) scoring.Params {
	p.Thresholds, p.Weights = maps.Clone(p.Thresholds), maps.Clone(p.Weights)
	for _, sig := range advisor.Signals() {
		s := scoring.Signal(sig)
		if _, on := p.Thresholds[s]; !on {
			continue
		}
		if b, ok := eff.Thresholds[sig]; ok {
			p.Thresholds[s] = scoring.Threshold{Out: b.Out, In: b.In}
		}
		if w, ok := eff.Weights[sig]; ok {
			if w > 0 {
				p.Weights[s] = w
			} else {
				delete(p.Weights, s)
			}
		}
	}
	sum := 0.0
	for _, s := range scoring.Signals() { // stable order, as in ScoringParams
		sum += p.Weights[s]
	}
	p.TrendWeight = math.Max(0, math.Min(p.TrendWeight, 1-sum))
	return p
}

// evaluate feeds this cycle's fresh signals, and the service's request rate
// when it has a fresh one, to the group's scorer and returns its result. The
// sample time is the data's own time, so the scorer ages it the way the
// exporter does, and the predictive policy sizes the CPU on the rate while it
// is newer than Cloud Eye's CPU.
func (st *groupState) evaluate(now time.Time, sigs map[string]point, arrivals point, arrivalsOK bool, state scoring.GroupState) scoring.Result {
	for _, name := range config.Signals() {
		p, ok := sigs[name]
		if !ok {
			continue
		}
		_ = st.scorer.Observe(p.at, scoring.Signal(name), p.value)
	}
	if arrivalsOK {
		// Refused only without a service rate, which config requires with request_rate.
		_ = st.scorer.ObserveArrivals(arrivals.at, arrivals.value)
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
			b.group(d.threshold[unitOf(name)], th.Out, group, name, "out")
			b.group(d.threshold[unitOf(name)], th.In, group, name, "in")
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
			b.group(d.forecast[unitOf(sig)], f.Value, group, sig, h, string(f.Model))
			if f.Model != scoring.ModelAuto {
				continue
			}
			for j, l := range scoring.QuantileLevels() {
				if q := f.Quantiles[j]; finite(q) {
					b.group(d.forecastQuantile[unitOf(sig)], q, group, sig, h, string(f.Model), strconv.FormatFloat(l, 'g', -1, 64))
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
		b.group(d.threshold[unitOf(name)], s.ScaleOut, group, name, "out")
		b.group(d.threshold[unitOf(name)], s.ScaleIn, group, name, "in")
		b.group(d.weight, s.Weight, group, name)
	}
}

// publishConfigured adds the policy in force and the lead time: the
// configured one with the boot measured on the group's own instances once
// there are enough of them.
func (b *builder) publishConfigured(d *descs, g *config.Group, boots *bootTimes) {
	b.group(d.policyInfo, 1, g.Name, g.Policy)
	lead := g.LeadTime()
	if boot, ok := boots.p90(); ok {
		lead += boot - g.Scaling.BootTime
		b.group(d.bootTime, boot.Seconds(), g.Name)
	}
	b.group(d.leadTime, lead.Seconds(), g.Name)
}

func horizonLabel(h time.Duration) string { return model.Duration(h).String() }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
