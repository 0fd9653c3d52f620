package actuator

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"pgregory.net/rapid"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// propWorld is one property run: simcloud, the actuator replicas over it,
// and every write that changed the cloud. The invariants are judged on the
// cloud's side, so a replica that dies mid-decision cannot hide a write.
type propWorld struct {
	t     *rapid.T
	clock *clock.Fake
	sim   *simcloud.Server
	cfg   *config.Config
	// open returns a new replica's store over the run's shared state.
	open     func() StateStore
	replicas []*Actuator
	bodies   [][]byte

	mu        sync.Mutex
	effective map[string]int       // client token (one per key) -> writes that changed the cloud
	last      map[string]time.Time // group/action -> the last write that changed the cloud
}

// probe is the cloud boundary as the run sees it: it records each write
// that changed the group, and dies at its crash point like kill -9 would.
type probe struct {
	Scaler
	w     *propWorld
	crash crashPoint
	store StateStore
}

func (p *probe) SetDesired(ctx context.Context, g *config.Group, cur CloudState, desired int, token string) (Result, error) {
	c := &crashingScaler{Scaler: p.Scaler, at: p.crash, store: p.store}
	before := p.w.desired(g.Name)
	defer func() { // runs on a crash too: the write happened or not, the cloud says which
		if after := p.w.desired(g.Name); after != before {
			act := ScaleOut
			if after < before {
				act = ScaleIn
			}
			p.w.wrote(g, act, token)
		}
	}()
	return c.SetDesired(ctx, g, cur, desired, token)
}

func (w *propWorld) desired(group string) int {
	st, err := w.sim.World().Group(group)
	if err != nil {
		w.t.Fatal(err)
	}
	return st.Desired
}

// wrote checks the invariants at each write that changed the cloud: each
// key takes effect at most once, and no direction acts inside its cooldown.
func (w *propWorld) wrote(g *config.Group, act Action, token string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.effective[token]++
	if w.effective[token] > 1 {
		w.t.Fatalf("the key of client token %s took effect %d times", token, w.effective[token])
	}
	cd := g.Scaling.CooldownOut
	if act == ScaleIn {
		cd = g.Scaling.CooldownIn
	}
	k, now := g.Name+"/"+string(act), w.clock.Now()
	if prev, ok := w.last[k]; ok && now.Sub(prev) < cd {
		w.t.Fatalf("%s acted at %s and again at %s, inside its cooldown %s", k, prev.Format(time.TimeOnly), now.Format(time.TimeOnly), cd)
	}
	w.last[k] = now
}

