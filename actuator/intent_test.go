package actuator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/hwcloud/hwcloudtest"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// haConfig is issue 13's setting: a step limit of 2 and a 60 s cooldown,
// an AS group (web) and an ECS group (api).
const haConfig = `
cloud: {region: cn-north-4, project_id: p}
actuator: {insecure_no_auth: true}
groups:
  - name: web
    discovery: {as_group_id: asg-web}
    min_instances: 1
    max_instances: 10
    scaling: {cooldown_out: 60s, cooldown_in: 60s, max_step_out: 2, max_step_out_percent: 100, max_step_in: 2, max_step_in_percent: 100, scale_in_stabilization: 1s}
  - name: api
    discovery: {tag: {key: flexus-group, value: api}}
    min_instances: 1
    max_instances: 10
    scaling: {cooldown_out: 60s, cooldown_in: 60s, max_step_out: 2, max_step_out_percent: 100, max_step_in: 2, max_step_in_percent: 100, scale_in_stabilization: 1s, boot_time: 1s}
    ecs: {flavor: x1.2u.4g, image_id: img-1, vpc_id: vpc-1, subnet_id: sub-1}
`

// haWorld is one fake cloud and the replicas deciding over it.
type haWorld struct {
	t     testing.TB
	cfg   *config.Config
	clock *clock.Fake
	cloud *hwcloudtest.Fake
	// open returns a new replica's store on the shared state.
	open func() StateStore
}

func newHAWorld(t testing.TB, open func() StateStore) *haWorld {
	cfg, err := config.Parse([]byte(haConfig))
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(t0)
	w := &haWorld{t: t, cfg: cfg, clock: c, cloud: hwcloudtest.New(c), open: open}
	w.cloud.SetGroup(hwcloud.Group{ID: "asg-web", Desired: 8, Current: 8, Min: 1, Max: 10, Status: "INSERVICE"})
	return w
}

// crashPoint names where a replica dies in the middle of a decision.
type crashPoint string

const (
	noCrash          crashPoint = ""
	crashBeforeWrite crashPoint = "after the intent, before the cloud write"
	crashAfterWrite  crashPoint = "after the cloud write, before the record"
)

// crashingScaler kills the delivering goroutine at its crash point, as
// kill -9 would: nothing after it runs but the deferred releases, and the
// replica's store is closed first so those write nothing either.
type crashingScaler struct {
	Scaler
	at    crashPoint
	store StateStore
}

func (c *crashingScaler) SetDesired(ctx context.Context, g *config.Group, cur CloudState, desired int, token string) (Result, error) {
	if c.at == crashBeforeWrite {
		c.store.Close()
		runtime.Goexit()
	}
	res, err := c.Scaler.SetDesired(ctx, g, cur, desired, token)
	if c.at == crashAfterWrite {
		c.store.Close()
		runtime.Goexit()
	}
	return res, err
}

// scalers are the backends over the shared fake cloud; ecs replaces the ECS one.
func (w *haWorld) scalers(ecs *ECSScaler) Scalers {
	cl := w.cloud.Clients()
	if ecs == nil {
		ecs = &ECSScaler{Client: cl.ECS, Sleep: noSleep}
	}
	return Scalers{config.BackendAS: &ASScaler{Client: cl.AS}, config.BackendECS: ecs}
}

func (w *haWorld) managedServer() {
	w.cloud.AddServer(hwcloud.Server{Tags: map[string]string{"flexus-group": "api", config.ManagedTagKey: "true"}, Created: t0.Add(-time.Hour)})
}

