package backtest

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/flexus-autoscaler/flexus/actuator"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
	"github.com/flexus-autoscaler/flexus/trace"
)

// Run replays tr for each policy and returns the figures. Every policy sees
// the same demand from the same start.
func Run(ctx context.Context, tr trace.Series, policies []Policy, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(tr.Values) < 2 {
		return nil, fmt.Errorf("backtest: trace %q has %d samples: need at least 2", tr.Name, len(tr.Values))
	}
	g, _ := opts.Config.Group(opts.Group)
	steps := int(tr.End().Sub(tr.Start) / stepOf)
	if steps < 2 {
		return nil, fmt.Errorf("backtest: trace %q spans %s: need at least 2 minutes", tr.Name, tr.End().Sub(tr.Start))
	}
	capacity := g.InstanceCapacity
	peakRPS := float64(opts.PeakInstances) * capacity * opts.TargetUtilization
	res := &Result{
		Trace: tr.Name, Start: tr.Start, Step: stepOf, Steps: steps, Peak: opts.PeakInstances, SLO: opts.SLO,
		Figures: map[Policy]*Figures{}, Series: map[Policy]*Series{},
	}
	dc := newDemandCurve(tr, peakRPS)
	if opts.KeepSeries {
		res.Demand = make([]float64, steps)
		for k := range steps {
			res.Demand[k] = dc.at(tr.Start.Add(time.Duration(k+1)*stepOf)) / capacity
		}
	}
	// Oracle first: the others' cost ratios need it.
	ordered := append([]Policy(nil), policies...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i] == PolicyOracle && ordered[j] != PolicyOracle })
	for _, p := range ordered {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Each policy under its own defaults (scaling.cooldown_out), the actuator's config included.
		po := opts
		po.Config = withGroup(opts.Config, opts.Group, func(cg *config.Group) { *cg = *cg.ForPolicy(string(p)) })
		pg, _ := po.Config.Group(opts.Group)
		r, err := newRunner(tr, p, pg, po, dc, steps)
		if err != nil {
			return nil, err
		}
		err = r.run(ctx)
		r.close()
		if err != nil {
			return nil, fmt.Errorf("backtest: policy %s on %s: %w", p, tr.Name, err)
		}
		res.Figures[p] = &r.fig
		if opts.KeepSeries {
			res.Series[p] = &r.series
		}
	}
	res.Order = policies
	if o, ok := res.Figures[PolicyOracle]; ok && o.InstanceHours > 0 {
		for _, f := range res.Figures {
			f.CostRatioToOracle = f.InstanceHours / o.InstanceHours
		}
	}
	return res, nil
}

// runner is one policy's replay.
type runner struct {
	policy Policy
	opts   Options
	g      *config.Group
	tr     trace.Series
	dc     demandCurve
	steps  int
	w      *world.World
	name   string

	fig     Figures
	series  Series
	lastDir int

	// The live pipeline (target, predictive).
	scorer   *scoring.Group
	store    *memStore
	am       *alertmanager
	act      *actuator.Actuator
	clock    *clock.Fake
	stateDir string
	keep     *seriesFilter
	// lsets caches exported label sets and whether the rules read them.
	lsets map[seriesKey]cachedLabels
	// src replays each source's delay (policies that read signals).
	src      *sources
	nextTick time.Time
	det      detector

	// The seed loop.
	lastSeed time.Time

	// Grading of the live actuator's decisions (grading.go).
	after  *worldHindsight
	dues   []time.Time
	grades []actuator.Grade
}

