package world

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/trace"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func asGroup(desired int) GroupConfig {
	return GroupConfig{
		Name: "gpu-pool", ManagedBy: ManagedByAS, Flavor: "pi2.2xlarge.4",
		MinInstances: 1, MaxInstances: 10, DesiredInstances: desired,
		CapacityPerInstance: 100,
		Demand:              DemandConfig{Scenario: ScenarioConstant, PeakInstances: 1, TargetUtilization: 0.6},
	}
}

func ecsGroup(desired int) GroupConfig {
	return GroupConfig{
		Name: "web", ManagedBy: ManagedByECS, Flavor: "x1.2u.4g",
		MinInstances: 0, MaxInstances: 5, DesiredInstances: desired,
		CapacityPerInstance: 50,
		Demand:              DemandConfig{Scenario: ScenarioConstant, PeakInstances: 1},
	}
}

func newWorld(t *testing.T, groups ...GroupConfig) *World {
	t.Helper()
	w, err := New(Config{Seed: 1, Groups: groups}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustGroup(t *testing.T, w *World, name string) GroupState {
	t.Helper()
	g, err := w.Group(name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestBootDelayIsRespected(t *testing.T) {
	w := newWorld(t, asGroup(1))
	if err := w.SetDesired("gpu-pool", 3); err != nil {
		t.Fatal(err)
	}
	w.Advance(t0.Add(40 * time.Second))
	g := mustGroup(t, w, "gpu-pool")
	if g.Pending != 2 || g.InService != 1 {
		t.Fatalf("40s after scale-out: want 2 pending and 1 in service, got %d and %d", g.Pending, g.InService)
	}
	if g.Capacity != 100 {
		t.Fatalf("booting instances must not serve: capacity %g, want 100", g.Capacity)
	}
	w.Advance(t0.Add(60 * time.Second))
	g = mustGroup(t, w, "gpu-pool")
	if g.InService != 3 || g.Capacity != 300 {
		t.Fatalf("after the 45s boot delay: want 3 in service and capacity 300, got %d and %g", g.InService, g.Capacity)
	}
}

func TestWarmUpDelaysServingAfterBoot(t *testing.T) {
	gc := asGroup(1)
	gc.WarmUp = 30 * time.Second
	w := newWorld(t, gc)
	w.Advance(t0.Add(15 * time.Second))
	if g := mustGroup(t, w, "gpu-pool"); g.Capacity != 100 || g.Warming != 0 {
		t.Fatalf("instances at start are warm: capacity %g warming %d, want 100 and 0", g.Capacity, g.Warming)
	}
	if err := w.SetDesired("gpu-pool", 3); err != nil {
		t.Fatal(err)
	}
	w.Advance(t0.Add(75 * time.Second))
	g := mustGroup(t, w, "gpu-pool")
	if g.InService != 3 || g.Warming != 2 || g.Capacity != 100 {
		t.Fatalf("booted but warming: want 3 in service, 2 warming, capacity 100; got %d, %d, %g", g.InService, g.Warming, g.Capacity)
	}
	w.Advance(t0.Add(120 * time.Second)) // ordered at 15s: serving from 90s
	g = mustGroup(t, w, "gpu-pool")
	if g.Warming != 0 || g.Capacity != 300 {
		t.Fatalf("after boot 45s + warm-up 30s: want none warming and capacity 300, got %d and %g", g.Warming, g.Capacity)
	}
}

func TestUtilisationFollowsDemandOverCapacity(t *testing.T) {
	for _, tc := range []struct {
		name      string
		instances int
		peak      float64
		want      float64
	}{
		{"demand of 2 instances at 60% on 4 instances is 30%", 4, 2, 0.3},
		{"demand of 2 instances at 60% on 2 instances is 60%", 2, 2, 0.6},
		{"demand of 1 instance at 60% on 6 instances is 10%", 6, 1, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := asGroup(tc.instances)
			g.Demand.PeakInstances = tc.peak
			w := newWorld(t, g)
			w.Advance(t0.Add(5 * time.Minute))
			st := mustGroup(t, w, "gpu-pool")
			if math.Abs(st.Utilization-tc.want) > 1e-9 {
				t.Fatalf("utilisation %g, want %g", st.Utilization, tc.want)
			}
			if st.Queue != 0 {
				t.Fatalf("queue %g, want 0 below capacity", st.Queue)
			}
		})
	}
}

func TestQueueGrowsUnderOverloadAndDrainsAfter(t *testing.T) {
	g := asGroup(1)
	g.Demand.PeakInstances = 1
	g.Demand.TargetUtilization = 1 // demand 100 rps, capacity 100 rps
	w := newWorld(t, g)
	w.Advance(t0.Add(time.Minute))
	calm := mustGroup(t, w, "gpu-pool")
	if err := w.SetDemandMultiplier("gpu-pool", 1.5); err != nil {
		t.Fatal(err)
	}
	w.Advance(t0.Add(2 * time.Minute))
	st := mustGroup(t, w, "gpu-pool")
	// 150 rps arrive, 100 rps are served: 50 per second pile up for 60 s.
	if math.Abs(st.Queue-3000) > 1e-6 {
		t.Fatalf("queue after 60s at 150%% load: %g, want 3000", st.Queue)
	}
	if st.ResponseTimeSeconds <= calm.ResponseTimeSeconds || st.Utilization != 1 {
		t.Fatalf("overload must raise response time (%g -> %g) and saturate utilisation (%g)", calm.ResponseTimeSeconds, st.ResponseTimeSeconds, st.Utilization)
	}
	if err := w.SetDemandMultiplier("gpu-pool", 0.5); err != nil {
		t.Fatal(err)
	}
	w.Advance(t0.Add(2*time.Minute + 30*time.Second))
	mid := mustGroup(t, w, "gpu-pool")
	if math.Abs(mid.Queue-1500) > 1e-6 {
		t.Fatalf("queue 30s into draining at 50 rps spare: %g, want 1500", mid.Queue)
	}
	w.Advance(t0.Add(4 * time.Minute))
	if q := mustGroup(t, w, "gpu-pool").Queue; q != 0 {
		t.Fatalf("queue must drain to 0, got %g", q)
	}
}

func TestErrorRateRisesWhenRequestsTimeOut(t *testing.T) {
	g := asGroup(1)
	g.Service.Timeout = 5 * time.Second
	w := newWorld(t, g)
	w.Advance(t0.Add(time.Minute))
	calm := mustGroup(t, w, "gpu-pool").ErrorRate
	_ = w.SetDemandMultiplier("gpu-pool", 5)
	w.Advance(t0.Add(3 * time.Minute))
	hot := mustGroup(t, w, "gpu-pool")
	if hot.ErrorRate <= calm || hot.ErrorRate <= 0.05 {
		t.Fatalf("error rate under 3x overload with waits beyond the timeout: %g (calm %g), want > 5%%", hot.ErrorRate, calm)
	}
}

func TestCostAccumulatesPerInstanceSecond(t *testing.T) {
	w := newWorld(t, asGroup(3))
	w.Advance(t0.Add(100 * time.Second))
	g := mustGroup(t, w, "gpu-pool")
	if g.CostInstanceSeconds != 300 {
		t.Fatalf("3 instances for 100 s: %g instance-seconds, want 300", g.CostInstanceSeconds)
	}
	f, _ := LookupFlavor("pi2.2xlarge.4")
	if want := 300 * f.PricePerHour / 3600; math.Abs(g.Cost-want) > 1e-9 {
		t.Fatalf("cost %g, want %g", g.Cost, want)
	}
	// A scale-in bills the removed instance until its removal completes (10 s).
	if err := w.SetDesired("gpu-pool", 2); err != nil {
		t.Fatal(err)
	}
	w.Advance(t0.Add(200 * time.Second))
	if got := mustGroup(t, w, "gpu-pool").CostInstanceSeconds; got != 300+200+10 {
		t.Fatalf("after scaling to 2 for 100 s: %g instance-seconds, want 510", got)
	}
}

func TestSpotReclaimIsReplacedByAS(t *testing.T) {
	g := asGroup(4)
	g.Spot = SpotConfig{Enabled: true, ReclaimPerHour: 30}
	w := newWorld(t, g)
	before, _ := w.Instances("gpu-pool")
	w.Advance(t0.Add(10 * time.Minute))
	st := mustGroup(t, w, "gpu-pool")
	if st.SpotReclaims == 0 {
		t.Fatal("at 30 reclaims per instance-hour, 4 instances over 10 minutes must lose some")
	}
	if st.Current != 4 {
		t.Fatalf("AS must keep the group at its desired 4, has %d", st.Current)
	}
	after, _ := w.Instances("gpu-pool")
	replaced := 0
	for _, a := range after {
		found := false
		for _, b := range before {
			found = found || a.ID == b.ID
		}
		if !found {
			replaced++
		}
	}
	if replaced == 0 {
		t.Fatal("reclaimed instances must be replaced by new ones")
	}
	acts, _ := w.Activities("gpu-pool")
	var reclaimed, added bool
	for _, a := range acts {
		reclaimed = reclaimed || strings.Contains(a.Description, "reclaimed")
		added = added || len(a.Added) > 0
	}
	if !reclaimed || !added {
		t.Fatalf("activity log must show the reclaim and the replacement: %+v", acts)
	}
}

func TestClientTokenNeverCreatesTwice(t *testing.T) {
	w := newWorld(t, ecsGroup(0))
	req := CreateServersRequest{ClientToken: "tok-1", Name: "web", Flavor: "x1.2u.4g", Count: 2, Tags: []Tag{{"flexus-group", "web"}}}
	j1, err := w.CreateServers(req)
	if err != nil {
		t.Fatal(err)
	}
	j2, err := w.CreateServers(req)
	if err != nil {
		t.Fatal(err)
	}
	if j1.ID != j2.ID || !reflect.DeepEqual(j1.ServerIDs, j2.ServerIDs) {
		t.Fatalf("same token must return the same job and servers: %+v vs %+v", j1, j2)
	}
	if n := len(w.Servers()); n != 2 {
		t.Fatalf("a repeated token created servers: %d exist, want 2", n)
	}
	req.ClientToken = "tok-2"
	if _, err := w.CreateServers(req); err != nil {
		t.Fatal(err)
	}
	if n := len(w.Servers()); n != 4 {
		t.Fatalf("a new token must create: %d servers, want 4", n)
	}
}

func TestECSGroupRefusals(t *testing.T) {
	w := newWorld(t, ecsGroup(4), asGroup(2))
	for _, tc := range []struct {
		name string
		req  CreateServersRequest
		kind ErrorKind
	}{
		{"create beyond the group's quota is refused", CreateServersRequest{Name: "w", Flavor: "x1.2u.4g", Count: 2, Tags: []Tag{{"flexus-group", "web"}}}, KindQuota},
		{"servers without a group tag are refused", CreateServersRequest{Name: "w", Flavor: "x1.2u.4g", Tags: []Tag{{"team", "a"}}}, KindInvalid},
		{"unknown flavours are refused", CreateServersRequest{Name: "w", Flavor: "m9.huge", Tags: []Tag{{"flexus-group", "web"}}}, KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.CreateServers(tc.req)
			if KindOf(err) != tc.kind {
				t.Fatalf("err %v, want kind %d", err, tc.kind)
			}
		})
	}
	if err := w.SetDesired("web", 3); KindOf(err) != KindInvalid {
		t.Fatalf("SetDesired on an ECS group: %v, want invalid", err)
	}
	if err := w.SetDesired("gpu-pool", 11); KindOf(err) != KindInvalid {
		t.Fatalf("desired above max: %v, want invalid", err)
	}
	if err := w.SetDesired("nope", 1); KindOf(err) != KindNotFound {
		t.Fatalf("unknown group: %v, want not found", err)
	}
}

func TestDeletedECSServersAreGoneAndNotReplaced(t *testing.T) {
	w := newWorld(t, ecsGroup(3))
	servers := w.Servers()
	job, err := w.DeleteServers([]string{servers[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := w.ShowJob(job.ID); st.Status != JobRunning {
		t.Fatalf("delete job before removal completes: %s, want RUNNING", st.Status)
	}
	w.Advance(t0.Add(30 * time.Second))
	if st, _ := w.ShowJob(job.ID); st.Status != JobSuccess {
		t.Fatalf("delete job after removal: %s, want SUCCESS", st.Status)
	}
	if g := mustGroup(t, w, "web"); g.Current != 2 || g.Removing != 0 {
		t.Fatalf("ECS group after deleting 1 of 3: current %d removing %d, want 2 and 0", g.Current, g.Removing)
	}
}

func TestRemoveInstancesLowersDesiredAndKeepsMin(t *testing.T) {
	w := newWorld(t, asGroup(3))
	ins, _ := w.Instances("gpu-pool")
	if err := w.RemoveInstances("gpu-pool", []string{ins[0].ID}); err != nil {
		t.Fatal(err)
	}
	if g := mustGroup(t, w, "gpu-pool"); g.Desired != 2 {
		t.Fatalf("desired after removing one: %d, want 2", g.Desired)
	}
	if err := w.RemoveInstances("gpu-pool", []string{ins[1].ID, ins[2].ID}); KindOf(err) != KindInvalid {
		t.Fatalf("removing below min: %v, want invalid", err)
	}
	if err := w.RemoveInstances("gpu-pool", []string{"no-such-id"}); KindOf(err) != KindNotFound {
		t.Fatalf("unknown instance: %v, want not found", err)
	}
}

func TestDatapointsRespectPublicationDelay(t *testing.T) {
	w := newWorld(t, asGroup(2))
	w.Advance(t0.Add(10 * time.Minute))
	ins, _ := w.Instances("gpu-pool")
	id := MetricID{Namespace: NamespaceECS, Name: "cpu_util", Dimensions: []Dimension{{DimInstanceID, ins[0].ID}}}
	s := w.Datapoints([]MetricID{id}, t0, t0.Add(time.Hour), 0)[0]
	if len(s.Points) != 9 {
		t.Fatalf("10 minutes of 60s samples with a 60s delay: %d points, want 9", len(s.Points))
	}
	last := s.Points[len(s.Points)-1].Time
	if last.After(t0.Add(9 * time.Minute)) {
		t.Fatalf("newest point %s is younger than the publication delay", last)
	}
	for _, p := range s.Points {
		if p.Average < 0 || p.Average > 100 {
			t.Fatalf("cpu_util %g is not a percentage", p.Average)
		}
	}
	agg := w.Datapoints([]MetricID{id}, t0, t0.Add(time.Hour), 5*time.Minute)[0]
	if len(agg.Points) != 1 || !agg.Points[0].Time.Equal(t0) {
		t.Fatalf("5-minute buckets: only the complete one at t0 is published, got %+v", agg.Points)
	}
	p := agg.Points[0]
	if !(p.Min <= p.Average && p.Average <= p.Max) || p.Variance < 0 {
		t.Fatalf("aggregate out of order: %+v", p)
	}
	unknown := MetricID{Namespace: NamespaceECS, Name: "cpu_util", Dimensions: []Dimension{{DimInstanceID, "nope"}}}
	if got := w.Datapoints([]MetricID{unknown}, t0, t0.Add(time.Hour), 0)[0]; len(got.Points) != 0 {
		t.Fatalf("unknown instance must have no points, got %d", len(got.Points))
	}
}

func TestGPUMetricsUseHashedDevices(t *testing.T) {
	g := asGroup(1)
	g.Flavor = "pi2.4xlarge.4"
	w := newWorld(t, g)
	w.Advance(t0.Add(5 * time.Minute))
	ins, _ := w.Instances("gpu-pool")
	dims, err := w.AgentDimensions(ins[0].ID, DimGPU)
	if err != nil {
		t.Fatal(err)
	}
	if len(dims) != 2 || dims[0].Origin != "0000:00:0d.0" || len(dims[0].Value) != 32 {
		t.Fatalf("pi2.4xlarge.4 has two T4s with hashed ids: %+v", dims)
	}
	id := MetricID{Namespace: NamespaceAgent, Name: "gpu_usage_gpu", Dimensions: []Dimension{{DimInstanceID, ins[0].ID}, {DimGPU, dims[1].Value}}}
	if s := w.Datapoints([]MetricID{id}, t0, t0.Add(time.Hour), 0)[0]; len(s.Points) == 0 {
		t.Fatal("gpu_usage_gpu by hashed device must have points")
	}
	if npu, _ := w.AgentDimensions(ins[0].ID, DimNPU); len(npu) != 0 {
		t.Fatalf("a GPU flavour has no NPUs: %+v", npu)
	}
}

func TestSameSeedSameWorld(t *testing.T) {
	run := func() []GroupState {
		g := asGroup(3)
		g.Spot = SpotConfig{Enabled: true, ReclaimPerHour: 5}
		g.Demand = DemandConfig{Scenario: ScenarioDiurnal, PeakInstances: 5, Base: 0.2, Period: time.Hour, Noise: 0.1}
		w := newWorld(t, g)
		for i := 1; i <= 120; i++ {
			w.Advance(t0.Add(time.Duration(i) * time.Minute))
			if i == 30 {
				_ = w.SetDesired("gpu-pool", 6)
			}
		}
		return w.Groups()
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs with the same seed differ:\n%+v\n%+v", a, b)
	}
}

func TestScenarioShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    DemandConfig
		at   time.Duration
		want float64
	}{
		{"constant holds its level", DemandConfig{Scenario: ScenarioConstant, Level: 0.4}, 5 * time.Hour, 0.4},
		{"ramp is halfway at half its duration", DemandConfig{Scenario: ScenarioRamp, From: 0.2, To: 0.8, Duration: time.Hour}, 30 * time.Minute, 0.5},
		{"ramp holds its end after its duration", DemandConfig{Scenario: ScenarioRamp, From: 0.2, To: 0.8, Duration: time.Hour}, 2 * time.Hour, 0.8},
		{"diurnal peaks at peak_at", DemandConfig{Scenario: ScenarioDiurnal, Base: 0.2, Period: 24 * time.Hour, PeakAt: 14 * time.Hour}, 14 * time.Hour, 1},
		{"diurnal bottoms half a period away", DemandConfig{Scenario: ScenarioDiurnal, Base: 0.2, Period: 24 * time.Hour, PeakAt: 14 * time.Hour}, 2 * time.Hour, 0.2},
		{"spike is at peak inside the spike", DemandConfig{Scenario: ScenarioSpike, Base: 0.3, SpikeAt: time.Hour, Duration: 10 * time.Minute}, time.Hour + 5*time.Minute, 1},
		{"spike is at base after the spike", DemandConfig{Scenario: ScenarioSpike, Base: 0.3, SpikeAt: time.Hour, Duration: 10 * time.Minute}, time.Hour + 15*time.Minute, 0.3},
		{"spike repeats every spike_every", DemandConfig{Scenario: ScenarioSpike, Base: 0.3, SpikeAt: time.Hour, SpikeEvery: 2 * time.Hour, Duration: 10 * time.Minute}, 3*time.Hour + time.Minute, 1},
		{"trace is normalised to its maximum and interpolated", DemandConfig{Scenario: ScenarioTrace, Trace: &trace.Series{Step: time.Minute, Values: []float64{10, 20, 40}}, TraceSpeedup: 1, traceMax: 40}, 90 * time.Second, 0.75},
		{"trace loops", DemandConfig{Scenario: ScenarioTrace, Trace: &trace.Series{Step: time.Minute, Values: []float64{10, 20, 40}}, TraceSpeedup: 1, traceMax: 40}, 3 * time.Minute, 0.25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.d.shape(tc.at); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("shape(%s) = %g, want %g", tc.at, got, tc.want)
			}
		})
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown managed_by", func(c *Config) { c.Groups[0].ManagedBy = "k8s" }, `group "gpu-pool": managed_by "k8s"`},
		{"unknown flavor", func(c *Config) { c.Groups[0].Flavor = "x9" }, `group "gpu-pool": flavor: unknown flavor "x9"`},
		{"max below min", func(c *Config) { c.Groups[0].MaxInstances = 0 }, "max_instances 0"},
		{"desired outside bounds", func(c *Config) { c.Groups[0].DesiredInstances = 11 }, "desired_instances 11"},
		{"duplicate names", func(c *Config) { c.Groups = append(c.Groups, c.Groups[0]) }, `groups[1].name "gpu-pool" is used twice`},
		{"raw period not a multiple of tick", func(c *Config) { c.Tick = 7 * time.Second }, "raw_period 1m0s must be a positive multiple of tick 7s"},
		{"unknown scenario", func(c *Config) { c.Groups[0].Demand.Scenario = "chaos" }, `demand.scenario "chaos"`},
		{"trace without file", func(c *Config) { c.Groups[0].Demand.Scenario = ScenarioTrace }, "demand.trace_file is needed"},
		{"fraction out of range", func(c *Config) { c.Groups[0].Demand = DemandConfig{Scenario: ScenarioRamp, To: 2} }, "demand.to 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Groups: []GroupConfig{asGroup(1)}}
			tc.mutate(&c)
			_, err := New(c, t0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAWorldStartedMidTickServesAtOnce(t *testing.T) {
	start := t0.Add(7*time.Second + 300*time.Millisecond)
	w, err := New(Config{Seed: 1, Groups: []GroupConfig{asGroup(2)}}, start)
	if err != nil {
		t.Fatal(err)
	}
	w.Advance(start.Add(20 * time.Second))
	g := mustGroup(t, w, "gpu-pool")
	if g.Capacity != 200 || g.Queue != 0 {
		t.Fatalf("the instances of a fresh world serve from the first tick: capacity %g, queue %g", g.Capacity, g.Queue)
	}
	if want := 2 * (t0.Add(20 * time.Second).Sub(start)).Seconds(); math.Abs(g.CostInstanceSeconds-want) > 1e-9 {
		t.Fatalf("billing starts at the world's start: %g instance-seconds, want %g", g.CostInstanceSeconds, want)
	}
}