// replica starts an actuator on a new store; it dies at crash, if set.
func (w *propWorld) replica(crash crashPoint, wrap func(StateStore) StateStore) *Actuator {
	store := w.open()
	if wrap != nil {
		store = wrap(store)
	}
	scalers, err := simScalers(w.cfg, w.clock, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, s := range scalers {
		scalers[k] = &probe{Scaler: s, w: w, crash: crash, store: store}
	}
	a, err := New(Options{Config: w.cfg, Scalers: scalers, Store: store, Clock: w.clock, Logger: promslog.NewNopLogger()})
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// restart replaces replica i, as a process restart does.
func (w *propWorld) restart(i int) {
	w.replicas[i].Close()
	w.replicas[i].store.Close()
	w.replicas[i] = w.replica(noCrash, nil)
}

// deliver hands a notification to a replica and waits for its answer, or
// for its death at a crash point. Only transient errors (503) are allowed.
func (w *propWorld) deliver(a *Actuator, body []byte) []Record {
	recs, err := handleUntilDone(w.t, a, body)
	var te *TransientError
	if err != nil && !errors.As(err, &te) && !errors.Is(err, ErrLockLost) {
		w.t.Fatalf("non-transient error: %v", err)
	}
	return recs
}

func (w *propWorld) checkBounds() {
	for _, g := range w.cfg.Groups {
		if d := w.desired(g.Name); d < g.MinInstances || d > g.MaxInstances {
			w.t.Fatalf("group %s desired %d outside %d..%d", g.Name, d, g.MinInstances, g.MaxInstances)
		}
	}
}

// propertyRun drives random sequences of notifications, redeliveries,
// resolved alerts, restarts, crashes between intent, write and record,
// clock jumps and cloud faults through n replicas on the stores open
// returns, against simcloud; more adds steps of its own (etcd's).
func propertyRun(t *testing.T, n int, open func(t *testing.T) func() StateStore, more func(w *propWorld, fresh func(*rapid.T) []byte) map[string]func(*rapid.T)) {
	rapid.Check(t, func(rt *rapid.T) {
		c := clock.NewFake(t0)
		srv, err := simcloud.NewServer(simcloudtest.Config(), c, promslog.NewNopLogger())
		if err != nil {
			rt.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms, timeout: 2s}
actuator: {insecure_no_auth: true}
`, hs.URL, simcloudtest.ProjectID) + fmt.Sprintf(simGroups, "")))
		if err != nil {
			rt.Fatal(err)
		}
		cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
		w := &propWorld{t: rt, clock: c, sim: srv, cfg: cfg, open: open(t), effective: map[string]int{}, last: map[string]time.Time{}}
		for i := 0; i < n; i++ {
			w.replicas = append(w.replicas, w.replica(noCrash, nil))
		}
		defer func() {
			for _, a := range w.replicas {
				a.Close()
				a.store.Close()
			}
		}()
		fresh := func(rt *rapid.T) []byte {
			group := rapid.SampledFrom([]string{"gpu-pool", "web"}).Draw(rt, "group")
			action := rapid.SampledFrom([]Action{ScaleOut, ScaleIn}).Draw(rt, "action")
			a := alert(group, action, "", rapid.SampledFrom([]string{"f1", "f2", "f3"}).Draw(rt, "fp"))
			if step := rapid.IntRange(0, 3).Draw(rt, "step"); step > 0 {
				a.Annotations[AnnotationStep] = fmt.Sprint(step)
			} else {
				a.Annotations[AnnotationTarget] = fmt.Sprint(rapid.IntRange(0, 12).Draw(rt, "target"))
			}
			a.StartsAt = t0.Add(time.Duration(rapid.IntRange(0, 1).Draw(rt, "starts")) * time.Hour)
			b := notification("gk-"+group+"-"+string(action), a)
			w.bodies = append(w.bodies, b)
			return b
		}
		pick := func(rt *rapid.T) int { return rapid.IntRange(0, n-1).Draw(rt, "replica") }
		steps := map[string]func(*rapid.T){
			"notify": func(rt *rapid.T) { w.deliver(w.replicas[pick(rt)], fresh(rt)) },
			"redeliver": func(rt *rapid.T) {
				if len(w.bodies) == 0 {
					rt.Skip("nothing delivered yet")
				}
				w.deliver(w.replicas[pick(rt)], rapid.SampledFrom(w.bodies).Draw(rt, "body"))
			},
			"resolved": func(rt *rapid.T) {
				a := alert(rapid.SampledFrom([]string{"gpu-pool", "web"}).Draw(rt, "group"), ScaleOut, "9", "r")
				a.Status = "resolved"
				r := w.replicas[pick(rt)]
				before := len(r.Decisions("", 0))
				w.deliver(r, notification("gk-r", a))
				if after := len(r.Decisions("", 0)); after != before {
					rt.Fatalf("a resolved notification led to a decision")
				}
			},
			"restart": func(rt *rapid.T) { w.restart(pick(rt)) },
			"crash": func(rt *rapid.T) {
				// A replica dies mid-decision and comes back; Alertmanager
				// redelivers later (the redeliver step).
				i := pick(rt)
				at := rapid.SampledFrom([]crashPoint{crashBeforeWrite, crashAfterWrite}).Draw(rt, "point")
				w.replicas[i].Close()
				w.replicas[i].store.Close()
				w.deliver(w.replica(at, nil), fresh(rt))
				w.replicas[i] = w.replica(noCrash, nil)
			},
			"advance": func(rt *rapid.T) {
				w.clock.Advance(time.Duration(rapid.IntRange(0, 12*60).Draw(rt, "seconds")) * time.Second)
			},
			"jump back": func(rt *rapid.T) {
				w.clock.Advance(-time.Duration(rapid.IntRange(1, 5*60).Draw(rt, "seconds")) * time.Second)
			},
			"fault": func(rt *rapid.T) {
				api := rapid.SampledFrom([]string{"UpdateScalingGroup", "CreateServers", "ShowScalingGroup", "ListServersDetails", "DeleteServers"}).Draw(rt, "api")
				if err := srv.SetFault(api, simcloud.Fault{ErrorProbability: 1}); err != nil {
					rt.Fatal(err)
				}
				w.deliver(w.replicas[pick(rt)], fresh(rt))
				_ = srv.SetFault(api, simcloud.Fault{})
			},
			"": func(rt *rapid.T) { w.checkBounds() },
		}
		if more != nil {
			for k, f := range more(w, fresh) {
				steps[k] = f
			}
		}
		rt.Repeat(steps)
	})
}

// TestPropertyExactlyOnceUnderGuards: one replica on the state file.
// Whatever happens, desired stays within min..max, no direction acts twice
// inside its cooldown, and no idempotency key takes effect twice.
func TestPropertyExactlyOnceUnderGuards(t *testing.T) {
	propertyRun(t, 1, func(t *testing.T) func() StateStore {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("state-%d.json", time.Now().UnixNano()))
		return func() StateStore {
			s, err := OpenStore(path, t0)
			if err != nil {
				t.Fatal(err)
			}
			return NewFileStore(s)
		}
	}, nil)
}

// TestPropertyReplicasOnEtcd: the same invariants with two replicas on
// etcd, which also deliver at the same time and lose their leases.
func TestPropertyReplicasOnEtcd(t *testing.T) {
	e := testenv.StartEtcd(t)
	shared := openEtcd(t, etcdConfig(e, t)) // one connection; each store has its own lease
	run := 0
	propertyRun(t, 2, func(t *testing.T) func() StateStore {
		run++
		c := etcdConfig(e, t)
		c.Prefix += fmt.Sprintf("%d/", run)
		return func() StateStore { return NewEtcdStore(shared.Client(), c, 100) }
	}, func(w *propWorld, fresh func(*rapid.T) []byte) map[string]func(*rapid.T) {
		return map[string]func(*rapid.T){
			"interleave": func(rt *rapid.T) {
				// An Alertmanager pair: both replicas get a notification at once.
				a, b := fresh(rt), fresh(rt)
				if rapid.Bool().Draw(rt, "same") {
					b = a
				}
				var wg sync.WaitGroup
				for i, body := range [][]byte{a, b} {
					wg.Add(1)
					go func() { defer wg.Done(); w.deliver(w.replicas[i], body) }()
				}
				wg.Wait()
			},
			"lost lease": func(rt *rapid.T) {
				// The lease expires between the lock and the intent: nothing is written.
				i := rapid.IntRange(0, 1).Draw(rt, "replica")
				store := w.replicas[i].store.(*EtcdStore)
				a := w.replica(noCrash, func(StateStore) StateStore { return &leaseLosingStore{EtcdStore: store} })
				w.mu.Lock()
				before := len(w.effective)
				w.mu.Unlock()
				w.deliver(a, fresh(rt))
				a.Close()
				w.mu.Lock()
				after := len(w.effective)
				w.mu.Unlock()
				if after != before {
					rt.Fatalf("a replica without its lease changed the cloud")
				}
			},
		}
	})
}