func newRunner(tr trace.Series, p Policy, g *config.Group, opts Options, dc demandCurve, steps int) (*runner, error) {
	r := &runner{policy: p, opts: opts, g: g, tr: tr, dc: dc, steps: steps, name: g.Name}
	r.fig = Figures{Policy: p}
	r.det = detector{level: opts.SLO.MaxUtilization}
	start := tr.Start
	initial := int(math.Ceil(dc.at(start) / (g.InstanceCapacity * opts.TargetUtilization)))
	if p == PolicyStaticPeak {
		initial = opts.PeakInstances
	}
	if p == PolicyOracle {
		initial = r.oracleNeed(start)
	}
	initial = min(max(initial, g.MinInstances, 1), g.MaxInstances)
	series := tr
	wc := world.Config{
		Seed: 1,
		Tick: opts.Tick, RawPeriod: time.Minute,
		Retention: 2 * time.Hour,
		Groups: []world.GroupConfig{{
			Name: g.Name, ManagedBy: world.ManagedByAS, Flavor: "x1.2u.4g",
			MinInstances: g.MinInstances, MaxInstances: g.MaxInstances, DesiredInstances: initial,
			BootDelay: opts.BootDelay, WarmUp: opts.WarmUp, CapacityPerInstance: g.InstanceCapacity,
			Pool: opts.Pool.world(),
			Demand: world.DemandConfig{
				Scenario: world.ScenarioTrace, Trace: &series,
				PeakInstances: float64(opts.PeakInstances), TargetUtilization: opts.TargetUtilization,
			},
		}},
	}
	wc.Groups[0].Spot = opts.Spot.world()
	if opts.Tick > time.Minute || time.Minute%opts.Tick != 0 {
		return nil, fmt.Errorf("backtest: tick %s must divide a minute", opts.Tick)
	}
	w, err := world.New(wc, start)
	if err != nil {
		return nil, fmt.Errorf("backtest: world: %w", err)
	}
	r.w = w
	if opts.KeepSeries {
		r.series = Series{InService: make([]float64, 0, steps), Desired: make([]float64, 0, steps), Violation: make([]bool, 0, steps)}
	}
	if p == PolicyTarget || p == PolicyPredictive || p == PolicySeed {
		sc, err := scoring.NewGroup(g.ScoringParams(opts.Config.Exporter))
		if err != nil {
			return nil, fmt.Errorf("backtest: scoring: %w", err)
		}
		r.scorer = sc
		r.src = newSources(opts.Sources, opts.CloudEyeDelay)
		r.nextTick = start.Add(opts.Tick)
	}
	if p == PolicyTarget || p == PolicyPredictive {
		if opts.Rules == nil {
			return nil, fmt.Errorf("backtest: policy %s runs the rules: load them (--rules)", p)
		}
		opts.Rules.Reset()
		r.store = newMemStore(opts.Rules.Retention.Milliseconds())
		r.am = newAlertmanager(opts.Alertmanager)
		if err := r.newActuator(start); err != nil {
			return nil, err
		}
		r.keep = opts.Rules.filter()
		r.lsets = map[seriesKey]cachedLabels{}
		r.fig.Decisions = map[string]int{}
	}
	return r, nil
}

// newActuator builds the live actuator over the world, with its state file
// in a temporary directory (removed by close).
func (r *runner) newActuator(start time.Time) error {
	dir, err := os.MkdirTemp("", "flexus-backtest-")
	if err != nil {
		return fmt.Errorf("backtest: actuator state: %w", err)
	}
	r.stateDir = dir
	store, err := actuator.OpenStore(filepath.Join(dir, "state.json"), start)
	if err != nil {
		return err
	}
	r.clock = clock.NewFake(start)
	sc := worldScaler{r: r}
	r.after = newWorldHindsight(r.g.InstanceCapacity)
	a, err := actuator.New(actuator.Options{
		Config: gradingConfig(r.opts.Config, r.opts.SLO), Store: actuator.NewFileStore(store), Clock: r.clock, Logger: promslog.NewNopLogger(),
		Scalers:   actuator.Scalers{config.BackendAS: sc, config.BackendECS: sc},
		Hindsight: r.after,
	})
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	r.act = a
	return nil
}

func (r *runner) close() {
	if r.stateDir != "" {
		_ = os.RemoveAll(r.stateDir)
	}
}

// oracleNeed is the fewest instances that keep every tick within the SLO's
// utilisation from now until an instance ordered now would serve.
func (r *runner) oracleNeed(now time.Time) int {
	per := r.g.InstanceCapacity * r.opts.SLO.MaxUtilization
	need := 0.0
	end := now.Add(r.opts.BootDelay + r.opts.WarmUp + stepOf)
	for t := now; !t.After(end); t = t.Add(r.opts.Tick) {
		need = math.Max(need, r.dc.at(t))
	}
	return int(math.Ceil(need/per - 1e-9))
}

func (r *runner) run(ctx context.Context) error {
	start := r.tr.Start
	nextFlush := time.Time{}
	for k := 1; k <= r.steps; k++ {
		if k%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		t := start.Add(time.Duration(k) * stepOf)
		// Alertmanager flushes that fall between two scrapes happen at their time.
		for r.am != nil {
			nextFlush = r.am.nextFlushTime()
			if nextFlush.IsZero() || !nextFlush.Before(t) {
				break
			}
			if err := r.advance(nextFlush); err != nil {
				return err
			}
			if err := r.deliver(ctx, nextFlush, r.am.flush(nextFlush)); err != nil {
				return err
			}
		}
		if err := r.advance(t); err != nil {
			return err
		}
		st, err := r.w.Group(r.name)
		if err != nil {
			return err
		}
		r.account(t, st)
		if r.act != nil {
			if err := r.grade(ctx, t, st); err != nil {
				return err
			}
		}
		if err := r.control(ctx, t, st); err != nil {
			return err
		}
	}
	st, err := r.w.Group(r.name)
	if err != nil {
		return err
	}
	r.fig.InstanceHours, r.fig.PoolHours = r.opts.Pool.billed(st)
	if r.act != nil {
		r.fig.Effectiveness = r.effectiveness()
	}
	r.fig.Detection = r.det.figures()
	r.fig.Spot = r.opts.Spot.figures(st)
	return nil
}

