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
	"net/http"
	"sort"
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
	// logged says the store logged the record with the decision's own write.
	logged bool
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
	// Store is the state file (NewFileStore) or etcd (OpenEtcdStore).
	Store  StateStore
	Clock  clock.Clock
	Logger *slog.Logger
	// Registerer receives the actuator's metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Hindsight tells what followed a decision, for grading; nil reads the
	// Prometheus of actuator.grading through HTTPClient.
	Hindsight  Hindsight
	HTTPClient *http.Client
}

// Actuator applies notifications. It is safe for concurrent use: deliveries
// for one group queue on that group's lock.
type Actuator struct {
	clock   clock.Clock
	logger  *slog.Logger
	store   StateStore
	scalers Scalers
	metrics *metrics
	jobs    *jobs

	mu    sync.RWMutex
	cfg   *config.Config
	cloud map[string]CloudState
	log   *decisionLog

	after      Hindsight
	httpClient *http.Client
}

// New builds an actuator; every configured group's backend must have a scaler.
func New(o Options) (*Actuator, error) {
	if o.Config == nil || o.Store == nil || o.Clock == nil || o.Logger == nil {
		return nil, errors.New("actuator: Config, Store, Clock and Logger are required")
	}
	a := &Actuator{
		clock: o.Clock, logger: o.Logger, store: o.Store, scalers: o.Scalers,
		metrics: newMetrics(),
		jobs:    newJobs(),
		cloud:   map[string]CloudState{},
		after:   o.Hindsight, httpClient: o.HTTPClient,
	}
	if a.httpClient == nil {
		a.httpClient = &http.Client{}
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
			for _, v := range verdictsFor(act) {
				a.metrics.graded.WithLabelValues(g.Name, string(act), string(v))
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

// decide takes one intent through idempotency, fresh state, reconciliation
// of write-ahead intents, the guards and the scaler, under the group's lock
// (shared by every replica with etcd).
func (a *Actuator) decide(ctx context.Context, cfg *config.Config, g *config.Group, in Intent) (rec Record, err error) {
	start := a.clock.Now()
	rec = Record{Key: in.Key, Intent: in}
	defer func() {
		rec.Duration = a.clock.Now().Sub(start)
		a.finish(ctx, g, rec)
	}()
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
	lk, err := a.store.Lock(ctx, g.Name)
	if err != nil {
		rec.Transient, rec.Outcome, rec.Error = true, OutcomeFailed, err.Error()
		rec.Decision = Decision{Time: start, Group: g.Name, Action: in.Action, Outcome: OutcomeFailed}
		return rec, &TransientError{Err: err}
	}
	defer lk.Unlock()
	// A store that cannot be read or written stops the decision before the
	// cloud is touched; the retry decides again.
	storeFailed := func(err error) (Record, error) {
		rec.Outcome, rec.Error, rec.Transient = OutcomeFailed, err.Error(), true
		if rec.Time.IsZero() {
			rec.Decision = Decision{Time: start, Group: g.Name, Action: in.Action, Outcome: OutcomeFailed}
		}
		return rec, &TransientError{Err: err}
	}
	start = a.clock.Now()

	// A notification whose earlier effect stopped short of its goal (the
	// step limit) continues under a derived key once the guards allow it;
	// one that got there is a duplicate. A key in progress is a write-ahead
	// intent, settled below; a relative step keeps the target it was given
	// when its key was first seen.
	fixed := in
	for bound := 0; ; bound++ {
		e, ok, err := a.store.Key(ctx, rec.Key, start)
		if err != nil {
			return storeFailed(err)
		}
		if !ok {
			break
		}
		if e.State == KeySeen || e.State == KeyInProgress {
			if !in.HasTarget && e.State == KeySeen {
				fixed.Target, fixed.HasTarget = e.Goal, true
			}
			break
		}
		if e.Reached() || bound > maxCount {
			rec.Decision = Decision{Time: start, Group: g.Name, Action: in.Action, From: e.To, Goal: e.Goal, To: e.To, Outcome: OutcomeDuplicate,
				Reason: fmt.Sprintf("key %s already %s at %s", rec.Key, e.State, e.Started.UTC().Format(time.RFC3339))}
			return rec, nil
		}
		rec.Key = ContinuationKey(rec.Key, e)
		if !in.HasTarget {
			fixed.Target, fixed.HasTarget = e.Goal, true
		}
	}
	scaler, _ := a.scalers.For(g)
	cloud, err := scaler.State(ctx, g, start)
	if err != nil {
		return failed(err)
	}
	a.jobs.apply(g.Name, &cloud)
	a.setCloud(g.Name, cloud)
	local, err := lk.Group(ctx)
	if err != nil {
		return storeFailed(err)
	}
	settled, landed, err := a.reconcile(ctx, lk, g, cloud, local, rec.Key)
	for _, r := range settled {
		a.finish(ctx, g, r)
	}
	if err != nil {
		return storeFailed(err)
	}
	if landed {
		rec.Decision = Decision{Time: start, Group: g.Name, Action: in.Action, From: cloud.Desired, To: cloud.Desired, Outcome: OutcomeDuplicate,
			Reason: fmt.Sprintf("key %s: its earlier write landed and is now recorded", rec.Key)}
		return rec, nil
	}
	if e, ok, err := a.store.Key(ctx, rec.Key, start); err == nil && ok && e.State == KeySeen && !in.HasTarget {
		fixed.Target, fixed.HasTarget = e.Goal, true // fixed again by reconciliation just now
	}
	if f, isNew := fixStep(fixed, cloud.Desired); isNew {
		fixed = f
		if err := lk.PutKey(ctx, rec.Key, KeyEntry{Group: g.Name, Action: in.Action, State: KeySeen, Started: start,
			Expires: start.Add(cfg.Actuator.IdempotencyTTL), Goal: f.Target, Step: max(in.Step, 1)}); err != nil {
			return storeFailed(err)
		}
	}
	rec.Cloud, rec.Local = &cloud, local.Clone()
	rec.Decision = Decide(start, g, cfg.Actuator.DryRun, cloud, local, fixed)

	if rec.Outcome != OutcomeApplied {
		local.Record(start, g, in, rec.Decision)
		if err := lk.PutGroup(ctx, local); err != nil {
			return storeFailed(err)
		}
		return rec, nil
	}

	// The write-ahead intent: fenced by the lock, on disk or in etcd before
	// the cloud is called. A replica whose lock is gone stops here.
	intent := KeyEntry{Group: g.Name, Action: in.Action, State: KeyInProgress, Started: start,
		Expires: start.Add(cfg.Actuator.IdempotencyTTL), From: cloud.Desired, To: rec.To, Goal: rec.Goal, Token: ClientToken(rec.Key)}
	if !in.HasTarget {
		intent.Step = max(in.Step, 1)
	}
	if err := lk.PutKey(ctx, rec.Key, intent); err != nil {
		return storeFailed(err)
	}
	select {
	case <-lk.Lost():
		return storeFailed(ErrLockLost) // the intent stays for the next holder to reconcile
	default:
	}
	res, err := scaler.SetDesired(ctx, g, cloud, rec.To, intent.Token)
	end := a.clock.Now()
	effect := len(res.Added) > 0 || len(res.Removed) > 0 || res.JobID != ""
	if err != nil && !effect {
		rec.Result = &res
		if ambiguous(err) {
			// It may have landed: the intent stays, and the redelivery
			// Alertmanager makes after the 5xx reconciles it.
			return failed(err)
		}
		// Refused before anything happened: release the key so a retry acts.
		if rerr := lk.Release(ctx, rec.Key); rerr != nil {
			return storeFailed(errors.Join(err, rerr))
		}
		local.Record(start, g, in, Decision{Outcome: OutcomeFailed})
		if perr := lk.PutGroup(ctx, local); perr != nil {
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
	if cfg.Actuator.Grading != nil {
		local.awaitGrade(rec.Decision, g.LeadTime())
	}
	rec.Duration = end.Sub(start)
	if err := lk.Finish(ctx, rec.Key, rec.To, local, end, rec); err != nil {
		// The write happened; the intent stays, and the retry reconciles it.
		return storeFailed(err)
	}
	rec.logged = true
	if res.JobID != "" {
		a.follow(g, rec, cloud.Desired)
	}
	return rec, nil
}

// finish records a decision: metrics, the JSON log line, the recent list
// and, with etcd, the shared log (duplicates are already there).
func (a *Actuator) finish(ctx context.Context, g *config.Group, rec Record) {
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
	if rec.Outcome != OutcomeDuplicate && !rec.logged {
		if err := a.store.Log(context.WithoutCancel(ctx), rec); err != nil {
			a.logger.Warn("decision not kept in the shared log", "group", g.Name, "err", err)
		}
	}
}

// Decisions returns up to limit recent decisions, newest first, of one group or all ("").
func (a *Actuator) Decisions(group string, limit int) []Record { return a.log.list(group, limit) }

// historian is a store whose decision log every replica writes (etcd).
type historian interface {
	History(ctx context.Context, group string, limit int) ([]Record, error)
}

// errNoSharedLog is SharedDecisions' answer on a store without a shared log.
var errNoSharedLog = errors.New("this actuator's state store keeps no shared decision log (the file store has one replica): use scope=local")

// SharedDecisions returns up to limit decisions of every replica, newest
// first, of one group or all (""), from the store's shared log: duplicates
// are not in it, since the replica that applied a key logged it.
func (a *Actuator) SharedDecisions(ctx context.Context, group string, limit int) ([]Record, error) {
	h, ok := a.store.(historian)
	if !ok {
		return nil, errNoSharedLog
	}
	groups := []string{group}
	if group == "" {
		groups = groups[:0]
		for _, g := range a.Config().Groups {
			groups = append(groups, g.Name)
		}
	}
	var out []Record
	for _, g := range groups {
		recs, err := h.History(ctx, g, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

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
