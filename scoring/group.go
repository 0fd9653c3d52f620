package scoring

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"time"
)

// Group is the scoring state of one scaling group: a forecaster per signal and
// the target policy's stabilisation window. It is not safe for concurrent use;
// the exporter keeps one per group and drives it from its collection loop, the
// backtest from virtual time.
type Group struct {
	p       Params
	fc      *forecastConfig
	series  [numSignals]*series
	stab    stabilizer
	trendWS []float64
}

// NewGroup validates p and returns an empty group. It keeps its own copy of
// p's maps, so the caller may go on changing them.
func NewGroup(p Params) (*Group, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.clone()
	return &Group{p: p, fc: newForecastConfig(p.Forecast, p.TrendSamples)}, nil
}

// Params returns a copy of the parameters in force.
func (g *Group) Params() Params { return g.p.clone() }

// SetParams changes thresholds, weights, targets and policy settings (a config
// reload, an applied advisor proposal) and keeps the forecasting state and the
// stabilisation window. If the forecast settings or TrendSamples change, the
// forecasters start again empty (warm-start them again).
func (g *Group) SetParams(p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.clone()
	if !reflect.DeepEqual(p.Forecast, g.p.Forecast) || p.TrendSamples != g.p.TrendSamples {
		g.fc = newForecastConfig(p.Forecast, p.TrendSamples)
		g.series = [numSignals]*series{}
	}
	g.p = p
	return nil
}

func (g *Group) seriesFor(s Signal) (*series, error) {
	i, ok := signalIndex(s)
	if !ok {
		return nil, fmt.Errorf("scoring: unknown signal %q: use one of %v", s, Signals())
	}
	if g.series[i] == nil {
		g.series[i] = newSeries(g.fc)
	}
	return g.series[i], nil
}

// Observe records a sample of signal taken at now, in base units. NaN and Inf
// are dropped and counted (SignalResult.Dropped); a repeat of the previous
// sample (less than half a step later) is ignored.
func (g *Group) Observe(now time.Time, s Signal, v float64) error {
	st, err := g.seriesFor(s)
	if err != nil {
		return err
	}
	st.observe(now, v)
	return nil
}

// WarmStart preloads history of one signal, oldest first, before live samples.
// Each value is the mean over period from its timestamp (Cloud Eye's period).
// Periods shorter than the coarse step go through the fine models (gaps
// interpolated); longer ones fill the seasonal buckets they cover.
func (g *Group) WarmStart(s Signal, times []time.Time, values []float64, period time.Duration) error {
	if len(times) != len(values) {
		return fmt.Errorf("scoring: warm start of %s: %d timestamps but %d values", s, len(times), len(values))
	}
	if period <= 0 {
		return fmt.Errorf("scoring: warm start of %s: period %v must be positive", s, period)
	}
	for i := 1; i < len(times); i++ {
		if !times[i].After(times[i-1]) {
			return fmt.Errorf("scoring: warm start of %s: timestamp %d (%v) is not after the one before: sort the history", s, i, times[i])
		}
	}
	st, err := g.seriesFor(s)
	if err != nil {
		return err
	}
	if period < g.p.Forecast.CoarseStep {
		saved := st.c.maxGap
		// Coarse history is spaced by its period: interpolate across it.
		if need := int64(period / g.p.Forecast.Step); need > saved {
			c := *st.c
			c.maxGap = need
			st.c = &c
			defer func() { st.c = g.fc }()
		}
		for i, t := range times {
			st.observe(t, values[i])
		}
		return nil
	}
	for i, t := range times {
		if !finite(values[i]) {
			st.dropped++
			continue
		}
		for _, ss := range [2]*seasonal{&st.day, &st.week} {
			if ss.period == 0 {
				continue
			}
			from := floorDiv(t.UnixNano(), ss.step)
			to := floorDiv(t.Add(period).UnixNano()-1, ss.step)
			for b := from; b <= to; b++ {
				ss.addMean(b, values[i])
			}
		}
	}
	return nil
}

// GroupState is what the cloud says about the group at evaluation time.
type GroupState struct {
	Current int // instances in service: the n of the formulas
	Desired int // the desired count in force (informational)
	Min     int
	Max     int // 0 means no upper bound
}

// Forecast is one forecast value.
type Forecast struct {
	Horizon time.Duration
	Model   Model // a concrete model, or ModelAuto
	Value   float64
	// Quantiles are at QuantileLevels, from the model's own recent errors at
	// this horizon; NaN until it has been graded often enough.
	Quantiles [NumQuantiles]float64
}

// SignalResult is what scoring computed for one signal.
type SignalResult struct {
	Signal Signal
	// Fresh is true when the newest sample is younger than StaleAfter; a stale
	// signal scores 0 and has no forecasts.
	Fresh        bool
	Value        float64 // newest sample, base units
	Age          time.Duration
	HasThreshold bool
	Threshold    Threshold
	Weight       float64
	Score        float64
	Trend        float64
	// Forecasts holds, for each horizon, one value per model and one for auto.
	Forecasts []Forecast
	// Models is, per horizon, the model auto stands for.
	Models []Model
	// Model is the model auto stands for at the horizon nearest the lead time.
	Model Model
	// ErrorRatio is, per horizon, the running sMAPE (0..2) of auto's past
	// forecasts against what happened; NaN until one has been graded.
	ErrorRatio []float64
	Dropped    int64 // NaN or Inf samples dropped
	Bytes      int   // memory held by the signal's forecaster
}

