package actuator

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// markets counts the web group's live servers (not those being deleted) on demand and on spot, as simcloud holds them.
func markets(t *testing.T, env *simcloudtest.Env) (onDemand, spot int) {
	t.Helper()
	ins, err := env.World.Instances("web")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		switch {
		case !in.Removing.IsZero(): // being deleted
		case in.Spot:
			spot++
		default:
			onDemand++
		}
	}
	return onDemand, spot
}

// Through the real SDK against simcloud: servers up to the on-demand base
// are created on demand, the rest with marketType spot and the bid; a
// scale-in gives up spot servers before the base, whatever the
// termination policy.
func TestECSSpotGroupKeepsItsOnDemandBase(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name                string
		base                int
		from, to            int
		onDemand, spot      int // after the scale-out; simcloud's web group starts with 2 on demand
		afterIn             int // the count scaled in to
		inOnDemand, inSpots int
	}{
		{"a base above the group is filled first, then spot", 3, 2, 6, 3, 3, 4, 3, 1},
		{"a base the group already holds: every new server is spot", 2, 2, 5, 2, 3, 3, 2, 1},
		{"a base of 0: every new server is spot", 0, 2, 4, 2, 2, 3, 2, 1},
		{"a scale-in past the spot servers gives up the base last", 4, 2, 6, 4, 2, 3, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, g, clk, env := ecsOnSimcloud(t, 10, 10*time.Second, 90)
			g.ECS.TerminationPolicy = "oldest" // without the spot rule, the first (on-demand) server would go first
			g.Spot = &config.Spot{OnDemandBase: tc.base, MaxPrice: "0.2"}
			if _, err := s.SetDesired(ctx, g, CloudState{Desired: tc.from}, tc.to, "0f0e0d0c-0b0a-4908-8706-050403020100"); err != nil {
				t.Fatal(err)
			}
			if od, sp := markets(t, env); od != tc.onDemand || sp != tc.spot {
				t.Fatalf("%d on demand and %d spot, want %d and %d", od, sp, tc.onDemand, tc.spot)
			}
			clk.Advance(time.Minute)
			cur, err := s.State(ctx, g, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetDesired(ctx, g, cur, tc.afterIn, ""); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Minute)
			if od, sp := markets(t, env); od != tc.inOnDemand || sp != tc.inSpots {
				t.Fatalf("after scaling in to %d: %d on demand and %d spot, want %d and %d", tc.afterIn, od, sp, tc.inOnDemand, tc.inSpots)
			}
		})
	}
	t.Run("the bid reaches the cloud, which refuses one below the market price", func(t *testing.T) {
		s, g, _, _ := ecsOnSimcloud(t, 10, 10*time.Second, 90)
		g.Spot = &config.Spot{MaxPrice: "0.01"} // x1.2u.4g trades at 0.075 in simcloud
		_, err := s.SetDesired(ctx, g, CloudState{Desired: 2}, 3, "")
		if hwcloud.StatusCode(err) != 400 {
			t.Fatalf("a bid below the market price: %v, want the cloud's 400", err)
		}
	})
}

// spotFleet is one simcloud and the actuator replicas deciding over it,
// sharing their state in etcd.
type spotFleet struct {
	t     *testing.T
	clk   *clock.Fake
	env   *simcloudtest.Env
	cfg   *config.Config
	store func() StateStore
}

func newSpotFleet(t *testing.T) *spotFleet {
	clk := clock.NewFake(t0)
	sc := simcloudtest.Config()
	sc.World.Groups[1].Spot = world.SpotConfig{ReclaimPerHour: 1e-9} // reclaims come from the test, by World.Reclaim
	env := simcloudtest.Start(t, sc, clk)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms, timeout: 2s}
actuator: {insecure_no_auth: true}
groups:
  - name: web
    discovery: {tag: {key: flexus-group, value: web}}
    min_instances: 1
    max_instances: 8
    scaling: {cooldown_out: 5m, cooldown_in: 5m, max_step_out: 4, max_step_out_percent: 200, boot_time: 45s}
    ecs: {flavor: x1.2u.4g, image_id: img-flexus, vpc_id: vpc-1, subnet_id: subnet-1}
    spot: {on_demand_base: 2}