// advance moves the world to t; for a policy that reads signals, a tick at
// a time, handing each tick's state to the sources.
func (r *runner) advance(t time.Time) error {
	if r.src == nil {
		r.w.Advance(t)
		return nil
	}
	for ; !r.nextTick.After(t); r.nextTick = r.nextTick.Add(r.opts.Tick) {
		r.w.Advance(r.nextTick)
		st, err := r.w.Group(r.name)
		if err != nil {
			return err
		}
		r.src.tick(r.nextTick, st)
	}
	r.w.Advance(t)
	return nil
}

// account scores the minute that ended at t against the SLO.
func (r *runner) account(t time.Time, st world.GroupState) {
	delay := 0.0
	switch {
	case st.Capacity > 0:
		delay = st.Queue / st.Capacity
	case st.Queue > 0:
		delay = math.Inf(1)
	}
	offered := math.Inf(1)
	if st.Capacity > 0 {
		offered = st.Demand / st.Capacity
	} else if st.Demand == 0 {
		offered = 0
	}
	violated := offered > r.opts.SLO.MaxUtilization || delay > r.opts.SLO.MaxQueueDelay.Seconds()
	r.det.minute(t, st)
	if violated {
		r.fig.ViolationMinutes++
	}
	if !math.IsInf(delay, 1) {
		r.fig.WorstQueueDelaySeconds = math.Max(r.fig.WorstQueueDelaySeconds, delay)
	}
	if r.opts.KeepSeries {
		r.series.InService = append(r.series.InService, float64(st.InService))
		r.series.Desired = append(r.series.Desired, float64(st.Desired))
		r.series.Violation = append(r.series.Violation, violated)
	}
}

// setDesired changes the world's desired count and counts the action.
func (r *runner) setDesired(from, to int) error {
	if to == from {
		return nil
	}
	if err := r.w.SetDesired(r.name, to); err != nil {
		return err
	}
	r.fig.ScalingActions++
	dir := 1
	if to < from {
		dir = -1
	} else {
		r.det.scaledOut(r.w.Now())
	}
	if r.lastDir != 0 && dir != r.lastDir {
		r.fig.Reversals++
	}
	r.lastDir = dir
	return nil
}

func (r *runner) control(ctx context.Context, t time.Time, st world.GroupState) error {
	switch r.policy {
	case PolicyStaticPeak:
		return nil
	case PolicyOracle:
		want := min(max(r.oracleNeed(t), st.Min), st.Max)
		return r.setDesired(st.Desired, want)
	case PolicySeed:
		return r.seed(t, st)
	}
	return r.pipeline(ctx, t, st)
}

// signals are the group-level signals the exporter would publish at t, and
// their age, each through its own source (see Sources): CPU and memory are
// Cloud Eye's newest published period mean, stamped at the period's start;
// queue depth (Redis) and response time and error rate (the service's
// endpoint) are the application's last scrape.
func (r *runner) signals(t time.Time, st world.GroupState) (map[string]float64, map[string]time.Duration) {
	ce, hasCE := r.src.cloudEye(t)
	app, scraped := r.src.app(t, st)
	cesAge, appAge := t.Sub(ce.start), t.Sub(scraped)
	vals := map[string]float64{}
	ages := map[string]time.Duration{}
	for _, name := range r.g.SignalNames() {
		switch name {
		case config.SignalCPU:
			if hasCE {
				vals[name], ages[name] = ce.cpu/100, cesAge
			}
		case config.SignalMemory:
			if hasCE {
				vals[name], ages[name] = ce.mem/100, cesAge
			}
		case config.SignalQueue:
			vals[name], ages[name] = app.Queue, appAge
		case config.SignalResponseTime:
			vals[name], ages[name] = app.ResponseTimeSeconds, appAge
		case config.SignalErrorRate:
			vals[name], ages[name] = app.ErrorRate, appAge
		}
	}
	return vals, ages
}

