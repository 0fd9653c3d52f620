package collector

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/hwcloud/hwcloudtest"
	"github.com/flexus-autoscaler/flexus/scoring"
)

const unitConfig = `
cloud:
  endpoint: http://127.0.0.1:1
  project_id: p
exporter:
  interval: 60s
  stale_after: 5m
cloudeye:
  delay: 1m
  warm_start: 1h
groups:
  - name: gpu-pool
    discovery:
      as_group_id: as-1
    min_instances: 1
    max_instances: 10
`

func mustParse(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type harness struct {
	t     *testing.T
	cloud *hwcloudtest.Fake
	clk   *clock.Fake
	c     *Collector
	loop  *Loop
	reg   *prometheus.Registry
}

func newHarness(t *testing.T, y string) *harness {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	f := newCloud(clk)
	c, err := New(Options{Config: mustParse(t, y), Clients: f.Clients(), Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	loop := NewLoop(c, clk)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	return &harness{t: t, cloud: f, clk: clk, c: c, loop: loop, reg: reg}
}

// step runs one collection and returns its error.
func (h *harness) step() error {
	_, err := h.loop.Step(context.Background())
	return err
}

func (h *harness) compare(want string, names ...string) {
	h.t.Helper()
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), names...); err != nil {
		h.t.Error(err)
	}
}

// newCloud is a cloud holding the AS group as-1 (1..50), empty.
func newCloud(clk clock.Clock) *hwcloudtest.Fake {
	f := hwcloudtest.New(clk)
	f.SetGroup(hwcloud.Group{ID: "as-1", Desired: 0, Current: 0, Min: 1, Max: 50, Status: "INSERVICE"})
	return f
}

// seed puts one in-service instance with one GPU in AS group as-1.
func (h *harness) seed() {
	f := h.cloud
	f.SetGroup(hwcloud.Group{ID: "as-1", Desired: 2, Current: 2, Min: 1, Max: 50, Status: "INSERVICE"})
	f.SetMember("as-1", hwcloud.Member{ID: "i-1", State: "INSERVICE"})
	f.SetMember("as-1", hwcloud.Member{ID: "i-2", State: "PENDING"})
	f.SetDevices("i-1", dimGPU, map[string]string{"h0": "0000:00:0d.0"})
	h.data(h.clk.Now().Add(-90*time.Second), 50)
}

// data publishes a datapoint at `at` for every series of i-1.
func (h *harness) data(at time.Time, v float64) {
	inst := hwcloud.Dim{Name: dimInst, Value: "i-1"}
	gpu := hwcloud.Dim{Name: dimGPU, Value: "h0"}
	for _, p := range []struct {
		m hwcloud.Metric
		v float64
	}{
		{hwcloud.Metric{Namespace: nsSYSECS, Name: "cpu_util", Dims: []hwcloud.Dim{inst}}, v},
		{hwcloud.Metric{Namespace: nsAGTECS, Name: "cpu_usage", Dims: []hwcloud.Dim{inst}}, v},
		{hwcloud.Metric{Namespace: nsAGTECS, Name: "mem_usedPercent", Dims: []hwcloud.Dim{inst}}, v / 2},
		{hwcloud.Metric{Namespace: nsAGTECS, Name: "gpu_usage_gpu", Dims: []hwcloud.Dim{inst, gpu}}, v},
		{hwcloud.Metric{Namespace: nsAGTECS, Name: "gpu_free_mem", Dims: []hwcloud.Dim{inst, gpu}}, 1024},
	} {
		h.cloud.SetPoint(p.m, at, p.v)
	}
}

func TestFirstScrapeHasRealDeviceIDsAndRatios(t *testing.T) {
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.compare(`
# HELP flexus_gpu_utilization_ratio GPU utilisation (0..1), from AGT.ECS gpu_usage_gpu.
# TYPE flexus_gpu_utilization_ratio gauge
flexus_gpu_utilization_ratio{device="0000:00:0d.0",group="gpu-pool",instance_id="i-1"} 0.5
# HELP flexus_gpu_memory_free_bytes GPU memory free, from AGT.ECS gpu_free_mem.
# TYPE flexus_gpu_memory_free_bytes gauge
flexus_gpu_memory_free_bytes{device="0000:00:0d.0",group="gpu-pool",instance_id="i-1"} 1.073741824e+09
# HELP flexus_memory_utilization_ratio Memory utilisation of the instance (0..1), from AGT.ECS mem_usedPercent.
# TYPE flexus_memory_utilization_ratio gauge
flexus_memory_utilization_ratio{group="gpu-pool",instance_id="i-1"} 0.25
# HELP flexus_group_instances Instances of the group by state (in_service, pending, removing).
# TYPE flexus_group_instances gauge
flexus_group_instances{group="gpu-pool",state="in_service"} 1
flexus_group_instances{group="gpu-pool",state="pending"} 1
flexus_group_instances{group="gpu-pool",state="removing"} 0
`, "flexus_gpu_utilization_ratio", "flexus_gpu_memory_free_bytes", "flexus_memory_utilization_ratio", "flexus_group_instances")
	h.compare(`
# HELP flexus_signal Group-level value of a signal: mean utilisation over in-service instances (ratio), queue length (items), response time (seconds), error rate (ratio). Absent while stale.
# TYPE flexus_signal gauge
flexus_signal{group="gpu-pool",signal="cpu"} 0.5
flexus_signal{group="gpu-pool",signal="gpu"} 0.5
flexus_signal{group="gpu-pool",signal="memory"} 0.25
# HELP flexus_signal_age_seconds Age of the data behind flexus_signal.
# TYPE flexus_signal_age_seconds gauge
flexus_signal_age_seconds{group="gpu-pool",signal="cpu"} 90
flexus_signal_age_seconds{group="gpu-pool",signal="gpu"} 90
flexus_signal_age_seconds{group="gpu-pool",signal="memory"} 90
`, "flexus_signal", "flexus_signal_age_seconds")
	if n := h.cloud.Calls("ListAgentDimensionInfo"); n != 1 {
		t.Errorf("ListAgentDimensionInfo called %d times for one GPU instance, want 1", n)
	}
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if n := h.cloud.Calls("ListAgentDimensionInfo"); n != 1 {
		t.Errorf("device ids are cached: ListAgentDimensionInfo called %d times after two cycles, want 1", n)
	}
}

func TestStaleSeriesDisappearAndReturn(t *testing.T) {
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h.loop, "flexus_memory_utilization_ratio"); n != 1 {
		t.Fatalf("fresh: %d memory series, want 1", n)
	}
	// No new datapoint for 6 minutes: older than stale_after (5m).
	h.clk.Advance(5 * time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"flexus_memory_utilization_ratio", "flexus_gpu_utilization_ratio", "flexus_signal"} {
		if n := testutil.CollectAndCount(h.loop, name); n != 0 {
			t.Errorf("stale: %d %s series, want none", n, name)
		}
	}
	h.compare(`
# HELP flexus_cloudeye_sample_age_seconds Age of the oldest newest datapoint across the group's instances.
# TYPE flexus_cloudeye_sample_age_seconds gauge
flexus_cloudeye_sample_age_seconds{group="gpu-pool",metric="cpu_usage",namespace="AGT.ECS"} 390
flexus_cloudeye_sample_age_seconds{group="gpu-pool",metric="cpu_util",namespace="SYS.ECS"} 390
flexus_cloudeye_sample_age_seconds{group="gpu-pool",metric="gpu_free_mem",namespace="AGT.ECS"} 390
flexus_cloudeye_sample_age_seconds{group="gpu-pool",metric="gpu_usage_gpu",namespace="AGT.ECS"} 390
flexus_cloudeye_sample_age_seconds{group="gpu-pool",metric="mem_usedPercent",namespace="AGT.ECS"} 390
`, "flexus_cloudeye_sample_age_seconds")
	h.data(h.clk.Now().Add(-70*time.Second), 80)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.compare(`
# HELP flexus_gpu_utilization_ratio GPU utilisation (0..1), from AGT.ECS gpu_usage_gpu.
# TYPE flexus_gpu_utilization_ratio gauge
flexus_gpu_utilization_ratio{device="0000:00:0d.0",group="gpu-pool",instance_id="i-1"} 0.8
`, "flexus_gpu_utilization_ratio")
}

