package collector

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/scoring"
)

var publishNow = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// view is a cycle at publishNow with stale_after 5m over the given datapoints.
func view(points map[seriesKey]point) cycleView {
	return cycleView{now: publishNow, staleAfter: 5 * time.Minute, points: points}
}

// ago is a datapoint of value v taken d before publishNow.
func ago(d time.Duration, v float64) point { return point{value: v, at: publishNow.Add(-d)} }

// published is what /metrics would serve of the builder's series, comments left out.
func published(t *testing.T, b *builder, d *descs) []string {
	t.Helper()
	if err := b.snap.encode(d.info); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b.snap.text), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func checkSeries(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("published:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func checkSignals(t *testing.T, got, want map[string]point) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("signals %v, want %v", got, want)
	}
}

func TestPublishCloudEye(t *testing.T) {
	inService := Instance{ID: "i-1", State: StateInService}
	pending := Instance{ID: "i-2", State: StatePending}
	gpuOf := func(inst, dim string) []device {
		if inst == "i-1" && dim == dimGPU {
			return []device{{hash: "h0", id: "0000:00:0d.0"}}
		}
		return nil
	}
	npuOf := func(inst, dim string) []device {
		if inst == "i-1" && dim == dimNPU {
			return []device{{hash: "n0", id: "npu-0"}}
		}
		return nil
	}
	for _, tc := range []struct {
		name      string
		extra     []config.ExtraMetric
		instances []Instance
		devices   func(inst, dim string) []device
		points    map[seriesKey]point
		want      []string
		signals   map[string]point
	}{
		{
			name:      "both CPU figures are published and the agent's, the guest's own view, is the signal",
			instances: []Instance{inService},
			points: map[seriesKey]point{
				instanceKey(nsSYSECS, "cpu_util", "i-1"):  ago(time.Minute, 40),
				instanceKey(nsAGTECS, "cpu_usage", "i-1"): ago(2*time.Minute, 60),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="cpu_usage",namespace="AGT.ECS"} 120`,
				`flexus_cloudeye_sample_age_seconds{group="g",metric="cpu_util",namespace="SYS.ECS"} 60`,
				`flexus_cpu_utilization_ratio{group="g",instance_id="i-1",namespace="AGT.ECS"} 0.6`,
				`flexus_cpu_utilization_ratio{group="g",instance_id="i-1",namespace="SYS.ECS"} 0.4`,
			},
			signals: map[string]point{config.SignalCPU: ago(2*time.Minute, 0.6)},
		},
		{
			name:      "every instance is published but only in-service ones make the signal",
			instances: []Instance{inService, pending},
			points: map[seriesKey]point{
				instanceKey(nsAGTECS, "mem_usedPercent", "i-1"): ago(time.Minute, 20),
				instanceKey(nsAGTECS, "mem_usedPercent", "i-2"): ago(time.Minute, 90),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="mem_usedPercent",namespace="AGT.ECS"} 60`,
				`flexus_memory_utilization_ratio{group="g",instance_id="i-1"} 0.2`,
				`flexus_memory_utilization_ratio{group="g",instance_id="i-2"} 0.9`,
			},
			signals: map[string]point{config.SignalMemory: ago(time.Minute, 0.2)},
		},
		{
			name:      "a signal is the mean over in-service instances, dated by its oldest datapoint",
			instances: []Instance{inService, {ID: "i-3", State: StateInService}},
			points: map[seriesKey]point{
				instanceKey(nsSYSECS, "cpu_util", "i-1"): ago(time.Minute, 20),
				instanceKey(nsSYSECS, "cpu_util", "i-3"): ago(3*time.Minute, 60),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="cpu_util",namespace="SYS.ECS"} 180`,
				`flexus_cpu_utilization_ratio{group="g",instance_id="i-1",namespace="SYS.ECS"} 0.2`,
				`flexus_cpu_utilization_ratio{group="g",instance_id="i-3",namespace="SYS.ECS"} 0.6`,
			},
			signals: map[string]point{config.SignalCPU: ago(3*time.Minute, (0.2+0.6)/2)},
		},
		{
			name:      "a stale datapoint disappears and makes no signal, but its age stays published",
			instances: []Instance{inService},
			points: map[seriesKey]point{
				instanceKey(nsSYSECS, "cpu_util", "i-1"): ago(10*time.Minute, 40),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="cpu_util",namespace="SYS.ECS"} 600`,
			},
			signals: map[string]point{},
		},
		{
			name:      "GPU series are in base units under the real device id, and utilisations are signals",
			instances: []Instance{inService},
			devices:   gpuOf,
			points: map[seriesKey]point{
				deviceKey("gpu_usage_gpu", "i-1", dimGPU, "h0"):  ago(time.Minute, 50),
				deviceKey("gpu_usage_mem", "i-1", dimGPU, "h0"):  ago(time.Minute, 25),
				deviceKey("gpu_free_mem", "i-1", dimGPU, "h0"):   ago(time.Minute, 2),
				deviceKey("gpu_power_draw", "i-1", dimGPU, "h0"): ago(time.Minute, 70),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="gpu_free_mem",namespace="AGT.ECS"} 60`,
				`flexus_cloudeye_sample_age_seconds{group="g",metric="gpu_power_draw",namespace="AGT.ECS"} 60`,
				`flexus_cloudeye_sample_age_seconds{group="g",metric="gpu_usage_gpu",namespace="AGT.ECS"} 60`,
				`flexus_cloudeye_sample_age_seconds{group="g",metric="gpu_usage_mem",namespace="AGT.ECS"} 60`,
				`flexus_gpu_memory_free_bytes{device="0000:00:0d.0",group="g",instance_id="i-1"} 2.097152e+06`,
				`flexus_gpu_memory_utilization_ratio{device="0000:00:0d.0",group="g",instance_id="i-1"} 0.25`,
				`flexus_gpu_power_watts{device="0000:00:0d.0",group="g",instance_id="i-1"} 70`,
				`flexus_gpu_utilization_ratio{device="0000:00:0d.0",group="g",instance_id="i-1"} 0.5`,
			},
			signals: map[string]point{config.SignalGPU: ago(time.Minute, 0.5), config.SignalGPUMemory: ago(time.Minute, 0.25)},
		},
		{
			name:      "the NPU AI core utilisation is a signal, its memory is not",
			instances: []Instance{inService},
			devices:   npuOf,
			points: map[seriesKey]point{
				deviceKey("npu_util_rate_ai_core", "i-1", dimNPU, "n0"): ago(time.Minute, 30),
				deviceKey("npu_util_rate_mem", "i-1", dimNPU, "n0"):     ago(time.Minute, 40),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="npu_util_rate_ai_core",namespace="AGT.ECS"} 60`,
				`flexus_cloudeye_sample_age_seconds{group="g",metric="npu_util_rate_mem",namespace="AGT.ECS"} 60`,
				`flexus_npu_memory_utilization_ratio{device="npu-0",group="g",instance_id="i-1"} 0.4`,
				`flexus_npu_utilization_ratio{device="npu-0",group="g",instance_id="i-1"} 0.3`,
			},
			signals: map[string]point{config.SignalNPU: ago(time.Minute, 0.3)},
		},
		{
			name:      "an extra metric is published in its raw unit and makes no signal",
			extra:     []config.ExtraMetric{{Namespace: "SYS.EVS", Metric: "disk_device_read_bytes_rate"}},
			instances: []Instance{inService},
			points: map[seriesKey]point{
				instanceKey("SYS.EVS", "disk_device_read_bytes_rate", "i-1"): ago(time.Minute, 1234),
			},
			want: []string{
				`flexus_cloudeye_sample_age_seconds{group="g",metric="disk_device_read_bytes_rate",namespace="SYS.EVS"} 60`,
				`flexus_cloudeye_value{group="g",instance_id="i-1",metric="disk_device_read_bytes_rate",namespace="SYS.EVS"} 1234`,
			},
			signals: map[string]point{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			devices := tc.devices
			if devices == nil {
				devices = func(string, string) []device { return nil }
			}
			b, d := newBuilder(), newDescs()
			g := &config.Group{Name: "g", ExtraMetrics: tc.extra}
			sigs := b.publishCloudEye(d, g, tc.instances, devices, view(tc.points))
			checkSeries(t, published(t, b, d), tc.want)
			checkSignals(t, sigs, tc.signals)
		})
	}
}