func (r *runner) observe(t time.Time, st world.GroupState) (scoring.Result, map[string]float64, map[string]time.Duration) {
	vals, ages := r.signals(t, st)
	for _, name := range r.g.SignalNames() {
		if v, ok := vals[name]; ok {
			_ = r.scorer.Observe(t.Add(-ages[name]), scoring.Signal(name), v)
		}
	}
	if !r.opts.Sources.NoRequestRate {
		app, at := r.src.app(t, st)
		_ = r.scorer.ObserveArrivals(at, app.Demand) // refused without a service rate: demand from the CPU alone
	}
	res := r.scorer.Evaluate(t, scoring.GroupState{Current: st.InService, Desired: st.Desired, Min: st.Min, Max: st.Max})
	return res, vals, ages
}

// seed is the article's loop: every check, score the current signals and
// move straight to its recommendation unless an action ran within the cooldown.
func (r *runner) seed(t time.Time, st world.GroupState) error {
	if t.Sub(r.tr.Start)%r.opts.SeedCheck != 0 {
		return nil
	}
	res, vals, _ := r.observe(t, st)
	rec := res.Recommended[scoring.PolicySeed]
	applied := false
	if rec != st.Desired && (r.lastSeed.IsZero() || t.Sub(r.lastSeed) >= r.opts.SeedCooldown) {
		if err := r.setDesired(st.Desired, rec); err != nil {
			return err
		}
		r.lastSeed, applied = t, true
	}
	if r.opts.SeedLog != nil {
		*r.opts.SeedLog = append(*r.opts.SeedLog, SeedCheck{At: t, InService: st.InService, Desired: st.Desired,
			Signals: vals, Composite: res.Composite, Recommend: rec, Applied: applied})
	}
	return nil
}

// pipeline is the live path: scrape, rules, Alertmanager, actuator.
func (r *runner) pipeline(ctx context.Context, t time.Time, st world.GroupState) error {
	res, vals, ages := r.observe(t, st)
	ms := t.UnixMilli()
	r.store.write("scrape", ms, r.exported(st, res, vals, ages))
	alerts, err := r.opts.Rules.eval(ctx, r.store, t)
	if err != nil {
		return err
	}
	r.am.receive(t, alerts)
	if err := r.deliver(ctx, t, r.am.flush(t)); err != nil {
		return err
	}
	if k := t.Sub(r.tr.Start) / stepOf; k%16 == 0 {
		r.store.truncate(ms)
	}
	return nil
}

// exported builds the exporter's series for the group, keeping only the
// names the rules read (the rest would be stored and never queried).
func (r *runner) exported(st world.GroupState, res scoring.Result, vals map[string]float64, ages map[string]time.Duration) []Sample {
	group := r.name
	var out []Sample
	add := func(name string, v float64, kv ...string) {
		key := seriesKey{name: name}
		copy(key.kv[:], kv)
		c, ok := r.lsets[key]
		if !ok {
			b := make([]string, 0, 8+len(kv))
			b = append(b, labels.MetricName, name, "job", "flexus-exporter", "instance", "backtest")
			if name != "up" {
				b = append(b, "group", group)
			}
			b = append(b, kv...)
			c.l = labels.FromStrings(b...)
			c.keep = r.keep.keeps(c.l)
			r.lsets[key] = c
		}
		if c.keep {
			out = append(out, Sample{Labels: c.l, Value: v})
		}
	}
	add("up", 1)
	add(metricnames.GroupDesired, float64(st.Desired))
	add(metricnames.GroupCurrent, float64(st.Current))
	lo, hi := actuator.Bounds(r.g, actuator.CloudState{Min: st.Min, Max: st.Max, HasBounds: true})
	add(metricnames.GroupMin, float64(lo))
	add(metricnames.GroupMax, float64(hi))
	add(metricnames.GroupInstances, float64(st.InService), "state", "in_service")
	add(metricnames.GroupInstances, float64(st.Pending), "state", "pending")
	add(metricnames.GroupInstances, float64(st.Removing), "state", "removing")
	for _, name := range r.g.SignalNames() {
		if v, ok := vals[name]; ok {
			add(metricnames.Signal(scoring.Signal(name)), v, "signal", name)
			add(metricnames.SignalAge, ages[name].Seconds(), "signal", name)
		}
	}
	for _, s := range res.Signals {
		sig := string(s.Signal)
		// As the exporter: thresholds only for the configured signals, so an
		// accelerator the group does not name cannot block scale-in.
		if _, configured := r.g.Signals[sig]; s.HasThreshold && configured {
			add(metricnames.Threshold(s.Signal), s.Threshold.Out, "signal", sig, "direction", "out")
			add(metricnames.Threshold(s.Signal), s.Threshold.In, "signal", sig, "direction", "in")
		}
		if !s.Fresh {
			continue
		}
		add(metricnames.Score, s.Score, "signal", sig)
		add(metricnames.Trend, s.Trend, "signal", sig)
		for _, f := range s.Forecasts {
			if !math.IsNaN(f.Value) && !math.IsInf(f.Value, 0) {
				add(metricnames.Forecast(s.Signal), f.Value, "signal", sig, "horizon", horizonLabel(f.Horizon), "model", string(f.Model))
			}
		}
	}
	add(metricnames.ScalingScore, res.Composite)
	for _, p := range scoring.Policies() {
		add(metricnames.Recommended, float64(res.Recommended[p]), "policy", string(p))
		on := 0.0
		if string(p) == string(r.policy) {
			on = 1
		}
		add(metricnames.PolicyInfo, on, "policy", string(p))
	}
	add(metricnames.LeadTime, res.LeadTime.Seconds())
	return out
}