// replica starts an actuator on a new store over the shared state.
func (w *haWorld) replica(crash crashPoint) *Actuator {
	w.t.Helper()
	store := w.open()
	scalers := w.scalers(nil)
	if crash != noCrash {
		for k, s := range scalers {
			scalers[k] = &crashingScaler{Scaler: s, at: crash, store: store}
		}
	}
	a, err := New(Options{Config: w.cfg, Scalers: scalers, Store: store, Clock: w.clock, Logger: promslog.NewNopLogger()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(a.Close)
	return a
}

// deliver hands one notification to a replica and waits for its answer,
// or its death at a crash point.
func (w *haWorld) deliver(a *Actuator, body []byte) ([]Record, error) {
	w.t.Helper()
	return handleUntilDone(w.t, a, body)
}

// handleUntilDone decodes body and lets a handle it on its own goroutine, so
// that a crash point (which ends that goroutine) reads as the replica dying
// mid-decision; it returns once the answer and the background jobs are done.
func handleUntilDone(t fataler, a *Actuator, body []byte) ([]Record, error) {
	t.Helper()
	m, err := DecodeWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	done := make(chan struct{})
	go func() {
		defer close(done)
		recs, err = a.Handle(context.Background(), m)
		a.WaitJobs()
	}()
	<-done
	return recs, err
}

func stepAlertOf(group string, action Action, step int, fp string) Alert {
	a := alert(group, action, "", fp)
	a.Annotations[AnnotationStep] = fmt.Sprint(step)
	return a
}

// eachStore runs a specification on the state file and on etcd.
func eachStore(t *testing.T, spec func(t *testing.T, w *haWorld)) {
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		spec(t, newHAWorld(t, func() StateStore {
			s, err := OpenStore(path, t0)
			if err != nil {
				t.Fatal(err)
			}
			return NewFileStore(s)
		}))
	})
	t.Run("etcd", func(t *testing.T) {
		e := testenv.StartEtcd(t)
		c := etcdConfig(e, t)
		spec(t, newHAWorld(t, func() StateStore {
			s, err := OpenEtcdStore(context.Background(), c, 100)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}))
	})
}

func TestStepAlertActsOnceThroughAmbiguousWritesAndCrashes(t *testing.T) {
	eachStore(t, func(t *testing.T, w *haWorld) {
		body := notification("gk", stepAlertOf("web", ScaleIn, 1, "a"))
		t.Run("a write that timed out but landed is recorded, and its redelivery does not act", func(t *testing.T) {
			a := w.replica(noCrash)
			w.cloud.Lose("UpdateScalingGroup", hwcloudtest.HTTPError(504))
			if _, err := w.deliver(a, body); !errors.As(err, new(*TransientError)) {
				t.Fatalf("first delivery: %v, want a transient error (503)", err)
			}
			w.clock.Advance(2 * time.Minute) // past the cooldown: only the key may stop it now
			recs, err := w.deliver(a, body)
			if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeDuplicate {
				t.Fatalf("redelivery: %v %+v", err, recs)
			}
			if d, ups := w.cloud.Desired("asg-web"); d != 7 || len(ups) != 1 {
				t.Fatalf("desired %d after %d writes, want 7 after one (8 - step 1)", d, len(ups))
			}
			applied := 0
			for _, r := range a.Decisions("web", 0) {
				if r.Outcome == OutcomeApplied {
					applied++
				}
			}
			if applied != 1 {
				t.Fatalf("%d applied records, want the write recorded once", applied)
			}
		})
		t.Run("a crash between the write and the record: the restarted replica records it and does not act again", func(t *testing.T) {
			w.clock.Advance(2 * time.Minute)
			body := notification("gk2", stepAlertOf("web", ScaleIn, 1, "b"))
			w.deliver(w.replica(crashAfterWrite), body)
			if d, _ := w.cloud.Desired("asg-web"); d != 6 {
				t.Fatalf("desired %d, want 6", d)
			}
			w.clock.Advance(2 * time.Minute)
			recs, err := w.deliver(w.replica(noCrash), body)
			if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeDuplicate {
				t.Fatalf("redelivery after restart: %v %+v", err, recs)
			}
			if d, ups := w.cloud.Desired("asg-web"); d != 6 || len(ups) != 2 {
				t.Fatalf("desired %d after %d writes, want 6 after two in all", d, len(ups))
			}
		})
	})
}

func TestECSCrashBeforeTheWriteDecidesAgainAndRecordsTheTruth(t *testing.T) {
	eachStore(t, func(t *testing.T, w *haWorld) {
		for i := 0; i < 3; i++ {
			w.managedServer()
		}
		body := notification("gk", alert("api", ScaleOut, "4", "a"))
		w.deliver(w.replica(crashBeforeWrite), body)
		if n := len(w.cloud.ServerIDs()); n != 3 {
			t.Fatalf("%d servers after a crash before the write, want 3", n)
		}
		recs, err := w.deliver(w.replica(noCrash), body)
		if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeApplied || recs[0].From != 3 || recs[0].To != 4 {
			t.Fatalf("redelivery: %v %+v", err, recs)
		}
		if n := len(w.cloud.ServerIDs()); n != 4 {
			t.Fatalf("the record says applied 3->4 and the group has %d servers", n)
		}
	})
}

