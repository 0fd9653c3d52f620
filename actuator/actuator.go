// Package actuator turns Alertmanager notifications into scaling actions,
// exactly once and under guards: decode, idempotency, guards, scaler. The
// guards live in one pure function, Decide, which the backtest calls too.
package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// Record is one decision as logged and served at /api/v1/decisions: the
// inputs, each guard's verdict and the result.
type Record struct {
	Decision
	Key    string      `json:"key,omitempty"`
	Intent Intent      `json:"intent"`
	Cloud  *CloudState `json:"cloud,omitempty"`
	Local  *GroupState `json:"local,omitempty"`
	Result *Result     `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
	// Transient is true when a retryable cloud error stopped the decision:
	// the notification was answered 5xx and its key released.
	Transient bool          `json:"transient,omitempty"`
	Duration  time.Duration `json:"duration"`
}

// LogValue logs a record as one JSON object, with either slog handler.
func (r Record) LogValue() slog.Value {
	b, err := json.Marshal(r)
	if err != nil {
		return slog.StringValue(err.Error())
	}
	return slog.AnyValue(json.RawMessage(b))
}

// Options are what an Actuator is built from.
type Options struct {
	Config  *config.Config
	Scalers Scalers
	Store   *Store
	Clock   clock.Clock
	Logger  *slog.Logger
	// Registerer receives the actuator's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
}

// Actuator applies notifications. It is safe for concurrent use: deliveries
// for one group queue on that group's lock.
type Actuator struct {
	clock   clock.Clock
	logger  *slog.Logger
	store   *Store
	scalers Scalers
	metrics *metrics

	mu    sync.RWMutex
	cfg   *config.Config
	locks map[string]*sync.Mutex
	cloud map[string]CloudState
	log   *decisionLog
}

// New builds an actuator; every configured group's backend must have a scaler.
func New(o Options) (*Actuator, error) {
	if o.Config == nil || o.Store == nil || o.Clock == nil || o.Logger == nil {
		return nil, errors.New("actuator: Config, Store, Clock and Logger are required")
	}
	a := &Actuator{
		clock: o.Clock, logger: o.Logger, store: o.Store, scalers: o.Scalers,
		metrics: newMetrics(),
		locks:   map[string]*sync.Mutex{},
		cloud:   map[string]CloudState{},
	}
	if err := a.check(o.Config); err != nil {
		return nil, err
	}
	a.cfg = o.Config
	a.log = newDecisionLog(o.Config.Actuator.DecisionLogSize)
	a.initSeries(o.Config)
	if o.Registerer != nil {
		if err := a.metrics.register(o.Registerer, newStateCollector(a)); err != nil {
			return nil, fmt.Errorf("actuator: registering metrics: %w", err)
		}
	}
	for _, k := range o.Store.Reconciled {
		a.logger.Warn("idempotency key was in progress at the last stop: its cooldown is kept, a redelivery decides again from fresh cloud state", "key", k)
	}
	return a, nil
}

func (a *Actuator) check(cfg *config.Config) error {
	for i := range cfg.Groups {
		g := &cfg.Groups[i]
		if _, ok := a.scalers.For(g); !ok {
			return fmt.Errorf("actuator: group %q uses backend %q, which has no scaler configured", g.Name, g.Backend)
		}
	}
	return nil
}

// initSeries creates the per-group series so they exist before the first decision.
func (a *Actuator) initSeries(cfg *config.Config) {
	for _, g := range cfg.Groups {
		for _, act := range []Action{ScaleOut, ScaleIn} {
			for _, o := range []string{OutcomeApplied, OutcomeRefused, OutcomeDuplicate, OutcomeDryRun, OutcomeNoop, OutcomeFailed} {
				a.metrics.decisions.WithLabelValues(g.Name, string(act), o)
			}
		}
	}
}

// Config returns the configuration in force.
func (a *Actuator) Config() *config.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// Subscriber follows the config.Coordinator's reloads. The state file is
// opened at start only, so a change of it is refused.
func (a *Actuator) Subscriber() config.Subscriber {
	return config.Subscriber{Name: "actuator", Check: a.checkReload, Apply: a.apply}
}

// Reload checks and swaps in a new configuration; decisions in flight finish
// with the old one.
func (a *Actuator) Reload(cfg *config.Config) error {
	if err := a.checkReload(cfg); err != nil {
		return err
	}
	a.apply(cfg)
	return nil
}

func (a *Actuator) checkReload(cfg *config.Config) error {
	if err := a.check(cfg); err != nil {
		return err
	}
	if now := a.Config().Actuator.StateFile; cfg.Actuator.StateFile != now {
		return fmt.Errorf("actuator: actuator.state_file changed from %q to %q: restart the actuator to apply it", now, cfg.Actuator.StateFile)
	}
	return nil
}

func (a *Actuator) apply(cfg *config.Config) {
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	a.initSeries(cfg)
}

func (a *Actuator) groupLock(name string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.locks[name]
	if !ok {
		l = &sync.Mutex{}
		a.locks[name] = l
	}
	return l
}

func (a *Actuator) lastCloud(name string) CloudState {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cloud[name]
}

func (a *Actuator) setCloud(name string, cs CloudState) {
	a.mu.Lock()
	a.cloud[name] = cs
	a.mu.Unlock()
}

// TransientError says a retryable error stopped a decision before it changed
// anything (a cloud error, or a failed write of the state file); the webhook
// answers 503 so Alertmanager retries, and the key was released or never kept.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Handle applies a decoded notification: one decision per (group, action).
// It returns the decisions taken; the error is a *TransientError when the
// sender should retry (any other error is the actuator's own fault).
func (a *Actuator) Handle(ctx context.Context, m *Message) ([]Record, error) {
	intents, err := m.Intents()
	if err != nil {
		return nil, err
	}
	cfg := a.Config()
	var out []Record
	var errs []error
	for _, in := range intents {
		g, ok := cfg.Group(in.Group)
		if !ok {
			a.metrics.unknown.Add(float64(max(in.Alerts, 1)))
			a.logger.Warn("alert for an unknown group acknowledged and ignored", "group", in.Group, "action", in.Action, "alerts", in.Alerts)
			continue
		}
		rec, err := a.decide(ctx, cfg, g, in)
		out = append(out, rec)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// decide takes one intent through idempotency, fresh state, the guards and
// the scaler, under the group's lock.
func (a *Actuator) decide(ctx context.Context, cfg *config.Config, g *config.Group, in Intent) (rec Record, err error) {
	l := a.groupLock(g.Name)
	l.Lock()
	defer l.Unlock()
	start := a.clock.Now()
	rec = Record{Key: in.Key, Intent: in}
	defer func() {
		rec.Duration = a.clock.Now().Sub(start)
		a.finish(g, rec)
	}()

	// A notification whose earlier effect stopped short of its goal (the
	// step limit) continues under a derived key once the guards allow it;
	// one that got there, or is under way, is a duplicate.
	for bound := 0; ; bound++ {
		e, ok := a.store.Key(rec.Key, start)
		if !ok {
			break
		}
		if e.State != KeyDone || e.Reached() || bound > maxCount {
			rec.Decision = Decision{Time: start, Group: g.Name, Action: in.Action, From: e.To, Goal: e.Goal, To: e.To, Outcome: OutcomeDuplicate,
				Reason: fmt.Sprintf("key %s already %s at %s", rec.Key, e.State, e.Started.UTC().Format(time.RFC3339))}
			return rec, nil
		}
		rec.Key = ContinuationKey(rec.Key, e)
	}
	scaler, _ := a.scalers.For(g)
	failed := func(err error) (Record, error) {
		rec.Outcome, rec.Error = OutcomeFailed, err.Error()
		if rec.Time.IsZero() {
			rec.Decision = Decision{Time: start, Group: g.Name, Action: in.Action, Outcome: OutcomeFailed}
		}
		if hwcloud.Retryable(err) {
			rec.Transient = true
			return rec, &TransientError{Err: err}
		}
		return rec, nil
	}
	// A state file that cannot be written stops the decision before the
	// cloud is touched; the retry decides again.
	storeFailed := func(err error) (Record, error) {
		rec.Outcome, rec.Error, rec.Transient = OutcomeFailed, err.Error(), true
		return rec, &TransientError{Err: err}
	}

	cloud, err := scaler.State(ctx, g, start)
	if err != nil {
		return failed(err)
	}
	a.setCloud(g.Name, cloud)
	local := a.store.Group(g.Name)
	rec.Cloud, rec.Local = &cloud, local.Clone()
	rec.Decision = Decide(start, g, cfg.Actuator.DryRun, cloud, local, in)

	if rec.Outcome != OutcomeApplied {
		local.Record(start, g, in, rec.Decision)
		if err := a.store.PutGroup(g.Name, local); err != nil {
			return storeFailed(err)
		}
		return rec, nil
	}

	if err := a.store.Begin(rec.Key, KeyEntry{Group: g.Name, Action: in.Action, Started: start,
		Expires: start.Add(cfg.Actuator.IdempotencyTTL), To: rec.To, Goal: rec.Goal}); err != nil {
		return storeFailed(err)
	}
	res, err := scaler.SetDesired(ctx, g, cloud, rec.To, ClientToken(rec.Key))
	end := a.clock.Now()
	effect := len(res.Added) > 0 || len(res.Removed) > 0
	if err != nil && !effect {
		// Nothing happened that we know of: release the key so a retry acts;
		// a change the cloud made anyway shows in the retry's fresh state.
		if rerr := a.store.Release(rec.Key); rerr != nil {
			return rec, errors.Join(err, rerr)
		}
		local.Record(start, g, in, Decision{Outcome: OutcomeFailed})
		rec.Result = &res
		if perr := a.store.PutGroup(g.Name, local); perr != nil {
			return storeFailed(errors.Join(err, perr))
		}
		return failed(err)
	}
	rec.Result = &res
	if err != nil {
		rec.Error = err.Error()
	}
	if res.Desired != rec.To {
		rec.To = res.Desired
	}
	local.Record(end, g, in, rec.Decision)
	if err := a.store.Finish(rec.Key, rec.To, g.Name, local, end); err != nil {
		return rec, err
	}
	return rec, nil
}

// finish records a decision: metrics, the JSON log line and the recent list.
func (a *Actuator) finish(g *config.Group, rec Record) {
	a.metrics.decisions.WithLabelValues(g.Name, string(rec.Action), rec.Outcome).Inc()
	if rec.Outcome == OutcomeRefused {
		a.metrics.refusals.WithLabelValues(g.Name, rec.Reason).Inc()
	}
	a.metrics.duration.WithLabelValues(g.Name).Observe(rec.Duration.Seconds())
	level := slog.LevelInfo
	if rec.Outcome == OutcomeFailed {
		level = slog.LevelWarn
	}
	a.logger.Log(context.Background(), level, "decision", "group", g.Name, "action", rec.Action, "outcome", rec.Outcome,
		"from", rec.From, "to", rec.To, "reason", rec.Reason, "record", rec)
	a.log.add(rec)
}

// Decisions returns up to limit recent decisions, newest first, of one group or all ("").
func (a *Actuator) Decisions(group string, limit int) []Record { return a.log.list(group, limit) }

// decisionLog keeps the most recent decisions in a ring.
type decisionLog struct {
	mu   sync.Mutex
	buf  []Record
	next int
	full bool
}

func newDecisionLog(n int) *decisionLog { return &decisionLog{buf: make([]Record, max(n, 1))} }

func (l *decisionLog) add(r Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf[l.next] = r
	l.next = (l.next + 1) % len(l.buf)
	if l.next == 0 {
		l.full = true
	}
}

func (l *decisionLog) list(group string, limit int) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.buf)
	}
	out := []Record{}
	for i := 0; i < n; i++ {
		r := l.buf[(l.next-1-i+len(l.buf))%len(l.buf)]
		if group != "" && r.Group != group {
			continue
		}
		out = append(out, r)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out
}