// seriesKey names an exported series without building its labels.
type seriesKey struct {
	name string
	kv   [6]string
}

type cachedLabels struct {
	l    labels.Labels
	keep bool
}

func horizonLabel(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}

// deliver hands notifications to the live actuator (actuator.Actuator.Handle:
// intents from the alerts, idempotency keys and their continuations, fresh
// cloud state, actuator.Decide, the state store), its clock set to now and
// its cloud the world.
func (r *runner) deliver(ctx context.Context, now time.Time, ns []Notification) error {
	for _, n := range ns {
		r.fig.Notifications++
		r.clock.Set(now)
		recs, err := r.act.Handle(ctx, toMessage(n))
		if err != nil {
			return fmt.Errorf("actuator refused the notification %s: %w", n, err)
		}
		for _, rec := range recs {
			r.fig.Decisions[rec.Outcome]++
			r.awaitGrade(rec)
		}
	}
	return nil
}

// worldScaler is the actuator's cloud boundary over the world: the AS
// backend's view (desired, booting instances, the end of the last activity
// in each direction) and its one write, the desired count.
type worldScaler struct{ r *runner }

func (s worldScaler) State(_ context.Context, _ *config.Group, _ time.Time) (actuator.CloudState, error) {
	st, err := s.r.w.Group(s.r.name)
	if err != nil {
		return actuator.CloudState{}, err
	}
	return s.r.cloudState(st), nil
}

func (s worldScaler) SetDesired(_ context.Context, _ *config.Group, cur actuator.CloudState, desired int, _ string) (actuator.Result, error) {
	if err := s.r.setDesired(cur.Desired, desired); err != nil {
		return actuator.Result{Desired: cur.Desired}, err
	}
	return actuator.Result{Desired: desired}, nil
}

// cloudState is what the actuator's AS backend reads: the group, its booting
// instances and the end of its last activity in each direction.
func (r *runner) cloudState(st world.GroupState) actuator.CloudState {
	cs := actuator.CloudState{
		Desired: st.Desired, Current: st.Current, Booting: st.Pending,
		Min: st.Min, Max: st.Max, HasBounds: true, InService: true, Status: "INSERVICE",
	}
	acts, err := r.w.Activities(r.name)
	if err != nil {
		return cs
	}
	for _, a := range acts {
		switch {
		case a.ScalingValue > 0 && cs.LastOutEnd.IsZero():
			cs.LastOutEnd = a.Start // cooldowns from the request, as the published figures were measured
		case a.ScalingValue < 0 && cs.LastInEnd.IsZero():
			cs.LastInEnd = a.Start
		}
		if !cs.LastOutEnd.IsZero() && !cs.LastInEnd.IsZero() {
			break
		}
	}
	return cs
}

func toMessage(n Notification) *actuator.Message {
	m := &actuator.Message{Version: "4", GroupKey: n.GroupKey, Status: "firing", Receiver: "flexus-actuator"}
	if len(n.Firing) == 0 {
		m.Status = "resolved"
	}
	conv := func(a Alert, status string) actuator.Alert {
		return actuator.Alert{Status: status, Labels: a.Labels.Map(), Annotations: a.Annotations,
			StartsAt: a.StartsAt, EndsAt: a.EndsAt, Fingerprint: strconv.FormatUint(a.Labels.Hash(), 16)}
	}
	for _, a := range n.Firing {
		m.Alerts = append(m.Alerts, conv(a, "firing"))
	}
	for _, a := range n.Resolved {
		m.Alerts = append(m.Alerts, conv(a, "resolved"))
	}
	return m
}