func TestTwoReplicasNeverDoubleScale(t *testing.T) {
	e := testenv.StartEtcd(t)
	c := etcdConfig(e, t)
	w := newHAWorld(t, func() StateStore { return openEtcd(t, c) })
	w.managedServer()
	w.managedServer()
	a, b := w.replica(noCrash), w.replica(noCrash)
	// Near-duplicate alerts from an Alertmanager pair: target 4 on one
	// replica, 5 on the other, each redelivered, all at once.
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		r, tgt := a, "4"
		if i%2 == 1 {
			r, tgt = b, "5"
		}
		body := notification("gk-"+tgt, alert("api", ScaleOut, tgt, "fp-"+tgt))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.deliver(r, body); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n, creates := len(w.cloud.ServerIDs()), len(w.cloud.Creates()); n != 4 || creates != 1 {
		t.Fatalf("%d servers after %d creates, want 4 after one (2 + step 2, then the cooldown)", n, creates)
	}
}

func TestAReplicaThatLostItsLeaseNeverWrites(t *testing.T) {
	e := testenv.StartEtcd(t)
	c := etcdConfig(e, t)
	w := newHAWorld(t, func() StateStore { return openEtcd(t, c) })
	store := openEtcd(t, c)
	// The lease goes between taking the lock and the write-ahead intent, as
	// when a replica stalls longer than lease_ttl.
	losing := &leaseLosingStore{EtcdStore: store}
	a, err := New(Options{Config: w.cfg, Scalers: w.scalers(nil), Store: losing, Clock: w.clock, Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	body := notification("gk", alert("web", ScaleOut, "10", "a"))
	if _, err := w.deliver(a, body); !errors.Is(err, ErrLockLost) {
		t.Fatalf("delivery on a lost lease: %v, want ErrLockLost (503)", err)
	}
	if _, ups := w.cloud.Desired("asg-web"); len(ups) != 0 {
		t.Fatalf("a replica without its lease wrote to the cloud: %+v", ups)
	}
	recs, err := w.deliver(w.replica(noCrash), body)
	if err != nil || recs[0].Outcome != OutcomeApplied || recs[0].To != 10 {
		t.Fatalf("another replica: %v %+v", err, recs)
	}
}

// leaseLosingStore revokes its replica's lease right after each lock is
// taken, as when a replica stalls longer than lease_ttl.
type leaseLosingStore struct{ *EtcdStore }

func (s *leaseLosingStore) Lock(ctx context.Context, group string) (GroupLock, error) {
	l, err := s.EtcdStore.Lock(ctx, group)
	if err != nil {
		return nil, err
	}
	// The replica does not know yet (its keepalive has not noticed): only
	// etcd's compare of the lock's ownership stops its writes.
	if _, err := s.Client().Revoke(ctx, l.(*etcdLock).sess.Lease()); err != nil {
		return nil, err
	}
	return l, nil
}

// slowJobs are servers whose jobs run until released, and whose job reads
// fail with a 500 while failing is set.
type slowJobs struct {
	hwcloud.Servers
	release chan struct{}
	failing bool
}

func (s *slowJobs) Job(ctx context.Context, id string) (hwcloud.Job, error) {
	if s.failing {
		return hwcloud.Job{}, hwcloudtest.HTTPError(500)
	}
	select {
	case <-s.release:
		return s.Servers.Job(ctx, id)
	default:
		return hwcloud.Job{ID: id, Status: "RUNNING"}, nil
	}
}

func TestECSJobIsFollowedWithoutHoldingTheLock(t *testing.T) {
	w := newHAWorld(t, nil)
	s, err := OpenStore(filepath.Join(t.TempDir(), "state.json"), t0)
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowJobs{Servers: w.cloud.Clients().ECS, release: make(chan struct{})}
	polls := make(chan struct{}, 1000)
	sleep := func(ctx context.Context, _ time.Duration) error {
		select {
		case polls <- struct{}{}:
		default:
		}
		return ctx.Err()
	}
	a, err := New(Options{Config: w.cfg, Scalers: w.scalers(&ECSScaler{Client: slow, Sleep: sleep, MaxPolls: 1 << 30}), Store: NewFileStore(s), Clock: w.clock, Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.managedServer()
	m, _ := DecodeWebhook(notification("gk", alert("api", ScaleOut, "3", "a")))
	recs, err := a.Handle(context.Background(), m)
	if err != nil || recs[0].Outcome != OutcomeApplied {
		t.Fatalf("%v %+v", err, recs)
	}
	<-polls // the job is still followed, after the answer
	w.clock.Advance(2 * time.Minute)
	m, _ = DecodeWebhook(notification("gk2", alert("api", ScaleIn, "1", "b")))
	recs, err = a.Handle(context.Background(), m)
	if err != nil || recs[0].Outcome != OutcomeRefused || verdict(recs[0], GuardInProgress).Pass {
		t.Fatalf("a scale-in while the create's job runs: %v %+v, want refused as in progress", err, recs)
	}
	close(slow.release)
	a.WaitJobs()
	w.clock.Advance(2 * time.Minute)
	if recs, err = a.Handle(context.Background(), m); err != nil || recs[0].Outcome != OutcomeApplied {
		t.Fatalf("the scale-in once the job ended: %v %+v", err, recs)
	}
	a.Close()
}

func TestECSFollowJobStopsAtItsDeadline(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(map[bool]string{false: "a slow job", true: "ShowJob failing"}[failing], func(t *testing.T) {
			f := &slowJobs{Servers: hwcloudtest.New(clock.NewFake(t0)).Clients().ECS, release: make(chan struct{}), failing: failing}
			s := &ECSScaler{Client: f, Sleep: SleepContext, PollInterval: time.Millisecond, MaxPolls: 1 << 30}
			ctx, cancel := context.WithCancel(context.Background())
			go func() { time.Sleep(20 * time.Millisecond); cancel() }()
			jr, err := s.FollowJob(ctx, nil, "job-1")
			if jr.Done || err == nil {
				t.Fatalf("%+v %v: a job past its deadline is left, not followed on", jr, err)
			}
		})
	}
}

func verdict(r Record, guard string) Verdict {
	for _, v := range r.Guards {
		if v.Guard == guard {
			return v
		}
	}
	return Verdict{Guard: guard, Pass: true}
}

// Behind one Service, GET /api/v1/decisions reaches any replica: with etcd
// it serves every replica's decisions, not only the answering one's.
func TestDecisionsEndpointServesEveryReplicaOnEtcd(t *testing.T) {
	e := testenv.StartEtcd(t)
	c := etcdConfig(e, t)
	w := newHAWorld(t, func() StateStore { return openEtcd(t, c) })
	w.managedServer()
	a, b := w.replica(noCrash), w.replica(noCrash)
	if _, err := w.deliver(a, notification("gk-web", alert("web", ScaleOut, "10", "fp-web"))); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	if _, err := w.deliver(b, notification("gk-api", alert("api", ScaleOut, "3", "fp-api"))); err != nil {
		t.Fatal(err)
	}
	get := func(r *Actuator, q string) (int, string, []Record) {
		rec := httptest.NewRecorder()
		r.DecisionsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, PathDecisions+q, nil))
		var out struct {
			Scope     string
			Decisions []Record
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out.Scope, out.Decisions
	}
	groups := func(recs []Record) string {
		var s []string
		for _, r := range recs {
			s = append(s, r.Group+":"+r.Outcome)
		}
		return strings.Join(s, ",")
	}
	for _, r := range []*Actuator{a, b} {
		if code, scope, recs := get(r, ""); code != 200 || scope != "shared" || groups(recs) != "api:applied,web:applied" {
			t.Errorf("default: %d %q %s, want both replicas' decisions, newest first", code, scope, groups(recs))
		}
	}
	if _, _, recs := get(a, "?group=api"); groups(recs) != "api:applied" {
		t.Errorf("group=api on the replica that did not decide it: %s", groups(recs))
	}
	if _, _, recs := get(a, "?limit=1"); groups(recs) != "api:applied" {
		t.Errorf("limit=1: %s", groups(recs))
	}
	if _, scope, recs := get(a, "?scope=local"); scope != "local" || groups(recs) != "web:applied" {
		t.Errorf("scope=local: %q %s, want only its own", scope, groups(recs))
	}
	e.Stop()
	defer e.Start()
	if code, _, _ := get(a, "?scope=shared"); code != http.StatusServiceUnavailable {
		t.Errorf("etcd down: %d, want 503", code)
	}
}
