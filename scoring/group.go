package scoring

import (
	"cmp"
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
	p      Params
	fc     *forecastConfig
	series [numSignals]*series
	// load is, for the signals that divide across instances (cpu, gpu,
	// npu), the utilisation times the instances serving when it was
	// sampled: demand in instances at 100%, which the group's own scaling
	// does not move. The predictive policy forecasts it.
	load    [numSignals]*series
	nHist   nHistory
	stab    stabilizer // target policy's scale-in window
	pstab   stabilizer // predictive policy's
	trendWS []float64
	autoBuf []Forecast
	// arrivals is the application's request rate in instances at 100%
	// (ObserveArrivals): demand, like load, but fresh.
	arrivals *series
	// backlog follows the queue's growth, a fresh measure of arrivals
	// beyond what the instances serve (see backlogGrowth).
	backlog backlogGrowth
	// surge calibrates the predictive policy's headroom on the CPU's demand.
	surge surge
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
		g.load = [numSignals]*series{}
		g.arrivals = nil
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
	if s == Queue {
		g.backlog.observe(now, v)
	}
	if i, _ := signalIndex(s); dividesAcrossInstances(s) {
		if n, ok := g.nHist.at(now); ok {
			if g.load[i] == nil {
				g.load[i] = newSeries(g.fc)
			}
			g.load[i].observe(now, v*float64(n))
		}
	}
	return nil
}

// ObserveArrivals records the application's request rate at now, in
// requests per second, as Prometheus scrapes it from the service. It is the
// demand the CPU's load stands for, without Cloud Eye's delay and without
// stopping at 100%: while it is fresher than the CPU, the predictive policy
// sizes the CPU on it. It needs ServiceRate (what an instance serves).
func (g *Group) ObserveArrivals(now time.Time, perSecond float64) error {
	if g.p.ServiceRate <= 0 {
		return fmt.Errorf("scoring: arrivals need service_rate, the requests per second one instance serves")
	}
	if g.arrivals == nil {
		g.arrivals = newSeries(g.fc)
	}
	g.arrivals.observe(now, perSecond/g.p.ServiceRate)
	return nil
}

// dividesAcrossInstances reports whether a signal's load spreads evenly over
// the serving instances, so that utilisation times instances is demand.
// Memory has a per-instance baseline and response time is an outcome.
func dividesAcrossInstances(s Signal) bool { return s == CPU || s == GPU || s == NPU }

// nHistory remembers the in-service count of recent evaluations, so a
// sample that arrives late (Cloud Eye's delay) is scaled by the count
// that produced it.
type nHistory struct {
	nanos [nHistoryLen]int64
	n     [nHistoryLen]int
	next  int
	len   int
}

const nHistoryLen = 32

func (h *nHistory) add(t time.Time, n int) {
	tn := t.UnixNano()
	if h.len > 0 {
		last := (h.next + nHistoryLen - 1) % nHistoryLen
		if tn <= h.nanos[last] {
			if tn == h.nanos[last] {
				h.n[last] = n
			}
			return
		}
	}
	h.nanos[h.next], h.n[h.next] = tn, n
	h.next = (h.next + 1) % nHistoryLen
	h.len = min(h.len+1, nHistoryLen)
}