`, env.URL, simcloudtest.ProjectID)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
	e := testenv.StartEtcd(t)
	c := etcdConfig(e, t)
	return &spotFleet{t: t, clk: clk, env: env, cfg: cfg, store: func() StateStore { return openEtcd(t, c) }}
}

func (f *spotFleet) replica() *Actuator {
	f.t.Helper()
	scalers, err := simScalers(f.cfg, f.clk, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := New(Options{Config: f.cfg, Scalers: scalers, Store: f.store(), Clock: f.clk, Logger: promslog.NewNopLogger()})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(a.Close)
	return a
}

// reclaim takes n of the web group's spot servers back, as the cloud does.
func (f *spotFleet) reclaim(n int) {
	f.t.Helper()
	ins, err := f.env.World.Instances("web")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, in := range ins {
		if n > 0 && in.Spot {
			if err := f.env.World.Reclaim(in.ID); err != nil {
				f.t.Fatal(err)
			}
			n--
		}
	}
}

func (f *spotFleet) creates() int {
	return (&simHarness{harness: &harness{t: f.t}, env: f.env}).okCalls("CreateServers")
}

func TestReclaimedSpotCapacityIsReplacedOnceAcrossReplicas(t *testing.T) {
	f := newSpotFleet(t)
	a, b := f.replica(), f.replica()
	if _, err := handleUntilDone(t, a, notification("gk", alert("web", ScaleOut, "6", "fp"))); err != nil {
		t.Fatal(err)
	}
	if od, sp := markets(t, f.env); od != 2 || sp != 4 {
		t.Fatalf("%d on demand and %d spot after the scale-out, want the base of 2 and 4 spot", od, sp)
	}
	f.clk.Advance(time.Minute) // inside the 5-minute scale-out cooldown: an alert could not scale out now
	f.reclaim(3)

	// Both replicas look at once, each several times.
	var wg sync.WaitGroup
	for _, r := range []*Actuator{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.ReplaceReclaimed(context.Background(), "web")
			r.WaitJobs()
		}()
	}
	wg.Wait()
	if od, sp := markets(t, f.env); od != 2 || sp != 4 {
		t.Fatalf("%d on demand and %d spot after the replacement, want 2 and 4 again", od, sp)
	}
	if n := f.creates(); n != 2 {
		t.Fatalf("%d CreateServers calls, want 2: the scale-out and one replacement", n)
	}
	reclaims := testutil.ToFloat64(a.metrics.spot.reclaims.WithLabelValues("web")) + testutil.ToFloat64(b.metrics.spot.reclaims.WithLabelValues("web"))
	replaced := testutil.ToFloat64(a.metrics.spot.replacements.WithLabelValues("web")) + testutil.ToFloat64(b.metrics.spot.replacements.WithLabelValues("web"))
	if reclaims != 3 || replaced != 3 {
		t.Fatalf("replicas counted %v reclaims and %v replacements, want 3 and 3", reclaims, replaced)
	}
	if _, acted := a.ReplaceReclaimed(context.Background(), "web"); acted {
		t.Fatal("a group back at its count was acted on again")
	}
}

func TestOwnScaleInIsNotAReclaim(t *testing.T) {
	f := newSpotFleet(t)
	a := f.replica()
	if _, err := handleUntilDone(t, a, notification("gk", alert("web", ScaleOut, "6", "fp"))); err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(6 * time.Minute)
	if _, err := handleUntilDone(t, a, notification("gk2", alert("web", ScaleIn, "4", "fp2"))); err != nil {
		t.Fatal(err)
	}
	for _, wait := range []time.Duration{0, 10 * time.Second, time.Minute} {
		f.clk.Advance(wait)
		if rec, acted := a.ReplaceReclaimed(context.Background(), "web"); acted {
			t.Fatalf("%s after its own scale-in the actuator replaced servers: %+v", wait, rec.Decision)
		}
	}
	if od, sp := markets(t, f.env); od+sp != 4 {
		t.Fatalf("%d servers, want the 4 the scale-in left", od+sp)
	}
}

// crashAtCreate kills the replica's goroutine at the replacement's
// CreateServers, before or after it, as kill -9 would: its store is closed
// first, so the deferred releases write nothing either.
type crashAtCreate struct {
	Scaler
	after bool
	store StateStore
}

func (c *crashAtCreate) SetDesired(ctx context.Context, g *config.Group, cur CloudState, desired int, token string) (Result, error) {
	if c.after {
		c.Scaler.SetDesired(ctx, g, cur, desired, token)
	}
	c.store.Close()
	runtime.Goexit()
	return Result{}, nil
}

func TestAReplacementInterruptedByACrashIsMadeOnce(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash after the create: %v", after), func(t *testing.T) {
			f := newSpotFleet(t)
			a := f.replica()
			if _, err := handleUntilDone(t, a, notification("gk", alert("web", ScaleOut, "6", "fp"))); err != nil {
				t.Fatal(err)
			}
			f.reclaim(2)
			// A replica whose store dies at the create: its intent is left in etcd.
			scalers, err := simScalers(f.cfg, f.clk, nil)
			if err != nil {
				t.Fatal(err)
			}
			store := f.store()
			scalers[config.BackendECS] = &crashAtCreate{Scaler: scalers[config.BackendECS], after: after, store: store}
			dying, err := New(Options{Config: f.cfg, Scalers: scalers, Store: store, Clock: f.clk, Logger: promslog.NewNopLogger()})
			if err != nil {
				t.Fatal(err)
			}
			died := make(chan struct{})
			go func() {
				defer close(died)
				dying.ReplaceReclaimed(context.Background(), "web")
			}()
			<-died
			f.clk.Advance(10 * time.Second) // the dead replica's lease runs out
			for range 2 {
				a.ReplaceReclaimed(context.Background(), "web")
				a.WaitJobs()
			}
			if od, sp := markets(t, f.env); od+sp != 6 {
				t.Fatalf("%d servers, want the 6 set, replaced once", od+sp)
			}
			// The scale-out, and one replacement: the survivor's after a crash
			// before the create, the dead replica's (reconciled) after it.
			if n := f.creates(); n != 2 {
				t.Fatalf("%d CreateServers calls, want 2", n)
			}
		})
	}
}