func TestPublishQueue(t *testing.T) {
	kafka := &config.DMSQueue{Kind: "kafka", Namespace: "SYS.DMS", Metric: "kafka_consumer_lag", Dimensions: map[string]string{"kafka_instance_id": "k-1"}}
	redis := &config.Queue{Redis: &config.RedisQueue{Address: "127.0.0.1:6379"}}
	for _, tc := range []struct {
		name    string
		queue   *config.Queue
		redis   point
		redisOK bool
		points  map[seriesKey]point
		want    []string
		signals map[string]point
	}{
		{name: "a group without a queue publishes none", redis: ago(0, 12), redisOK: true, signals: map[string]point{}},
		{
			name: "a fresh Redis depth is published and is the signal", queue: redis, redis: ago(0, 12), redisOK: true,
			want:    []string{`flexus_queue_depth{group="g",source="redis"} 12`},
			signals: map[string]point{config.SignalQueue: ago(0, 12)},
		},
		{name: "a Redis depth never read is not published", queue: redis, redis: ago(0, 12), signals: map[string]point{}},
		{
			name: "a Redis depth kept from before failed reads disappears once stale", queue: redis, redis: ago(6*time.Minute, 12), redisOK: true,
			signals: map[string]point{},
		},
		{
			name: "a DMS backlog is this cycle's Cloud Eye series, labelled by its kind", queue: &config.Queue{DMS: kafka},
			points:  map[seriesKey]point{dmsQuery(kafka).key: ago(time.Minute, 7)},
			want:    []string{`flexus_queue_depth{group="g",source="dms_kafka"} 7`},
			signals: map[string]point{config.SignalQueue: ago(time.Minute, 7)},
		},
		{
			name: "a stale DMS backlog disappears", queue: &config.Queue{DMS: kafka},
			points:  map[seriesKey]point{dmsQuery(kafka).key: ago(5*time.Minute, 7)},
			signals: map[string]point{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, d := newBuilder(), newDescs()
			sigs := map[string]point{}
			if p, ok := b.publishQueue(d, "g", tc.queue, tc.redis, tc.redisOK, view(tc.points)); ok {
				sigs[config.SignalQueue] = p
			}
			checkSeries(t, published(t, b, d), tc.want)
			checkSignals(t, sigs, tc.signals)
		})
	}
}

