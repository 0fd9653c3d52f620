package demo

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/flexus-autoscaler/flexus/clock"
)

// Sample is one group observed at one moment: the cloud's truth from simcloud
// and what the loop computed, from Prometheus (NaN when absent).
type Sample struct {
	T     time.Time
	State GroupState
	// Score is flexus_scaling_score, Forecast the `auto` CPU forecast at the
	// shortest horizon, Recommended the active policy's recommendation.
	Score, Forecast, Recommended float64
}

// AlertFire is one scaling alert that went from pending to firing.
type AlertFire struct {
	Name, Group, Action string
	ActiveAt            time.Time
	// FiredAt is the first evaluation at least the rule's hold after
	// ActiveAt: when Prometheus turned it firing and sent it.
	FiredAt time.Time
}

// PhaseMark is when a scenario phase began.
type PhaseMark struct {
	Name string
	At   time.Time
}

// Record is everything the demo observed, for the view, the summary, the
// report and the e2e assertions. It is safe for concurrent use.
type Record struct {
	mu        sync.Mutex
	start     time.Time
	end       time.Time
	phases    []PhaseMark
	samples   map[string][]Sample
	groups    []string
	decisions []Decision
	seenDec   map[string]bool
	fires     []AlertFire
	seenFire  map[string]bool
	errs      map[string]string
}

// NewRecord starts an empty record at start.
func NewRecord(start time.Time) *Record {
	return &Record{start: start, samples: map[string][]Sample{}, seenDec: map[string]bool{}, seenFire: map[string]bool{}, errs: map[string]string{}}
}

// Snapshot is a consistent copy of a record.
type Snapshot struct {
	Start, End time.Time
	Phases     []PhaseMark
	Groups     []string
	Samples    map[string][]Sample
	Decisions  []Decision
	Fires      []AlertFire
	// Errors is the last failure of each polled source, cleared on success.
	Errors map[string]string
}

// Snapshot copies the record.
func (r *Record) Snapshot() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Snapshot{Start: r.start, End: r.end, Phases: append([]PhaseMark(nil), r.phases...), Groups: append([]string(nil), r.groups...),
		Samples: map[string][]Sample{}, Decisions: append([]Decision(nil), r.decisions...), Fires: append([]AlertFire(nil), r.fires...), Errors: map[string]string{}}
	for g, ss := range r.samples {
		s.Samples[g] = append([]Sample(nil), ss...)
	}
	for k, v := range r.errs {
		s.Errors[k] = v
	}
	if s.End.IsZero() && len(s.Groups) > 0 {
		if ss := s.Samples[s.Groups[0]]; len(ss) > 0 {
			s.End = ss[len(ss)-1].T
		}
	}
	return s
}

// MarkPhase notes that a phase began at t.
func (r *Record) MarkPhase(name string, t time.Time) {
	r.mu.Lock()
	r.phases = append(r.phases, PhaseMark{Name: name, At: t})
	r.mu.Unlock()
}

// Finish notes the end of the run.
func (r *Record) Finish(t time.Time) {
	r.mu.Lock()
	r.end = t
	r.mu.Unlock()
}

func (r *Record) setErr(source string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.errs, source)
		return
	}
	r.errs[source] = err.Error()
}

// decisionKey identifies a decision across polls.
func decisionKey(d Decision) string {
	return d.Time.Format(time.RFC3339Nano) + "|" + d.Group + "|" + d.Action + "|" + d.Outcome + "|" + d.Key
}

func (r *Record) addDecisions(ds []Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		k := decisionKey(d)
		if r.seenDec[k] {
			r.regrade(k, d.Grade) // a pending grade becomes a verdict in a later poll
			continue
		}
		r.seenDec[k] = true
		r.decisions = append(r.decisions, d)
	}
	sort.SliceStable(r.decisions, func(i, j int) bool { return r.decisions[i].Time.Before(r.decisions[j].Time) })
}