// Result is everything the exporter publishes for a group.
type Result struct {
	Time      time.Time
	Horizons  []time.Duration
	Signals   []SignalResult // signals with a weight or with samples, in Signals() order
	Trend     float64        // trend of Params.TrendSignal, the composite's trend term
	Composite float64
	// Recommended is the instance count by policy, clamped to min..max.
	Recommended map[Policy]int
	LeadTime    time.Duration
	Weights     map[Signal]float64 // the group's own map: read it, do not change it
	TrendWeight float64
}

// Evaluate computes scores, forecasts and recommendations at now. The target
// policy's stabilisation window records this call, so call it once per cycle.
func (g *Group) Evaluate(now time.Time, state GroupState) Result {
	p := g.p
	lead := p.Lead.Total()
	res := Result{
		Time:        now,
		Horizons:    g.fc.horizons,
		LeadTime:    lead,
		Weights:     p.Weights,
		TrendWeight: p.TrendWeight,
		Recommended: make(map[Policy]int, 3),
	}
	n := state.Current
	lo, hi := state.Min, state.Max
	if hi == 0 {
		hi = -1 // clamp treats hi < lo as no upper bound
	}
	targetRaw, predRaw := -1, -1
	leadH := g.fc.horizonFor(lead)
	var f [numVariants]float64
	composite := 0.0
	// inForce is the weight behind the composite: every weight except the
	// accelerators without fresh data. Above 1 (a GPU pool) the composite is
	// divided by it, so accelerators count without the sum exceeding 1, and a
	// pool without accelerators scores exactly as the article's formula.
	inForce := p.TrendWeight
	for i, sig := range Signals() {
		st := g.series[i]
		w := p.Weights[sig]
		if !IsAccelerator(sig) {
			inForce += w
		}
		if st == nil && w == 0 {
			continue
		}
		th, hasTh := p.Thresholds[sig]
		r := SignalResult{Signal: sig, HasThreshold: hasTh, Threshold: th, Weight: w, Value: math.NaN()}
		if st != nil {
			r.Dropped = st.dropped
			r.Bytes = st.Bytes()
		}
		if st != nil && st.started {
			r.Value = st.lastValue
			r.Age = now.Sub(time.Unix(0, st.lastNanos))
			r.Fresh = r.Age <= p.StaleAfter
		}
		if r.Fresh {
			if hasTh {
				r.Score = Score(sig, r.Value, th)
			}
			g.trendWS = st.last(p.TrendSamples, g.trendWS)
			r.Trend = Trend(sig, g.trendWS, p.TrendSamples)
			composite += w * r.Score
			if IsAccelerator(sig) {
				inForce += w
			}
			if sig == p.TrendSignal {
				res.Trend = r.Trend
			}
			g.forecasts(st, now, &r, &f)

			target := p.Targets[sig]
			if ratio, ok := usageRatio(sig, r.Value, n, target); ok {
				targetRaw = max(targetRaw, TargetDesired(n, ratio, p.Tolerance))
			}
			st.forecastAll(now.Add(lead).UnixNano(), &f)
			fv := st.auto(leadH, &f)
			if ratio, ok := usageRatio(sig, fv, n, target); ok {
				predRaw = max(predRaw, TargetDesired(n, ratio, p.Tolerance))
			}
			r.Model = variantModel(st.chosen[leadH])
		}
		res.Signals = append(res.Signals, r)
	}
	composite += p.TrendWeight * res.Trend
	if inForce > 1 {
		composite /= inForce
	}
	res.Composite = math.Max(-1, math.Min(1, composite))

	res.Recommended[PolicySeed] = SeedRecommend(n, res.Composite, p, lo, hi)
	if targetRaw < 0 {
		targetRaw = n // nothing tracked is fresh: hold
	}
	target := g.stab.add(now, p.ScaleInStabilization, clamp(targetRaw, lo, hi))
	res.Recommended[PolicyTarget] = target
	// Predictive never goes below the reactive answer, so any scale-in it
	// recommends is one current load already justifies.
	pred := target
	if predRaw >= 0 {
		pred = max(target, clamp(predRaw, lo, hi))
	}
	res.Recommended[PolicyPredictive] = pred
	return res
}

// forecasts fills r's forecasts for every horizon and model.
func (g *Group) forecasts(st *series, now time.Time, r *SignalResult, f *[numVariants]float64) {
	hs := g.fc.horizons
	r.Forecasts = make([]Forecast, 0, len(hs)*5)
	r.Models = make([]Model, len(hs))
	r.ErrorRatio = make([]float64, len(hs))
	for h, d := range hs {
		st.forecastAll(now.Add(d).UnixNano(), f)
		for m, model := range Models() {
			fc := Forecast{Horizon: d, Model: model, Value: math.Max(f[st.bestInFamily(h, model)], 0)}
			st.quantiles(h, m, fc.Value, &fc.Quantiles)
			r.Forecasts = append(r.Forecasts, fc)
		}
		fc := Forecast{Horizon: d, Model: ModelAuto, Value: st.auto(h, f)}
		st.quantiles(h, autoIndex, fc.Value, &fc.Quantiles)
		r.Forecasts = append(r.Forecasts, fc)
		r.Models[h] = variantModel(st.chosen[h])
		r.ErrorRatio[h] = math.NaN()
		if st.smapeN[h] > 0 {
			r.ErrorRatio[h] = st.smape[h]
		}
	}
}

func (p Params) clone() Params {
	p.Thresholds = maps.Clone(p.Thresholds)
	p.Weights = maps.Clone(p.Weights)
	p.Targets = maps.Clone(p.Targets)
	p.Forecast.Horizons = slices.Clone(p.Forecast.Horizons)
	return p
}
