package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"
)

// simStart is a fixed instant, aligned to the hour, so the world, its ids
// and its noise are the same on every run.
var simStart = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// sim is simcloud in-process (real SDK over loopback HTTP) with a real Redis
// that simcloud mirrors the gpu-pool queue into.
type sim struct {
	env   *simcloudtest.Env
	clk   *clock.Fake
	redis string
}

func startSim(t *testing.T) *sim {
	t.Helper()
	redisAddr := testenv.Redis(t)
	cfg := simcloudtest.Config()
	cfg.Redis = simcloud.RedisConfig{Address: redisAddr}
	cfg.SetDefaults()
	clk := clock.NewFake(simStart)
	env := simcloudtest.Start(t, cfg, clk)
	// Ten minutes of life, so Cloud Eye has published datapoints.
	clk.Advance(10 * time.Minute)
	s := &sim{env: env, clk: clk, redis: redisAddr}
	s.step(t)
	return s
}

// step advances the world to the clock and mirrors its queues to Redis.
func (s *sim) step(t *testing.T) {
	t.Helper()
	if err := s.env.Server.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// config is an exporter config for the simcloudtest world: the AS GPU group
// with a Redis queue and the service's response time, and the ECS-tag web
// group with a DMS Kafka backlog.
func (s *sim) config(t *testing.T) string {
	t.Helper()
	gpu, err := s.env.World.Group("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	web, err := s.env.World.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`cloud:
  endpoint: %[1]s
  project_id: %[2]s
  domain_id: 0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d
  region: cn-north-4
  access_key: %[3]s
  secret_key: %[4]s
  max_retries: 3
  retry_base_delay: 10ms
  timeout: 5s
cloudeye:
  delay: 60s
  requests_per_second: 200
  burst: 50
  warm_start: 10m
exporter:
  interval: 60s
  stale_after: 5m
groups:
  - name: gpu-pool
    discovery:
      as_group_id: %[5]s
    min_instances: 1
    max_instances: 10
    signals:
      gpu: {scale_out: 0.8, scale_in: 0.3, weight: 0.0}
    queue:
      redis: {address: "%[6]s", key: "queue:gpu-pool"}
    response_time:
      url: %[1]s/-/sim/app/gpu-pool/metrics
      metric: flexus_simcloud_response_time_seconds
  - name: web
    discovery:
      tag: {key: flexus-group, value: web}
    min_instances: 1
    max_instances: 10
    policy: target
    queue:
      dms: {preset: kafka_backlog, dimensions: {kafka_instance_id: "%[7]s"}}
    ecs:
      flavor: x1.2u.4g
      image_id: img-0001
      vpc_id: vpc-0001
      subnet_id: subnet-0001
`, s.env.URL, simcloudtest.ProjectID, simcloudtest.AccessKey, simcloudtest.SecretKey, gpu.ID, s.redis, web.KafkaInstanceID)
}

// collector builds a Collector on the real SDK clients against simcloud.
func (s *sim) collector(t *testing.T, reg prometheus.Registerer) *Collector {
	t.Helper()
	return collectorFor(t, mustParse(t, s.config(t)), reg)
}

// collectorFor builds a Collector for cfg on the real SDK clients, as the
// exporter command does; reg receives the cloud request metrics (nil for none).
func collectorFor(t *testing.T, cfg *config.Config, reg prometheus.Registerer) *Collector {
	t.Helper()
	if err := cfg.Cloud.Resolve(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	clients, err := hwcloud.New(cfg.Cloud, reg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Config: cfg, Clients: clients, Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// simHarness runs collections against simcloud on the shared fake clock.
func simHarness(t *testing.T) (*sim, *harness) {
	s := startSim(t)
	reg := prometheus.NewPedanticRegistry()
	c := s.collector(t, reg)
	loop := NewLoop(c, s.clk)
	reg.MustRegister(loop)
	return s, &harness{t: t, clk: s.clk, c: c, loop: loop, reg: reg}
}

func gatherText(t *testing.T, g prometheus.Gatherer, names ...string) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		keep := len(names) == 0
		for _, n := range names {
			keep = keep || mf.GetName() == n
		}
		if !keep {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			fmt.Fprintf(&b, "%s{%s}\n", mf.GetName(), strings.Join(ls, ","))
		}
	}
	return b.String()
}

// collectOnce runs one collection of config y against s and returns the
// named families as text.
func collectOnce(t *testing.T, s *sim, y string, names ...string) string {
	t.Helper()
	loop := NewLoop(collectorFor(t, mustParse(t, y), nil), s.clk)
	if _, err := loop.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	return gatherText(t, reg, names...)
}

func TestSimcloudDeviceLabelsAreRealOnTheFirstScrape(t *testing.T) {
	s, h := simHarness(t)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	ins, err := s.env.World.Instances("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, in := range ins {
		for _, d := range in.Devices {
			want = append(want, fmt.Sprintf("flexus_gpu_utilization_ratio{device=%s,group=gpu-pool,instance_id=%s}", d.Origin, in.ID))
		}
	}
	if len(want) == 0 {
		t.Fatal("the simcloudtest world has no GPU devices")
	}
	got := gatherText(t, h.reg, "flexus_gpu_utilization_ratio")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("first scrape lacks %s\ngot:\n%s", w, got)
		}
	}
	for _, name := range []string{"flexus_gpu_memory_free_bytes", "flexus_gpu_power_watts", "flexus_gpu_temperature_celsius", "flexus_cpu_utilization_ratio", "flexus_memory_utilization_ratio"} {
		if n := testutil.CollectAndCount(h.loop, name); n == 0 {
			t.Errorf("first scrape has no %s", name)
		}
	}
	sigs := gatherText(t, h.reg, signalFamilies()...)
	for _, w := range []struct {
		group  string
		signal scoring.Signal
	}{
		{"gpu-pool", scoring.CPU}, {"gpu-pool", scoring.Memory}, {"gpu-pool", scoring.GPU}, {"gpu-pool", scoring.GPUMemory},
		{"gpu-pool", scoring.Queue}, {"gpu-pool", scoring.ResponseTime}, {"gpu-pool", scoring.ErrorRate},
		{"web", scoring.CPU}, {"web", scoring.Memory}, {"web", scoring.Queue},
	} {
		// Each signal in the family of its unit: one name, one unit.
		line := fmt.Sprintf("%s{group=%s,signal=%s}", metricnames.Signal(w.signal), w.group, w.signal)
		if !strings.Contains(sigs, line) {
			t.Errorf("no %s on the first scrape; got:\n%s", line, sigs)
		}
	}
}

func TestSimcloudDiscoveryFollowsScalingWithinOneCycle(t *testing.T) {
	s, h := simHarness(t)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	count := func() int { return testutil.CollectAndCount(h.loop, "flexus_instance_info") }
	before := count()
	if err := s.env.World.SetDesired("gpu-pool", 4); err != nil {
		t.Fatal(err)
	}
	s.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != before+2 {
		t.Errorf("scale-out by 2: %d instances after one cycle, want %d", got, before+2)
	}
	h.compare(`
# HELP flexus_group_desired_instances Desired instance count of the group (AS desired count, or the managed ECS server count).
# TYPE flexus_group_desired_instances gauge
flexus_group_desired_instances{group="gpu-pool"} 4
flexus_group_desired_instances{group="web"} 2
`, "flexus_group_desired_instances")

	if err := s.env.World.SetDesired("gpu-pool", 1); err != nil {
		t.Fatal(err)
	}
	s.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	ins, err := s.env.World.Instances("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	info := gatherText(t, h.reg, "flexus_instance_info")
	for _, in := range ins {
		if !strings.Contains(info, "instance_id="+in.ID) {
			t.Errorf("instance %s of the world is not exported after one cycle", in.ID)
		}
	}
	if n := strings.Count(info, "group=gpu-pool"); n != len(ins) {
		t.Errorf("scale-in: %d gpu-pool instances exported, the world has %d", n, len(ins))
	}
}

func TestSimcloudFaultsKeepServingAndRecover(t *testing.T) {
	tests := []struct {
		name  string
		fault simcloud.Fault
	}{
		{"every Cloud Eye call answers 500", simcloud.Fault{ErrorProbability: 1}},
		{"every Cloud Eye call answers 429", simcloud.Fault{ThrottleProbability: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, h := simHarness(t)
			if err := h.step(); err != nil {
				t.Fatal(err)
			}
			for _, api := range []string{"BatchListMetricData", "ListMetrics", "ListAgentDimensionInfo"} {
				if err := s.env.Server.SetFault(api, tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			s.clk.Advance(time.Minute)
			if err := h.step(); err == nil {
				t.Fatal("the collection reported no error")
			}
			if got := testutil.ToFloat64(gaugeOf(t, h.reg, "flexus_collection_success", "source", "cloudeye")); got != 0 {
				t.Errorf("flexus_collection_success{source=cloudeye} = %v during the fault, want 0", got)
			}
			// Still fresh: served with its growing age.
			if n := testutil.CollectAndCount(h.loop, "flexus_cpu_utilization_ratio"); n == 0 {
				t.Error("per-instance series vanished one minute into the fault; they are still fresh")
			}
			s.clk.Advance(5 * time.Minute)
			_ = h.step()
			if n := testutil.CollectAndCount(h.loop, "flexus_cpu_utilization_ratio"); n != 0 {
				t.Errorf("%d CPU series still published 6 minutes into the fault: stale data must disappear", n)
			}
			if n := testutil.CollectAndCount(h.loop, "flexus_group_desired_instances"); n != 2 {
				t.Errorf("discovery series gone during a Cloud Eye fault (%d)", n)
			}
			for _, api := range []string{"BatchListMetricData", "ListMetrics", "ListAgentDimensionInfo"} {
				if err := s.env.Server.SetFault(api, simcloud.Fault{}); err != nil {
					t.Fatal(err)
				}
			}
			s.clk.Advance(time.Minute)
			if err := h.step(); err != nil {
				t.Fatalf("after the fault: %v", err)
			}
			if n := testutil.CollectAndCount(h.loop, "flexus_cpu_utilization_ratio"); n == 0 {
				t.Error("CPU series did not come back after the fault")
			}
			if got := testutil.ToFloat64(gaugeOf(t, h.reg, "flexus_collection_success", "source", "cloudeye")); got != 1 {
				t.Errorf("flexus_collection_success{source=cloudeye} = %v after recovery, want 1", got)
			}
		})
	}
}

func TestSimcloudLatencyNeverBlocksMetrics(t *testing.T) {
	s, h := simHarness(t)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	before := testutil.CollectAndCount(h.loop)
	if err := s.env.Server.SetFault("BatchListMetricData", simcloud.Fault{Latency: modelDuration(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	s.clk.Advance(time.Minute)
	done := make(chan error, 1)
	go func() { done <- h.step() }()
	// While the slow collection runs, the last snapshot is served at once.
	if n := testutil.CollectAndCount(h.loop); n != before {
		t.Errorf("during a slow collection /metrics served %d series, want the previous %d", n, before)
	}
	select {
	case err := <-done:
		t.Logf("the slow collection finished before the check (%v): the check still held", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("a slow Cloud Eye is not an error: %v", err)
	}
}

// gaugeOf finds one series of a gathered family as a collector for ToFloat64.
func gaugeOf(t *testing.T, g prometheus.Gatherer, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" && len(m.GetLabel()) == 0 {
				gg := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
				gg.Set(m.GetGauge().GetValue())
				return gg
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					gg := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
					gg.Set(m.GetGauge().GetValue())
					return gg
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return nil
}

// writeConfig writes an exporter config file for the server tests.
func writeConfig(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "flexus.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func modelDuration(d time.Duration) model.Duration { return model.Duration(d) }

func TestSimcloudNPUDeviceLabels(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.World.Groups = append(cfg.World.Groups, world.GroupConfig{
		Name: "npu-pool", ID: "3c9d1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e60", ManagedBy: world.ManagedByAS, Flavor: "ai1s.2xlarge.4",
		MinInstances: 1, MaxInstances: 4, DesiredInstances: 1,
		Demand: world.DemandConfig{Scenario: world.ScenarioConstant, PeakInstances: 1, Level: 0.5},
	})
	clk := clock.NewFake(simStart)
	env := simcloudtest.Start(t, cfg, clk)
	clk.Advance(10 * time.Minute)
	y := fmt.Sprintf(`cloud:
  endpoint: %s
  project_id: %s
  access_key: %s
  secret_key: %s
cloudeye: {delay: 60s, warm_start: 5m}
groups:
  - name: npu-pool
    discovery: {as_group_id: 3c9d1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e60}
    min_instances: 1
    max_instances: 4
`, env.URL, simcloudtest.ProjectID, simcloudtest.AccessKey, simcloudtest.SecretKey)
	s := &sim{env: env, clk: clk}
	c := collectorFor(t, mustParse(t, y), nil)
	loop := NewLoop(c, s.clk)
	if _, err := loop.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	ins, err := env.World.Instances("npu-pool")
	if err != nil {
		t.Fatal(err)
	}
	got := gatherText(t, reg, "flexus_npu_utilization_ratio", "flexus_npu_memory_utilization_ratio")
	n := 0
	for _, in := range ins {
		for _, d := range in.Devices {
			n++
			// ListAgentDimensionInfo has no npu: the label is the npu dimension value ListMetrics shows.
			for _, name := range []string{"flexus_npu_utilization_ratio", "flexus_npu_memory_utilization_ratio"} {
				w := fmt.Sprintf("%s{device=%s,group=npu-pool,instance_id=%s}", name, d.Hash, in.ID)
				if !strings.Contains(got, w) {
					t.Errorf("first scrape lacks %s; got:\n%s", w, got)
				}
			}
		}
	}
	if n < 2 {
		t.Fatalf("the NPU world has %d devices, want at least 2 (ai1s.2xlarge.4)", n)
	}
	if !strings.Contains(gatherText(t, reg, "flexus_signal_ratio"), "signal=npu") {
		t.Error("no flexus_signal_ratio{signal=npu}")
	}
}

func TestSimcloudThrottlingBurstIsRetriedAndCounted(t *testing.T) {
	s, h := simHarness(t)
	if err := s.env.Server.SetFault("BatchListMetricData", simcloud.Fault{ThrottleProbability: 0.5}); err != nil {
		t.Fatal(err)
	}
	// Several cycles: each call may be throttled; the SDK retries with backoff.
	for i := 0; i < 4; i++ {
		_ = h.step()
		s.clk.Advance(time.Minute)
	}
	throttled := counterSum(t, h.reg, "flexus_cloud_throttled_requests_total", "api", "BatchListMetricData")
	retries := counterSum(t, h.reg, "flexus_cloud_retries_total", "api", "BatchListMetricData")
	if throttled == 0 || retries == 0 {
		t.Errorf("half the calls throttled over 4 cycles: throttled %v, retries %v, want both counted", throttled, retries)
	}
	if n := testutil.CollectAndCount(h.loop, "flexus_cpu_utilization_ratio"); n == 0 {
		t.Error("no CPU series while half the calls are throttled: retries should get most through")
	}
}

func TestSimcloudResponseTimeFromELBMetrics(t *testing.T) {
	s := startSim(t)
	web, err := s.env.World.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(s.config(t), "    policy: target\n",
		"    policy: target\n    response_time: {url: \"cloudeye:SYS.ELB?lbaas_instance_id="+web.ELBID+"\"}\n", 1)
	c := collectorFor(t, mustParse(t, y), nil)
	loop := NewLoop(c, s.clk)
	st, err := loop.Step(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.CloudEyeCalls != 1 {
		t.Errorf("the ELB series took %d BatchListMetricData calls, want them in the one batch", st.CloudEyeCalls)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	sigs := gatherText(t, reg, signalFamilies()...)
	for _, w := range []string{"flexus_signal_seconds{group=web,signal=response_time}", "flexus_signal_ratio{group=web,signal=error_rate}"} {
		if !strings.Contains(sigs, w) {
			t.Errorf("no %s from ELB metrics; got:\n%s", w, sigs)
		}
	}
	// The value is Cloud Eye's, in seconds: the world's response time a publication delay ago.
	for _, mf := range mustGather(t, reg) {
		if mf.GetName() != "flexus_signal_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["group"] == "web" && labels["signal"] == "response_time" {
				if v := m.GetGauge().GetValue(); v <= 0 || v > 30 {
					t.Errorf("ELB response time %v s is not a plausible number of seconds", v)
				}
			}
		}
	}
}

// signalFamilies are the names of the signal values of every unit.
func signalFamilies() []string {
	var names []string
	for _, u := range metricnames.Units() {
		names = append(names, metricnames.SignalIn(u))
	}
	return names
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// A DMS series that does not exist reads as no data, silently: the
// collector checks with ListMetrics at start that the configured series is
// listed, and names the field and what Cloud Eye has instead.
func TestSimcloudQueueSeriesIsCheckedAtStart(t *testing.T) {
	s := startSim(t)
	web, err := s.env.World.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	preset := fmt.Sprintf(`dms: {preset: kafka_backlog, dimensions: {kafka_instance_id: "%s"}}`, web.KafkaInstanceID)
	tests := []struct {
		name    string
		dms     string
		wantErr []string // substrings of the cycle's error; none when the series exists
	}{
		{"the documented Kafka backlog is found", preset, nil},
		{"a consumer-group dimension names the field and the dimensions that exist",
			fmt.Sprintf(`dms: {kind: kafka, namespace: SYS.DMS, metric: group_msgs, dimensions: {kafka_instance_id: "%s", kafka_groups: "%s"}}`, web.KafkaInstanceID, web.ConsumerGroup),
			[]string{`group "web": queue.dms.dimensions`, "{kafka_instance_id=" + web.KafkaInstanceID + "}", "kafka_backlog"}},
		{"a metric DMS does not publish is named",
			fmt.Sprintf(`dms: {kind: rabbitmq, namespace: SYS.DMS, metric: queue_messages, dimensions: {rabbitmq_instance_id: "%s", rabbitmq_queue: "%s"}}`, web.RabbitMQInstanceID, web.RabbitMQQueue),
			[]string{`group "web": queue.dms: Cloud Eye lists no SYS.DMS queue_messages at all`, "rabbitmq_ready"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(s.config(t), preset, tc.dms, 1)
			c := collectorFor(t, mustParse(t, y), nil)
			_, err := c.Collect(context.Background(), s.clk.Now())
			if len(tc.wantErr) == 0 {
				if err != nil && strings.Contains(err.Error(), "queue.dms") {
					t.Fatalf("the series exists, yet: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error for a queue series Cloud Eye does not have")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// AGT.ECS disk_usedPercent exists only per mount point: an extra metric
// naming its dimension is read by the mount point's hash, resolved per
// instance, and published for every instance.
func TestSimcloudExtraMetricsResolveTheirDimension(t *testing.T) {
	s := startSim(t)
	y := strings.Replace(s.config(t), "    policy: target\n", "    policy: target\n    extra_metrics:\n      - {namespace: AGT.ECS, metric: disk_usedPercent, dimension: mount_point, origin: /}\n", 1)
	got := collectOnce(t, s, y, "flexus_cloudeye_value")
	ins, err := s.env.World.Instances("web")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		w := fmt.Sprintf("flexus_cloudeye_value{group=web,instance_id=%s,metric=disk_usedPercent,namespace=AGT.ECS}", in.ID)
		if !strings.Contains(got, w) {
			t.Errorf("no %s; got:\n%s", w, got)
		}
	}
}

// flexus_instance_info names each server, its private address and the
// configured tags, for AS members (looked up in ECS) as for ECS servers.
func TestSimcloudInstanceInfoCarriesNameAddressAndTags(t *testing.T) {
	s := startSim(t)
	y := strings.Replace(s.config(t), "exporter:\n", "exporter:\n  instance_tag_labels: [flexus-group]\n", 1)
	got := collectOnce(t, s, y, "flexus_instance_info")
	servers, err := s.env.ECS().ListServersDetails(&ecsmodel.ListServersDetailsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sv := range *servers.Servers {
		var ip string
		for _, addrs := range sv.Addresses {
			ip = addrs[0].Addr
		}
		group, tag := "gpu-pool", ""
		if strings.HasPrefix(sv.Name, "web") {
			group, tag = "web", "web"
		}
		w := fmt.Sprintf("flexus_instance_info{flavor=%s,group=%s,instance_id=%s,name=%s,private_ip=%s,state=in_service,tag_flexus_group=%s}", sv.Flavor.Id, group, sv.Id, sv.Name, ip, tag)
		if !strings.Contains(got, w) {
			t.Errorf("no %s; got:\n%s", w, got)
		}
	}
}

// A steady AS group (same counts, no activity, every member in service) is
// discovered with one ShowScalingGroup; its members are listed again when
// the group changes, and at least every memberRelist.
func TestSimcloudSteadyGroupIsNotListedAgain(t *testing.T) {
	s, h := simHarness(t)
	calls := func(api string) float64 {
		return counterSum(t, s.env.Server.Registry(), "flexus_simcloud_requests_total", "api", api)
	}
	steps := []struct {
		name          string
		change        func()
		advance       time.Duration
		wantShow      float64
		wantListPages float64
	}{
		{"the first cycle lists the members", nil, 0, 1, 1},
		{"a steady group is only shown", nil, time.Minute, 1, 0},
		{"a scale-out lists them again", func() { _ = s.env.World.SetDesired("gpu-pool", 3) }, 10 * time.Second, 1, 1},
		{"members still booting are listed every cycle", nil, 10 * time.Second, 1, 1},
		{"once all serve, the group is steady again", nil, 2 * time.Minute, 1, 1},
		{"and only shown", nil, time.Minute, 1, 0},
		{"after memberRelist they are listed anyway", nil, memberRelist, 1, 1},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		s.clk.Advance(st.advance)
		show0, list0 := calls("ShowScalingGroup"), calls("ListScalingInstances")
		if err := h.step(); err != nil {
			t.Fatal(err)
		}
		if show, list := calls("ShowScalingGroup")-show0, calls("ListScalingInstances")-list0; show != st.wantShow || list != st.wantListPages {
			t.Fatalf("%s: %v ShowScalingGroup, %v ListScalingInstances; want %v and %v", st.name, show, list, st.wantShow, st.wantListPages)
		}
	}
	ins, err := s.env.World.Instances("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(gatherText(t, h.reg, "flexus_instance_info"), "group=gpu-pool"); got != len(ins) {
		t.Fatalf("%d gpu-pool instances exported, the world has %d", got, len(ins))
	}
}

// CPU does not wait for every GPU's id: a cycle looks up only as many
// devices as a few seconds of the request budget allow (the first) or half
// an interval's (later ones), publishes what it has, and the next cycle
// goes on at once.
func TestSimcloudCPUIsPublishedBeforeEveryGPUIsResolved(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.World.Groups[0].MaxInstances, cfg.World.Groups[0].DesiredInstances = 30, 30
	cfg.World.Groups[0].Demand.PeakInstances = 30
	clk := clock.NewFake(simStart)
	env := simcloudtest.Start(t, cfg, clk)
	clk.Advance(10 * time.Minute)
	y := fmt.Sprintf(`cloud: {endpoint: %s, project_id: %s, access_key: %s, secret_key: %s}
cloudeye: {delay: 60s, requests_per_second: 5, burst: 20, warm_start: 0s}
groups:
  - name: gpu-pool
    discovery: {as_group_id: 8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f}
    min_instances: 1
    max_instances: 30
    signals:
      gpu: {scale_out: 0.8, scale_in: 0.3, weight: 0.0}
`, env.URL, simcloudtest.ProjectID, simcloudtest.AccessKey, simcloudtest.SecretKey)
	c := collectorFor(t, mustParse(t, y), nil)
	loop := NewLoop(c, clk)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	count := func(name string) int { return strings.Count(gatherText(t, reg, name), "\n") }
	steps := []struct {
		name             string
		wantCPU, wantGPU int
		wantBacklog      bool
	}{
		// 5/s × 4 s, at least the burst of 20: 20 of the 30 GPUs.
		{"the first cycle publishes every CPU and the GPUs it could name", 30 * 2, 20, true},
		{"the next one names the rest", 30 * 2, 30, false},
	}
	for _, st := range steps {
		clk.Advance(time.Minute)
		if _, err := loop.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if cpu, gpu := count("flexus_cpu_utilization_ratio"), count("flexus_gpu_utilization_ratio"); cpu != st.wantCPU || gpu != st.wantGPU || c.Backlog() != st.wantBacklog {
			t.Fatalf("%s: %d CPU series, %d GPU series, backlog %v; want %d, %d, %v", st.name, cpu, gpu, c.Backlog(), st.wantCPU, st.wantGPU, st.wantBacklog)
		}
	}
}

func TestSimcloudFirstCollectionServesCPUAndMemoryBeforeTheRest(t *testing.T) {
	s := startSim(t)
	// Calls of 5 series and a burst of 1: the collection waits for budget, so
	// CPU and memory go first.
	y := strings.Replace(s.config(t), "burst: 50", "burst: 1\n  metrics_per_request: 5", 1)
	c := collectorFor(t, mustParse(t, y), nil)
	h := &harness{t: t, clk: s.clk, c: c, loop: NewLoop(c, s.clk)}
	var members []string
	for _, g := range []string{"gpu-pool", "web"} {
		ins, err := s.env.World.Instances(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range ins {
			members = append(members, in.ID)
		}
	}
	ctx := context.Background()
	var early *Snapshot
	_, stats, err := h.c.collect(ctx, s.clk.Now(), func(snap *Snapshot) {
		h.loop.serveEarly(snap)
		early = snap
		if h.loop.Snapshot() != snap {
			t.Error("the early snapshot is not the one served")
		}
		if h.loop.Ready() {
			t.Error("ready before a full collection completed")
		}
		select {
		case <-h.loop.Collected():
			t.Error("Collected closed before a full collection completed")
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if early == nil {
		t.Fatal("the first collection served no early snapshot")
	}
	text := string(early.text)
	checks := []struct {
		rule string
		ok   bool
	}{
		{"the early snapshot came out before the collection ended", stats.FirstData > 0 && stats.FirstData < stats.Duration},
		{"it scores nothing: scorers and history see the cycle once", !strings.Contains(text, metricnames.Recommended)},
		{"it holds no GPU series: their devices are looked up after it", !strings.Contains(text, "flexus_gpu_utilization_ratio")},
		{"it holds the group signals its CPU and memory make", strings.Contains(text, metricnames.Signal(scoring.CPU)+`{group="web",signal="cpu"}`)},
	}
	has := func(name, id string) bool {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, name+"{") && strings.Contains(line, `instance_id="`+id+`"`) {
				return true
			}
		}
		return false
	}
	for _, id := range members {
		for _, name := range []string{"flexus_cpu_utilization_ratio", "flexus_memory_utilization_ratio"} {
			checks = append(checks, struct {
				rule string
				ok   bool
			}{"it holds " + name + " of " + id, has(name, id)})
		}
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: false; early snapshot:\n%s", c.rule, text)
			break
		}
	}

	// Later collections serve only complete snapshots.
	s.clk.Advance(time.Minute)
	s.step(t)
	if _, _, err := h.c.collect(ctx, s.clk.Now(), func(*Snapshot) { t.Error("a later collection served an early snapshot") }); err != nil {
		t.Fatal(err)
	}
}

func TestSimcloudFirstCollectionWithinTheBurstServesNoEarlySnapshot(t *testing.T) {
	// The simcloudtest world needs a few calls, well within a burst of 50:
	// nothing waits for budget, and an early snapshot would only cost calls.
	s, h := simHarness(t)
	if _, _, err := h.c.collect(context.Background(), s.clk.Now(), func(*Snapshot) { t.Error("an early snapshot was served") }); err != nil {
		t.Fatal(err)
	}
}

// The boot the exporter measures is simcloud's, through the real SDK: a
// scale-out's instances are listed pending, then in service once the
// world's 45 s boot has passed; at 30 s cycles the figure is within one
// cycle of it.
func TestSimcloudBootIsMeasuredFromTheGroupsOwnInstances(t *testing.T) {
	s, h := simHarness(t)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	before, err := s.env.World.Group("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.env.World.SetDesired("gpu-pool", before.Desired+3); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := h.step(); err != nil {
			t.Fatal(err)
		}
		s.clk.Advance(30 * time.Second)
	}
	boot, ok := h.c.groups["gpu-pool"].boots.p90()
	if !ok {
		t.Fatalf("three boots, none measured: %+v", h.c.groups["gpu-pool"].boots)
	}
	if d := boot - 45*time.Second; d < -30*time.Second || d > 30*time.Second {
		t.Errorf("measured boot %v, want within one 30 s cycle of the world's 45 s", boot)
	}
	h.compare(fmt.Sprintf(`
# HELP flexus_boot_seconds 0.9 quantile of the group's last 20 boots, from the first listing showing an instance pending to the first showing it in service; absent before 3.
# TYPE flexus_boot_seconds gauge
flexus_boot_seconds{group="gpu-pool"} %g
`, boot.Seconds()), "flexus_boot_seconds")
}