// at is the count of the latest evaluation at or before t.
func (h *nHistory) at(t time.Time) (int, bool) {
	tn := t.UnixNano()
	for k := 1; k <= h.len; k++ {
		i := (h.next + nHistoryLen - k) % nHistoryLen
		if h.nanos[i] <= tn {
			return h.n[i], true
		}
	}
	return 0, false
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
	g.nHist.add(now, n)
	lo, hi := state.Min, state.Max
	if hi == 0 {
		hi = -1 // clamp treats hi < lo as no upper bound
	}
	targetRaw, predRaw := -1, -1
	leadH := g.fc.horizonFor(lead)
	var f [numVariants]float64
	composite := 0.0
	// The CPU's current value and upper quantile stand for the arrival rate
	// when the queue is sized as work to drain (the queue comes after it).
	cpuNow, cpuUp := math.NaN(), math.NaN()
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
			up := upperOverLead(r.Value, g.autoForecasts(r.Forecasts), lead, p.Risk)
			if ls := g.freshestLoad(i, sig, now); ls != nil && n > 0 {
				// Forecast demand, not utilisation, and read it back as the
				// utilisation the n instances in service would see.
				up = upperOverLead(ls.lastValue, g.loadForecasts(ls, now, &f), lead, p.Risk) / float64(n)
				if sig == CPU && p.Headroom.Budget > 0 {
					g.surge.observe(now, ls.lastNanos, ls.lastValue, lead)
					lvl := predictiveLevel(sig, p.Targets[sig], th, hasTh)
					if k := g.surge.factor(now, lvl, p.Headroom.MaxUtilization, p.Headroom.Budget, state.Min); k > 0 {
						up = math.Max(up, k*g.surge.reference(lead)/float64(n))
					}
				}
			}
			if sig == CPU {
				cpuNow, cpuUp = r.Value, up
			}
			target := p.Targets[sig]
			if sig == Queue && p.ServiceRate > 0 {
				if tr, pr, ok := g.queueDesired(n, r.Value, cpuNow, cpuUp, g.backlog.rate(now, p.StaleAfter)); ok {
					targetRaw, predRaw = max(targetRaw, tr), max(predRaw, pr)
				}
			} else {
				if ratio, ok := usageRatio(sig, r.Value, n, target); ok {
					targetRaw = max(targetRaw, TargetDesired(n, ratio, p.Tolerance))
				}
				// Response time is an outcome of load, not demand, and explodes
				// near saturation: its forecast's quantile would ask for far
				// more than a spike needs, so it is tracked on its current value.
				if KindOf(sig) == Seconds {
					up = r.Value
				}
				if ratio, ok := usageRatio(sig, up, n, predictiveLevel(sig, target, th, hasTh)); ok {
					predRaw = max(predRaw, TargetDesired(n, ratio, p.Tolerance))
				}
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
	res.Recommended[PolicyTarget] = g.stab.add(now, p.ScaleInStabilization, clamp(targetRaw, lo, hi))
	// Predictive provisions for the risk quantile of demand over the lead
	// time, with its own window: it scales in only when that quantile has
	// fitted in fewer instances for the whole stabilisation window.
	if predRaw < 0 {
		predRaw = n
	}
	res.Recommended[PolicyPredictive] = g.pstab.add(now, p.ScaleInStabilization, clamp(predRaw, lo, hi))
	return res
}

// predictiveLevel is the level the predictive policy holds a signal's risk
// quantile at. A utilisation's target leaves headroom for what target
// tracking cannot see coming; the quantile already holds that, so the
// quantile is held at the scale-out threshold instead, the level at which
// the group counts as loaded. Other signals keep their target.
func predictiveLevel(sig Signal, target float64, th Threshold, hasTh bool) float64 {
	if target > 0 && hasTh && KindOf(sig) == Ratio && th.Out > target && th.Out <= 1 {
		return th.Out
	}
	return target
}

// freshestLoad is the demand series the predictive policy forecasts for
// signal i: the application's arrivals for the CPU while they are newer than
// the CPU's own load (Cloud Eye's point is minutes old), else the load; nil
// when neither is fresh.
func (g *Group) freshestLoad(i int, sig Signal, now time.Time) *series {
	fresh := func(s *series) bool {
		return s != nil && s.started && now.Sub(time.Unix(0, s.lastNanos)) <= g.p.StaleAfter
	}
	ls := g.load[i]
	if !fresh(ls) {
		ls = nil
	}
	if a := g.arrivals; sig == CPU && fresh(a) && (ls == nil || a.lastNanos > ls.lastNanos) {
		return a
	}
	return ls
}

// queueDesired sizes a backlog above the queue's deadband (Targets[Queue]
// items per instance) as work to drain within DrainWindow, for the target
// policy (current backlog and CPU) and the predictive one (current backlog,
// arrival's risk quantile over the lead time: the backlog is work already
// there, and a forecast of a mostly empty queue is too noisy to size by).
// The arrival rate is what the instances
// serve, CPU utilisation times instances; without a CPU signal they are
// taken to run at their level. For the predictive policy a growing backlog
// says more, and sooner: the instances serve all they can and the rest
// piles up, so arrivals are n plus the growth (items per second) over the
// per-instance rate, read at the application's scrape rather than from
// Cloud Eye's CPU, which is minutes late and stops at 100%.
// ok is false when there is no backlog to size.
func (g *Group) queueDesired(n int, q, cpu, cpuUp, growth float64) (target, pred int, ok bool) {
	p := g.p
	dead := p.Targets[Queue] * float64(max(n, 1))
	if !(q > dead) {
		return 0, 0, false
	}
	th, hasTh := p.Thresholds[CPU]
	tLevel := p.Targets[CPU]
	if tLevel <= 0 {
		tLevel = 1
	}
	pLevel := predictiveLevel(CPU, p.Targets[CPU], th, hasTh)
	if pLevel <= 0 {
		pLevel = 1
	}
	size := func(backlog, util, level float64) int {
		if !(backlog > dead) {
			return -1
		}
		arrival := float64(max(n, 1)) * level
		if finite(util) {
			arrival = float64(n) * util
		}
		need := drainNeed(arrival, backlog, p.ServiceRate, level, p.DrainWindow)
		return TargetDesired(n, need/float64(max(n, 1)), p.Tolerance)
	}
	if a := backlogArrival(n, growth, p.ServiceRate); a > float64(n)*cpuUp || !finite(cpuUp) {
		cpuUp = a / float64(max(n, 1))
	}
	return size(q, cpu, tLevel), size(q, cpuUp, pLevel), true
}

// loadForecasts is auto's forecast of a load series at each horizon, with
// its quantiles, in ascending horizon order, in the group's buffer.
func (g *Group) loadForecasts(ls *series, now time.Time, f *[numVariants]float64) []Forecast {
	g.autoBuf = g.autoBuf[:0]
	for h, d := range g.fc.horizons {
		ls.forecastAll(now.Add(d).UnixNano(), f)
		fc := Forecast{Horizon: d, Model: ModelAuto, Value: ls.auto(h, f)}
		ls.quantiles(h, autoIndex, fc.Value, &fc.Quantiles)
		g.autoBuf = append(g.autoBuf, fc)
	}
	slices.SortFunc(g.autoBuf, func(a, b Forecast) int { return cmp.Compare(a.Horizon, b.Horizon) })
	return g.autoBuf
}

// autoForecasts picks auto's forecast at each horizon out of fcs, in
// ascending horizon order, into a buffer the group reuses.
func (g *Group) autoForecasts(fcs []Forecast) []Forecast {
	g.autoBuf = g.autoBuf[:0]
	for _, fc := range fcs {
		if fc.Model == ModelAuto {
			g.autoBuf = append(g.autoBuf, fc)
		}
	}
	slices.SortFunc(g.autoBuf, func(a, b Forecast) int { return cmp.Compare(a.Horizon, b.Horizon) })
	return g.autoBuf
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