func TestResponseSignals(t *testing.T) {
	elb := &elbSource{
		rt:   newQuery("SYS.ELB", elbRT, hwcloud.Dim{Name: "lbaas_instance_id", Value: "lb-1"}),
		qps:  newQuery("SYS.ELB", elbQPS, hwcloud.Dim{Name: "lbaas_instance_id", Value: "lb-1"}),
		errs: newQuery("SYS.ELB", elbServerErr, hwcloud.Dim{Name: "lbaas_instance_id", Value: "lb-1"}),
	}
	for _, tc := range []struct {
		name    string
		elb     map[seriesKey]point // nil: the service's endpoint, read as rt and er
		rt, er  point
		rtOK    bool
		erOK    bool
		signals map[string]point
	}{
		{
			name: "ELB response time is in seconds and the error rate is 5xx over requests, dated by the older",
			elb: map[seriesKey]point{
				elb.rt.key: ago(time.Minute, 250), elb.qps.key: ago(time.Minute, 200), elb.errs.key: ago(2*time.Minute, 10),
			},
			signals: map[string]point{config.SignalResponseTime: ago(time.Minute, 0.25), config.SignalErrorRate: ago(2*time.Minute, 0.05)},
		},
		{
			name:    "an ELB error rate never exceeds 1, and without a response time datapoint there is no response time",
			elb:     map[seriesKey]point{elb.qps.key: ago(time.Minute, 5), elb.errs.key: ago(time.Minute, 8)},
			signals: map[string]point{config.SignalErrorRate: ago(time.Minute, 1)},
		},
		{
			name:    "without requests an ELB error rate is unknown",
			elb:     map[seriesKey]point{elb.qps.key: ago(time.Minute, 0), elb.errs.key: ago(time.Minute, 0)},
			signals: map[string]point{},
		},
		{
			name:    "stale ELB datapoints make no signal",
			elb:     map[seriesKey]point{elb.rt.key: ago(5*time.Minute, 250), elb.qps.key: ago(time.Minute, 200), elb.errs.key: ago(6*time.Minute, 10)},
			signals: map[string]point{},
		},
		{
			name: "the endpoint's fresh reading is the signal", rt: ago(0, 0.3), rtOK: true, er: ago(0, 0.01), erOK: true,
			signals: map[string]point{config.SignalResponseTime: ago(0, 0.3), config.SignalErrorRate: ago(0, 0.01)},
		},
		{
			name: "an endpoint without an error count gives the response time alone", rt: ago(0, 0.3), rtOK: true, er: ago(0, 0.01),
			signals: map[string]point{config.SignalResponseTime: ago(0, 0.3)},
		},
		{
			name: "the endpoint's reading kept from before failed reads disappears once stale", rt: ago(5*time.Minute, 0.3), rtOK: true, er: ago(time.Minute, 0.01), erOK: true,
			signals: map[string]point{config.SignalErrorRate: ago(time.Minute, 0.01)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sigs map[string]point
			if tc.elb != nil {
				sigs = elbSignals(elb, view(tc.elb))
			} else {
				sigs = httpSignals(tc.rt, tc.er, tc.rtOK, tc.erOK, view(nil))
			}
			checkSignals(t, sigs, tc.signals)
		})
	}
}

