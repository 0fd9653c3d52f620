package actuator

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// poolWorld is simcloud's web group (2 unmanaged servers) with a warm pool
// of size poolSize, and replicas of the actuator deciding over it through
// the real SDK.
type poolWorld struct {
	t     *testing.T
	clock *clock.Fake
	env   *simcloudtest.Env
	cfg   *config.Config
	calls *simHarness // counts simcloud's requests
}

func newPoolWorld(t *testing.T, poolSize int) *poolWorld {
	t.Helper()
	c := clock.NewFake(t0)
	env := simcloudtest.Start(t, simcloudtest.Config(), c)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms, timeout: 2s}
actuator: {insecure_no_auth: true}
`, env.URL, simcloudtest.ProjectID) + fmt.Sprintf(simGroups, "") + fmt.Sprintf("    warm_pool: {size: %d, start_time: 15s}\n", poolSize)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
	return &poolWorld{t: t, clock: c, env: env, cfg: cfg, calls: &simHarness{harness: &harness{t: t}, env: env}}
}

// replica starts an actuator on store over simcloud.
func (w *poolWorld) replica(store StateStore) *Actuator {
	w.t.Helper()
	scalers, err := simScalers(w.cfg, w.clock, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := New(Options{Config: w.cfg, Scalers: scalers, Store: store, Clock: w.clock, Logger: promslog.NewNopLogger()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(a.Close)
	return a
}

func (w *poolWorld) fileReplica() *Actuator {
	w.t.Helper()
	s, err := OpenStore(filepath.Join(w.t.TempDir(), "state.json"), t0)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.replica(NewFileStore(s))
}

// managed creates n managed web servers in service, and stops the first
// stopped of them: the pool as an earlier scale-in left it.
func (w *poolWorld) managed(n, stopped int) []string {
	w.t.Helper()
	job, err := w.env.World.CreateServers(world.CreateServersRequest{Name: "flexus-web", Flavor: "x1.2u.4g", Count: n,
		Tags: []world.Tag{{Key: config.ManagedTagKey, Value: "true"}, {Key: "flexus-group", Value: "web"}}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	w.env.World.Advance(w.clock.Now())
	if stopped > 0 {
		if _, err := w.env.World.StopServers(job.ServerIDs[:stopped]); err != nil {
			w.t.Fatal(err)
		}
	}
	w.clock.Advance(time.Minute)
	w.env.World.Advance(w.clock.Now())
	return job.ServerIDs[:stopped]
}

// web is the group as simcloud sees it now.
func (w *poolWorld) web() world.GroupState {
	w.t.Helper()
	w.env.World.Advance(w.clock.Now())
	g, err := w.env.World.Group("web")
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// starts is how often each server was started.
func (w *poolWorld) starts(ids []string) []int {
	w.t.Helper()
	out := make([]int, len(ids))
	for i, id := range ids {
		in, err := w.env.World.Instance(id)
		if err != nil {
			w.t.Fatal(err)
		}
		out[i] = in.Starts
	}
	return out
}

func onceEach(starts []int) bool {
	for _, n := range starts {
		if n != 1 {
			return false
		}
	}
	return true
}

func TestWarmPoolScaleOutStartsPooledServersFirst(t *testing.T) {
	w := newPoolWorld(t, 2)
	pooled := w.managed(2, 2)
	if g := w.web(); g.Desired != 2 || g.Stopped != 2 {
		t.Fatalf("setup: desired %d, stopped %d", g.Desired, g.Stopped)
	}
	a := w.fileReplica()
	recs, err := handleUntilDone(t, a, notification("gk", alert("web", ScaleOut, "5", "a")))
	if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeApplied || recs[0].To != 5 {
		t.Fatalf("scale-out: %v %+v", err, recs)
	}
	added := append([]string(nil), recs[0].Result.Added...)
	sort.Strings(added)
	sort.Strings(pooled)
	if len(added) != 3 || !contains(added, pooled[0]) || !contains(added, pooled[1]) {
		t.Fatalf("added %v: want both pooled servers %v and one new", added, pooled)
	}
	if !onceEach(w.starts(pooled)) {
		t.Errorf("pooled servers started %v times, want once each", w.starts(pooled))
	}
	if n := w.calls.okCalls("CreateServers"); n != 1 {
		t.Errorf("%d CreateServers calls, want 1 (for the one server the pool lacked)", n)
	}
	// A start serves sooner than a create: simcloud's start delay is a third
	// of its 45s boot.
	for _, id := range added {
		in, err := w.env.World.Instance(id)
		if err != nil {
			t.Fatal(err)
		}
		took, want := in.Ready.Sub(in.Created), 45*time.Second
		if contains(pooled, id) {
			took, want = in.Ready.Sub(recs[0].Time), 15*time.Second
		}
		if took != want {
			t.Errorf("server %s (pooled %v) served %s after it was asked for, want %s", id, contains(pooled, id), took, want)
		}
	}
	if g := w.web(); g.Stopped != 0 || g.Current != 5 {
		t.Errorf("stopped %d, current %d; want 0 and 5", g.Stopped, g.Current)
	}
}

func TestWarmPoolScaleInStopsIntoThePoolAndDeletesTheRest(t *testing.T) {
	w := newPoolWorld(t, 1)
	w.managed(3, 0)
	w.clock.Advance(5 * time.Minute) // past the scale-in cooldown from their launch
	a := w.fileReplica()
	recs, err := handleUntilDone(t, a, notification("gk", alert("web", ScaleIn, "3", "a")))
	if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeApplied || recs[0].To != 3 {
		t.Fatalf("scale-in: %v %+v", err, recs)
	}
	w.clock.Advance(time.Minute)
	if g := w.web(); g.Stopped != 1 || g.Current != 3 {
		t.Fatalf("stopped %d, current %d: want 1 stopped into the pool of 1 and 3 serving", g.Stopped, g.Current)
	}
	if stop, del := w.calls.okCalls("BatchServerAction"), w.calls.okCalls("DeleteServers"); stop != 1 || del != 1 {
		t.Fatalf("%d stops and %d deletes, want one each", stop, del)
	}
	// The stopped server is out of the count the next decision reads.
	cs, err := a.scalers[config.BackendECS].State(context.Background(), &w.cfg.Groups[1], w.clock.Now())
	if err != nil || cs.Desired != 3 || cs.Pooled != 1 {
		t.Fatalf("state %+v %v: want desired 3, pooled 1", cs, err)
	}
}

func TestWarmPoolARepeatedNotificationStartsNothingTwice(t *testing.T) {
	t.Run("the same notification again is a duplicate", func(t *testing.T) {
		w := newPoolWorld(t, 2)
		pooled := w.managed(2, 2)
		a := w.fileReplica()
		body := notification("gk", alert("web", ScaleOut, "4", "a"))
		for i := range 2 {
			if _, err := handleUntilDone(t, a, body); err != nil {
				t.Fatalf("delivery %d: %v", i, err)
			}
		}
		if got := w.starts(pooled); !onceEach(got) || w.calls.calls("BatchServerAction") != 1 {
			t.Fatalf("starts %v after %d start calls: want each once, one call", got, w.calls.calls("BatchServerAction"))
		}
	})
	t.Run("a start whose answer timed out is reconciled, not sent again", func(t *testing.T) {
		w := newPoolWorld(t, 2)
		pooled := w.managed(2, 2)
		a := w.fileReplica()
		body := notification("gk", alert("web", ScaleOut, "4", "a"))
		if err := w.env.Server.SetFault("BatchServerAction", simcloud.Fault{Latency: model.Duration(3 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if _, err := handleUntilDone(t, a, body); err == nil {
			t.Fatal("the timed-out start was answered as done: Alertmanager would not redeliver")
		}
		if err := w.env.Server.SetFault("BatchServerAction", simcloud.Fault{}); err != nil {
			t.Fatal(err)
		}
		// simcloud carries the call out once it sees the client gone, which
		// a loaded machine may notice after the redelivery reads the group;
		// this case is the start that landed, so wait for it (bounded).
		for deadline := time.Now().Add(10 * time.Second); !onceEach(w.starts(pooled)); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the timed-out start never landed: starts %v", w.starts(pooled))
			}
		}
		recs, err := handleUntilDone(t, a, body)
		if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeDuplicate {
			t.Fatalf("redelivery: %v %+v: want the landed start recorded as a duplicate", err, recs)
		}
		if got := w.starts(pooled); !onceEach(got) || w.calls.calls("BatchServerAction") != 1 {
			t.Fatalf("starts %v after %d start calls: want each once, one call", got, w.calls.calls("BatchServerAction"))
		}
		if g := w.web(); g.Current != 4 {
			t.Fatalf("current %d, want 4", g.Current)
		}
	})
}

func TestWarmPoolTwoReplicasStartThePoolOnce(t *testing.T) {
	e := testenv.StartEtcd(t)
	c := etcdConfig(e, t)
	w := newPoolWorld(t, 2)
	pooled := w.managed(2, 2)
	a, b := w.replica(openEtcd(t, c)), w.replica(openEtcd(t, c))
	// Near-duplicate alerts from an Alertmanager pair, each redelivered, all at once.
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		r, tgt := a, "4"
		if i%2 == 1 {
			r, tgt = b, "5"
		}
		body := notification("gk-"+tgt, alert("web", ScaleOut, tgt, "fp-"+tgt))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := handleUntilDone(t, r, body); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := w.starts(pooled); !onceEach(got) {
		t.Fatalf("pooled servers started %v times, want once each", got)
	}
	if n := w.calls.calls("BatchServerAction"); n != 1 {
		t.Fatalf("%d start calls, want 1 (the cooldown refuses the rest)", n)
	}
	if g := w.web(); g.Current != 4 && g.Current != 5 {
		t.Fatalf("current %d: want 4 or 5, whichever replica decided first", g.Current)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func TestWarmPoolASGroupGetsAndUsesItsOwnPool(t *testing.T) {
	c := clock.NewFake(t0)
	env := simcloudtest.Start(t, simcloudtest.Config(), c)
	groups := strings.Replace(fmt.Sprintf(simGroups, ""), "  - name: web", "    warm_pool: {size: 2}\n  - name: web", 1)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms, timeout: 2s}
actuator: {insecure_no_auth: true}
`, env.URL, simcloudtest.ProjectID) + groups))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
	w := &poolWorld{t: t, clock: c, env: env, cfg: cfg, calls: &simHarness{harness: &harness{t: t}, env: env}}
	a := w.fileReplica()
	for i, target := range []string{"4", "6"} {
		recs, err := handleUntilDone(t, a, notification("gk"+target, alert("gpu-pool", ScaleOut, target, "a"+target)))
		if err != nil || recs[0].Outcome != OutcomeApplied {
			t.Fatalf("scale-out %d: %v %+v", i, err, recs)
		}
		c.Advance(6 * time.Minute)
	}
	if n, _ := env.World.PoolSize("gpu-pool"); n != 2 {
		t.Fatalf("AS warm pool %d, want the configured 2", n)
	}
	if put, show := w.calls.okCalls("PutWarmPool"), w.calls.okCalls("ShowWarmPool"); put != 1 || show != 1 {
		t.Fatalf("%d PutWarmPool and %d ShowWarmPool calls over two decisions, want one each", put, show)
	}
	ins, err := env.World.Instances("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	for _, in := range ins {
		started += in.Starts
	}
	if started != 2 {
		t.Fatalf("%d starts from the pool, want 2: AS takes its pool first", started)
	}
}