func (r *Record) regrade(key string, g *Grade) {
	if g == nil {
		return
	}
	for i := range r.decisions {
		if decisionKey(r.decisions[i]) == key {
			r.decisions[i].Grade = g
		}
	}
}

// firedAt is when an alert active since activeAt turned firing: at the first
// evaluation (every eval) at least hold later.
func firedAt(activeAt time.Time, hold, eval time.Duration) time.Time {
	if eval <= 0 || hold <= 0 {
		return activeAt.Add(hold)
	}
	n := (hold + eval - 1) / eval
	return activeAt.Add(n * eval)
}

func (r *Record) addFires(alerts []Alert, holds map[string]time.Duration, eval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range alerts {
		action := a.Labels["action"]
		if a.State != "firing" || action == "" {
			continue
		}
		name := a.Labels["alertname"]
		k := name + "|" + a.Labels["group"] + "|" + a.ActiveAt.Format(time.RFC3339Nano)
		if r.seenFire[k] {
			continue
		}
		r.seenFire[k] = true
		r.fires = append(r.fires, AlertFire{Name: name, Group: a.Labels["group"], Action: action, ActiveAt: a.ActiveAt, FiredAt: firedAt(a.ActiveAt, holds[name], eval)})
	}
	sort.SliceStable(r.fires, func(i, j int) bool { return r.fires[i].FiredAt.Before(r.fires[j].FiredAt) })
}

func (r *Record) addSamples(t time.Time, states []GroupState, score, forecast, rec map[string]float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range states {
		if _, ok := r.samples[st.Name]; !ok {
			r.groups = append(r.groups, st.Name)
		}
		r.samples[st.Name] = append(r.samples[st.Name], Sample{T: t, State: st, Score: valueOr(score, st.Name), Forecast: valueOr(forecast, st.Name), Recommended: valueOr(rec, st.Name)})
	}
}

func valueOr(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return math.NaN()
}

// Poller fills a Record from simcloud, the actuator and Prometheus.
type Poller struct {
	Sim      Simcloud
	Actuator Actuator
	Prom     Prometheus
	Clock    clock.Clock
	// Eval is Prometheus's evaluation interval (EvaluationInterval in the demo).
	Eval time.Duration

	holds map[string]time.Duration
}

// Queries the poller runs against Prometheus, keyed by group.
const (
	queryScore       = `max by (group) (flexus_scaling_score)`
	queryForecast    = `max by (group) (flexus_forecast_ratio{signal="cpu", model="auto", horizon="5m", quantile=""})`
	queryRecommended = `max by (group) (group:flexus_recommended_instances:active)`
)

// Poll does one round. Each source's failure is recorded and the others go on:
// a loop under injected faults must still be observable.
func (p *Poller) Poll(ctx context.Context, r *Record) {
	now := p.Clock.Now()
	states, err := p.Sim.State(ctx)
	r.setErr("simcloud", err)

	if ds, err := p.Actuator.Decisions(ctx); err == nil {
		r.addDecisions(ds)
		r.setErr("actuator", nil)
	} else {
		r.setErr("actuator", err)
	}

	if p.holds == nil {
		if h, err := p.Prom.RuleHolds(ctx); err == nil && len(h) > 0 {
			p.holds = h
		}
	}
	var score, forecast, rec map[string]float64
	var perr error
	if score, err = p.Prom.Vector(ctx, queryScore, "group"); err != nil {
		perr = err
	}
	if forecast, err = p.Prom.Vector(ctx, queryForecast, "group"); err != nil {
		perr = err
	}
	if rec, err = p.Prom.Vector(ctx, queryRecommended, "group"); err != nil {
		perr = err
	}
	if alerts, err := p.Prom.Alerts(ctx); err == nil {
		r.addFires(alerts, p.holds, p.Eval)
	} else {
		perr = err
	}
	r.setErr("prometheus", perr)
	if states != nil {
		r.addSamples(now, states, score, forecast, rec)
	}
}

// Run polls every interval until ctx is done.
func (p *Poller) Run(ctx context.Context, r *Record, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.Poll(ctx, r)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
