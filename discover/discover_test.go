package discover_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/discover"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// Against simcloud through the real SDK: each group's instances with
// flavour and state, the metrics that exist for them, the GPU by its PCI id,
// the ELB, and the signals that will have no data with the reason.
func TestDiscoverShowsWhatTheCloudHasForEachGroup(t *testing.T) {
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Minute))
	env := simcloudtest.Start(t, simcloudtest.Config(), clk)
	clk.Advance(10 * time.Minute)
	web, err := env.World.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s}
groups:
  - name: gpu-pool
    discovery: {as_group_id: 8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f}
    min_instances: 1
    max_instances: 10
    signals:
      gpu: {scale_out: 0.8, scale_in: 0.3, weight: 0.0}
      npu: {scale_out: 0.8, scale_in: 0.3, weight: 0.0}
  - name: web
    discovery: {tag: {key: flexus-group, value: web}}
    min_instances: 1
    max_instances: 10
    queue:
      dms: {kind: kafka, namespace: SYS.DMS, metric: group_msgs, dimensions: {kafka_instance_id: "%s", kafka_groups: "%s"}}
    response_time: {url: "cloudeye:SYS.ELB?lbaas_instance_id=%s"}
    ecs: {flavor: x1.2u.4g, image_id: img-1, vpc_id: vpc-1, subnet_id: subnet-1}
`, env.URL, simcloudtest.ProjectID, web.KafkaInstanceID, web.ConsumerGroup, web.ELBID)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
	if err := cfg.Cloud.Resolve(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	cl, err := hwcloud.New(cfg.Cloud, nil, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	r := discover.Run(context.Background(), cfg, cl, clk.Now())
	if len(r.Groups) != 2 {
		t.Fatalf("%d groups reported, want 2", len(r.Groups))
	}
	gpu, webR := r.Groups[0], r.Groups[1]

	t.Run("instances with flavour and state", func(t *testing.T) {
		if len(gpu.Instances) != 2 || gpu.Instances[0].Flavor != "pi2.2xlarge.4" || gpu.Instances[0].State != "INSERVICE" {
			t.Fatalf("gpu-pool: %+v", gpu.Instances)
		}
		if len(webR.Instances) != 2 || webR.Instances[0].Flavor != "x1.2u.4g" || webR.Instances[0].State != "ACTIVE" {
			t.Fatalf("web: %+v", webR.Instances)
		}
	})
	t.Run("metrics that exist, with data", func(t *testing.T) {
		got := map[string]discover.Series{}
		for _, m := range gpu.Metrics {
			got[m.Metric] = m
		}
		for _, name := range []string{"cpu_util", "cpu_usage", "mem_usedPercent", "gpu_usage_gpu"} {
			if m := got[name]; m.Instances != 2 || !m.HasData {
				t.Errorf("gpu-pool %s: %+v, want both instances with data", name, m)
			}
		}
	})
	t.Run("the GPU by its PCI id", func(t *testing.T) {
		if len(gpu.Devices) != 2 || gpu.Devices[0].Kind != "gpu" || gpu.Devices[0].ID != "0000:00:0d.0" {
			t.Fatalf("devices: %+v", gpu.Devices)
		}
	})
	t.Run("the load balancer", func(t *testing.T) {
		if webR.ELB == nil || !webR.ELB.HasData || webR.ELB.Metric != "m14_l7_rt" {
			t.Fatalf("elb: %+v", webR.ELB)
		}
	})
	t.Run("signals without data and why", func(t *testing.T) {
		gaps := map[string]string{}
		for _, g := range append(gpu.Gaps, webR.Gaps...) {
			gaps[g.Signal] += g.Reason
		}
		for sig, want := range map[string]string{
			"npu":   "no agent or no NPU",
			"queue": "wrong dimension: Cloud Eye has no SYS.DMS group_msgs with {kafka_groups=" + web.ConsumerGroup + ", kafka_instance_id=" + web.KafkaInstanceID + "}; it lists {kafka_instance_id=",
		} {
			if !strings.Contains(gaps[sig], want) {
				t.Errorf("%s: %q, want it to say %q", sig, gaps[sig], want)
			}
		}
		if _, ok := gaps["gpu"]; ok {
			t.Errorf("gpu has data, yet: %s", gaps["gpu"])
		}
	})
}

// A refused call names the IAM action to grant.
func TestMissingPermissionNamesTheAction(t *testing.T) {
	forbidden := &sdkerr.ServiceResponseError{StatusCode: http.StatusForbidden, ErrorCode: "CES.0003", ErrorMessage: "policy doesn't allow"}
	for _, tc := range []struct {
		doing, action string
	}{
		{"listing AGT.ECS mem_usedPercent", "ces:metrics:list"},
		{"reading recent datapoints", "ces:metricData:list"},
		{"listing the group's instances", "ecs:cloudServers:list"},
	} {
		got := discover.Why(fmt.Errorf("wrapped: %w", forbidden), tc.doing)
		if !strings.Contains(got, "missing permission") || !strings.Contains(got, tc.action) {
			t.Errorf("%s: %q, want the action %s", tc.doing, got, tc.action)
		}
	}
	if got := discover.Why(errors.New("connection refused"), "reading recent datapoints"); strings.Contains(got, "permission") {
		t.Errorf("a network error is not a permission: %q", got)
	}
}