func TestCloudEyeDownKeepsServingAndRecovers(t *testing.T) {
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.cloud.Down(hwcloud.ServiceCES, hwcloudtest.HTTPError(503))
	h.clk.Advance(time.Minute)
	if err := h.step(); err == nil {
		t.Fatal("a collection with Cloud Eye down reported no error")
	}
	h.compare(`
# HELP flexus_collection_success 1 when the last collection of the source succeeded.
# TYPE flexus_collection_success gauge
flexus_collection_success{source="cloudeye"} 0
flexus_collection_success{source="dimensions"} 0
flexus_collection_success{source="discovery"} 1
flexus_collection_success{source="scoring"} 1
`, "flexus_collection_success")
	// Data younger than stale_after is still served, with its growing age.
	h.compare(`
# HELP flexus_memory_utilization_ratio Memory utilisation of the instance (0..1), from AGT.ECS mem_usedPercent.
# TYPE flexus_memory_utilization_ratio gauge
flexus_memory_utilization_ratio{group="gpu-pool",instance_id="i-1"} 0.25
`, "flexus_memory_utilization_ratio")
	h.cloud.Down(hwcloud.ServiceCES, nil)
	h.clk.Advance(time.Minute)
	h.data(h.clk.Now().Add(-70*time.Second), 60)
	if err := h.step(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	h.compare(`
# HELP flexus_memory_utilization_ratio Memory utilisation of the instance (0..1), from AGT.ECS mem_usedPercent.
# TYPE flexus_memory_utilization_ratio gauge
flexus_memory_utilization_ratio{group="gpu-pool",instance_id="i-1"} 0.3
`, "flexus_memory_utilization_ratio")
}

func TestDiscoveryFollowsScaleOutAndInWithinOneCycle(t *testing.T) {
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.cloud.SetMember("as-1", hwcloud.Member{ID: "i-3", State: "INSERVICE"})
	h.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h.loop, "flexus_instance_info"); n != 3 {
		t.Errorf("after scale-out: %d instances, want 3", n)
	}
	h.cloud.RemoveMember("as-1", "i-1")
	h.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h.loop, "flexus_instance_info"); n != 2 {
		t.Errorf("after scale-in: %d instances, want 2", n)
	}
	if n := testutil.CollectAndCount(h.loop, "flexus_gpu_utilization_ratio"); n != 0 {
		t.Errorf("the removed instance's GPU series are still published (%d)", n)
	}
}