func TestPublishMembers(t *testing.T) {
	g := &config.Group{Name: "g", MinInstances: 2, MaxInstances: 10}
	members := []Instance{
		{ID: "i-1", Name: "web-1", PrivateIP: "192.168.0.11", Flavor: "x1.2u.4g", State: StateInService, Tags: map[string]string{"team": "search"}},
		{ID: "i-2", Name: "web-2", PrivateIP: "192.168.0.12", Flavor: "x1.2u.4g", State: StatePending},
		{ID: "i-3", Name: "web-3", Flavor: "x1.2u.4g", State: StateRemoving},
	}
	for _, tc := range []struct {
		name       string
		m          membership
		discovered bool
		tags       []string
		want       []string
		state      scoring.GroupState
	}{
		{
			name:       "the bounds in force are the tighter of config and cloud; instances carry the configured tags",
			m:          membership{instances: members, desired: 3, cloudMin: 1, cloudMax: 8, at: publishNow.Add(-30 * time.Second)},
			discovered: true,
			tags:       []string{"team"},
			want: []string{
				`flexus_discovery_lag_seconds{group="g"} 30`,
				`flexus_group_current_instances{group="g"} 3`,
				`flexus_group_desired_instances{group="g"} 3`,
				`flexus_group_instances{group="g",state="in_service"} 1`,
				`flexus_group_instances{group="g",state="pending"} 1`,
				`flexus_group_instances{group="g",state="removing"} 1`,
				`flexus_group_max_instances{group="g"} 8`,
				`flexus_group_min_instances{group="g"} 2`,
				`flexus_instance_info{flavor="x1.2u.4g",group="g",instance_id="i-1",name="web-1",private_ip="192.168.0.11",state="in_service",tag_team="search"} 1`,
				`flexus_instance_info{flavor="x1.2u.4g",group="g",instance_id="i-2",name="web-2",private_ip="192.168.0.12",state="pending",tag_team=""} 1`,
				`flexus_instance_info{flavor="x1.2u.4g",group="g",instance_id="i-3",name="web-3",private_ip="",state="removing",tag_team=""} 1`,
			},
			state: scoring.GroupState{Current: 1, Desired: 3, Min: 2, Max: 8},
		},
		{
			name:       "without the cloud's counts the config bounds hold and the members not leaving are the desired count",
			m:          membership{instances: members, desired: -1, cloudMin: -1, cloudMax: -1, at: publishNow},
			discovered: true,
			want: []string{
				`flexus_discovery_lag_seconds{group="g"} 0`,
				`flexus_group_current_instances{group="g"} 3`,
				`flexus_group_desired_instances{group="g"} 2`,
				`flexus_group_instances{group="g",state="in_service"} 1`,
				`flexus_group_instances{group="g",state="pending"} 1`,
				`flexus_group_instances{group="g",state="removing"} 1`,
				`flexus_group_max_instances{group="g"} 10`,
				`flexus_group_min_instances{group="g"} 2`,
				`flexus_instance_info{flavor="x1.2u.4g",group="g",instance_id="i-1",name="web-1",private_ip="192.168.0.11",state="in_service"} 1`,
				`flexus_instance_info{flavor="x1.2u.4g",group="g",instance_id="i-2",name="web-2",private_ip="192.168.0.12",state="pending"} 1`,
				`flexus_instance_info{flavor="x1.2u.4g",group="g",instance_id="i-3",name="web-3",private_ip="",state="removing"} 1`,
			},
			state: scoring.GroupState{Current: 1, Desired: 2, Min: 2, Max: 10},
		},
		{
			name:  "a group not yet discovered publishes no membership",
			m:     membership{instances: members, desired: 3, cloudMin: -1, cloudMax: -1},
			state: scoring.GroupState{Current: 1, Desired: 3, Min: 2, Max: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, d := newBuilder(), newDescs()
			state := b.publishMembers(d, g, tc.m, tc.discovered, tc.tags, publishNow)
			checkSeries(t, published(t, b, d), tc.want)
			if state != tc.state {
				t.Errorf("scoring state %+v, want %+v", state, tc.state)
			}
		})
	}
}