func TestSnapshotLints(t *testing.T) {
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(h.loop)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestScorerSurvivesCycles(t *testing.T) {
	// Rebuilding the scorer would throw its forecast history away every cycle.
	cfg := mustParse(t, unitConfig)
	first := ScoringParams(cfg, &cfg.Groups[0], nil)
	for i := 0; i < 50; i++ {
		if p := ScoringParams(cfg, &cfg.Groups[0], nil); !reflect.DeepEqual(p, first) {
			t.Fatalf("paramsFor is not deterministic: trend weight %v vs %v", p.TrendWeight, first.TrendWeight)
		}
	}
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	sc := h.c.groups["gpu-pool"].scorer
	h.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if h.c.groups["gpu-pool"].scorer != sc {
		t.Error("the scorer was rebuilt between two cycles with the same config")
	}
}

// fixedAdvice applies one proposal to every group.
type fixedAdvice struct{ s advisor.Settings }

func (f *fixedAdvice) Effective(string) (advisor.Settings, bool) { return f.s, f.s.Thresholds != nil }

func TestAppliedAdviceMovesThresholdsAndKeepsTheScorer(t *testing.T) {
	f := newCloud(clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)))
	adv := &fixedAdvice{}
	c, err := New(Options{Config: mustParse(t, unitConfig), Clients: f.Clients(), Logger: promslog.NewNopLogger(), Advice: adv})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cloud: f, clk: clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)), c: c}
	h.loop = NewLoop(c, h.clk)
	h.reg = prometheus.NewPedanticRegistry()
	h.reg.MustRegister(h.loop)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	before := c.groups["gpu-pool"].scorer
	adv.s = advisor.Settings{
		Thresholds: map[advisor.Signal]advisor.Band{advisor.CPU: {Out: 0.65, In: 0.25}},
		Weights:    map[advisor.Signal]float64{advisor.CPU: 0.3},
	}
	h.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	// SetParams, not a new scorer: the forecasters and the stabilisation window stay.
	if sc := c.groups["gpu-pool"].scorer; sc != before {
		t.Error("the scorer was rebuilt for an applied proposal: its forecasts and stabilisation window are lost")
	} else if th := sc.Params().Thresholds[scoring.CPU]; th != (scoring.Threshold{Out: 0.65, In: 0.25}) {
		t.Errorf("the scorer scores against cpu %+v, want the applied 0.65/0.25", th)
	}
	got := gatherLines(t, h.reg, "flexus_threshold")
	for _, w := range []string{`flexus_threshold{direction="out",group="gpu-pool",signal="cpu"} 0.65`, `flexus_threshold{direction="in",group="gpu-pool",signal="cpu"} 0.25`} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %s in:\n%s", w, got)
		}
	}
}

func gatherLines(t *testing.T, g prometheus.Gatherer, name string) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Fprintf(&b, "%s{%s} %v\n", name, strings.Join(ls, ","), m.GetGauge().GetValue())
		}
	}
	return b.String()
}

func TestWarmStartSegmentsStayWithinCloudEyeWindows(t *testing.T) {
	limits := map[string]time.Duration{"1": 4 * time.Hour, "300": 24 * time.Hour, "3600": 10 * 24 * time.Hour}
	for _, total := range []time.Duration{10 * time.Minute, 2 * time.Hour, 24 * time.Hour, 30 * 24 * time.Hour} {
		segs := warmSegments(total)
		covered := time.Duration(0)
		for i, s := range segs {
			if s.from-s.to > limits[s.period] {
				t.Errorf("warm start %s: segment at period %s spans %s, above Cloud Eye's %s", total, s.period, s.from-s.to, limits[s.period])
			}
			if i > 0 && s.from != segs[i-1].to {
				t.Errorf("warm start %s: segments leave a gap or overlap at %s", total, s.from)
			}
			covered += s.from - s.to
		}
		if want := min(total, 10*24*time.Hour); covered != want {
			t.Errorf("warm start %s: segments cover %s, want %s", total, covered, want)
		}
	}
}
