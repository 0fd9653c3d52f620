package simcloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/invoker/retry"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	ces "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	cesv2model "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2/model"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"pgregory.net/rapid"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// start runs simcloud on a fake clock 10 minutes into its life, so Cloud Eye
// has published datapoints.
func start(t *testing.T) (*simcloudtest.Env, *clock.Fake) {
	t.Helper()
	// Aligned to 5 minutes so aggregated buckets are whole.
	clk := clock.NewFake(time.Now().UTC().Truncate(5 * time.Minute))
	env := simcloudtest.Start(t, simcloudtest.Config(), clk)
	clk.Advance(10 * time.Minute)
	return env, clk
}

// wantServiceError asserts err is the SDK's parsed error with this status and code.
func wantServiceError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) {
		t.Fatalf("want a *sdkerr.ServiceResponseError, got %T: %v", err, err)
	}
	if se.StatusCode != status || se.ErrorCode != code || se.ErrorMessage == "" {
		t.Fatalf("want %d %s with a message, got %d %q %q", status, code, se.StatusCode, se.ErrorCode, se.ErrorMessage)
	}
}

func ptr[T any](v T) *T { return &v }

func instanceIDs(t *testing.T, env *simcloudtest.Env, group string) []string {
	t.Helper()
	ins, err := env.World.Instances(group)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	return ids
}

func batchPeriod(t *testing.T, v string) *cesmodel.BatchPeriod {
	var p cesmodel.BatchPeriod
	if err := json.Unmarshal([]byte(`"`+v+`"`), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func filter(t *testing.T, v string) *cesmodel.Filter {
	var f cesmodel.Filter
	if err := json.Unmarshal([]byte(`"`+v+`"`), &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestBatchListMetricData(t *testing.T) {
	env, clk := start(t)
	c := env.CES()
	web := instanceIDs(t, env, "web")
	gpu := instanceIDs(t, env, "gpu-pool")
	dims, err := env.CESv2().ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: gpu[0], DimName: cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().GPU})
	if err != nil {
		t.Fatal(err)
	}
	gpuHash := *(*dims.Dimensions)[0].Value
	now := clk.Now()
	metrics := []cesmodel.MetricInfo{
		{Namespace: "SYS.ECS", MetricName: "cpu_util", Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: web[0]}}},
		{Namespace: "AGT.ECS", MetricName: "mem_usedPercent", Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: web[1]}}},
		{Namespace: "AGT.ECS", MetricName: "gpu_usage_gpu", Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: gpu[0]}, {Name: "gpu", Value: gpuHash}}},
		{Namespace: "SYS.ECS", MetricName: "cpu_util", Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: "00000000-0000-4000-8000-000000000000"}}},
	}
	for _, tc := range []struct {
		name, period, filter string
		wantPoints           []int
	}{
		{"raw period returns each published minute", "1", "average", []int{9, 9, 9, 0}},
		{"5-minute max returns the complete buckets", "300", "max", []int{1, 1, 1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
				Metrics: metrics, Period: batchPeriod(t, tc.period), Filter: filter(t, tc.filter),
				From: now.Add(-time.Hour).UnixMilli(), To: now.UnixMilli(),
			}})
			if err != nil {
				t.Fatal(err)
			}
			got := *resp.Metrics
			if len(got) != len(metrics) {
				t.Fatalf("%d metrics answered, want %d", len(got), len(metrics))
			}
			for i, m := range got {
				if len(m.Datapoints) != tc.wantPoints[i] {
					t.Fatalf("metric %d (%s): %d datapoints, want %d", i, m.MetricName, len(m.Datapoints), tc.wantPoints[i])
				}
				for _, dp := range m.Datapoints {
					v := dp.Average
					if tc.filter == "max" {
						v = dp.Max
					}
					if v == nil || *v < 0 || *v > 100 {
						t.Fatalf("metric %s: datapoint %+v lacks a percentage in %s", m.MetricName, dp, tc.filter)
					}
					if dp.Timestamp > now.Add(-time.Minute).UnixMilli() {
						t.Fatalf("datapoint at %d is younger than the 60 s publication delay", dp.Timestamp)
					}
				}
			}
		})
	}
	t.Run("more than 500 metrics are refused", func(t *testing.T) {
		many := make([]cesmodel.MetricInfo, 501)
		for i := range many {
			many[i] = metrics[0]
		}
		_, err := c.BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
			Metrics: many, Period: batchPeriod(t, "1"), Filter: filter(t, "average"), From: now.Add(-time.Hour).UnixMilli(), To: now.UnixMilli(),
		}})
		wantServiceError(t, err, 400, "ces.0014")
	})
	t.Run("an unknown period is refused", func(t *testing.T) {
		_, err := c.BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
			Metrics: metrics, Period: batchPeriod(t, "7"), Filter: filter(t, "average"), From: now.Add(-time.Hour).UnixMilli(), To: now.UnixMilli(),
		}})
		wantServiceError(t, err, 400, "ces.0014")
	})
	t.Run("from after to is refused", func(t *testing.T) {
		_, err := c.BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
			Metrics: metrics, Period: batchPeriod(t, "1"), Filter: filter(t, "average"), From: now.UnixMilli(), To: now.Add(-time.Hour).UnixMilli(),
		}})
		wantServiceError(t, err, 400, "ces.0014")
	})
}

func TestShowMetricData(t *testing.T) {
	env, clk := start(t)
	web := instanceIDs(t, env, "web")
	now := clk.Now()
	req := func(period int32) *cesmodel.ShowMetricDataRequest {
		var p cesmodel.ShowMetricDataRequestPeriod
		b, _ := json.Marshal(period)
		_ = json.Unmarshal(b, &p)
		return &cesmodel.ShowMetricDataRequest{
			Namespace: "AGT.ECS", MetricName: "cpu_usage", Dim0: "instance_id," + web[0],
			Filter: cesmodel.GetShowMetricDataRequestFilterEnum().AVERAGE, Period: p,
			From: now.Add(-time.Hour).UnixMilli(), To: now.UnixMilli(),
		}
	}
	resp, err := env.CES().ShowMetricData(req(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(*resp.Datapoints) != 9 || *resp.MetricName != "cpu_usage" || *(*resp.Datapoints)[0].Unit != "%" {
		t.Fatalf("raw cpu_usage over 10 minutes: %+v", resp)
	}
	_, err = env.CES().ShowMetricData(req(7))
	wantServiceError(t, err, 400, "ces.0014")
}

func TestListMetricsPagesByMarker(t *testing.T) {
	env, _ := start(t)
	c := env.CES()
	all, err := c.ListMetrics(&cesmodel.ListMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	total := int(all.MetaData.Total)
	if total == 0 || total != len(*all.Metrics) {
		t.Fatalf("one page of 1000 must hold every metric: total %d, got %d", total, len(*all.Metrics))
	}
	seen := map[string]bool{}
	start := ""
	for page := 0; page < 100; page++ {
		req := &cesmodel.ListMetricsRequest{Limit: ptr(int32(7))}
		if start != "" {
			req.Start = ptr(start)
		}
		resp, err := c.ListMetrics(req)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range *resp.Metrics {
			key, _ := json.Marshal(m)
			if seen[string(key)] {
				t.Fatalf("metric listed twice across pages: %s", key)
			}
			seen[string(key)] = true
		}
		start = resp.MetaData.Marker
		if start == "" {
			break
		}
	}
	if len(seen) != total {
		t.Fatalf("paging by marker listed %d metrics, want %d", len(seen), total)
	}
	filtered, err := c.ListMetrics(&cesmodel.ListMetricsRequest{Namespace: ptr("SYS.ECS"), MetricName: ptr("cpu_util")})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(*filtered.Metrics); got != 4 {
		t.Fatalf("SYS.ECS cpu_util for 4 instances: %d metrics", got)
	}
	_, err = c.ListMetrics(&cesmodel.ListMetricsRequest{Limit: ptr(int32(5000))})
	wantServiceError(t, err, 400, "ces.0014")
}

func TestListAgentDimensionInfo(t *testing.T) {
	env, _ := start(t)
	c := env.CESv2()
	gpu := instanceIDs(t, env, "gpu-pool")
	web := instanceIDs(t, env, "web")
	var npu cesv2model.ListAgentDimensionInfoRequestDimName
	if err := json.Unmarshal([]byte(`"npu"`), &npu); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		instance string
		dim      cesv2model.ListAgentDimensionInfoRequestDimName
		want     []string
	}{
		{"a GPU instance lists its T4 by PCI id", gpu[0], cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().GPU, []string{"0000:00:0d.0"}},
		{"a Flexus X instance has no GPU", web[0], cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().GPU, nil},
		{"mount points are listed", web[0], cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().MOUNT_POINT, []string{"/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: tc.instance, DimName: tc.dim})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range *resp.Dimensions {
				if len(*d.Value) != 32 {
					t.Fatalf("dimension value %q is not a 32-hex hash", *d.Value)
				}
				got = append(got, *d.OriginValue)
			}
			if !reflect.DeepEqual(got, tc.want) || int(*resp.Count) != len(tc.want) {
				t.Fatalf("origins %v (count %d), want %v", got, *resp.Count, tc.want)
			}
		})
	}
	_, err := c.ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: "00000000-0000-4000-8000-000000000000", DimName: cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().GPU})
	wantServiceError(t, err, 404, "ces.0011")
	_, err = c.ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: gpu[0], DimName: npu})
	wantServiceError(t, err, 400, "ces.0014")
}

func TestNPUInstancesPublishAscendMetrics(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.World.Groups[0].Flavor = "ai1s.2xlarge.4"
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Minute))
	env := simcloudtest.Start(t, cfg, clk)
	clk.Advance(5 * time.Minute)
	id := instanceIDs(t, env, "gpu-pool")[0]
	// ListAgentDimensionInfo has no npu: the devices are the npu dimension values ListMetrics shows.
	list, err := env.CES().ListMetrics(&cesmodel.ListMetricsRequest{Namespace: ptr("AGT.ECS"), MetricName: ptr("npu_util_rate_ai_core"), Dim0: ptr("instance_id," + id)})
	if err != nil {
		t.Fatal(err)
	}
	var devices []string
	for _, m := range *list.Metrics {
		for _, d := range m.Dimensions {
			if d.Name != nil && *d.Name == "npu" {
				devices = append(devices, *d.Value)
			}
		}
	}
	if len(devices) != 2 {
		t.Fatalf("ai1s.2xlarge.4 has two Ascend 310, ListMetrics shows %v", devices)
	}
	resp, err := env.CES().BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
		Metrics: []cesmodel.MetricInfo{{Namespace: "AGT.ECS", MetricName: "npu_util_rate_ai_core", Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: id}, {Name: "npu", Value: devices[1]}}}},
		Period:  batchPeriod(t, "1"), Filter: filter(t, "average"), From: clk.Now().Add(-time.Hour).UnixMilli(), To: clk.Now().UnixMilli(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len((*resp.Metrics)[0].Datapoints); n != 4 {
		t.Fatalf("npu_util_rate_ai_core over 5 minutes: %d points, want 4", n)
	}
}

func TestAutoScalingAPIs(t *testing.T) {
	env, clk := start(t)
	c := env.AS()
	groups, err := c.ListScalingGroups(&asmodel.ListScalingGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if *groups.TotalNumber != 1 || *(*groups.ScalingGroups)[0].ScalingGroupName != "gpu-pool" {
		t.Fatalf("only the AS group is an AS scaling group: %+v", groups)
	}
	id := *(*groups.ScalingGroups)[0].ScalingGroupId
	show, err := c.ShowScalingGroup(&asmodel.ShowScalingGroupRequest{ScalingGroupId: id})
	if err != nil {
		t.Fatal(err)
	}
	if g := show.ScalingGroup; *g.DesireInstanceNumber != 2 || *g.MinInstanceNumber != 1 || *g.MaxInstanceNumber != 10 || *g.CurrentInstanceNumber != 2 {
		t.Fatalf("gpu-pool: %+v", g)
	}
	t.Run("an unknown group is 404", func(t *testing.T) {
		_, err := c.ShowScalingGroup(&asmodel.ShowScalingGroupRequest{ScalingGroupId: "no-such-group"})
		wantServiceError(t, err, 404, "AS.2007")
	})
	t.Run("desired outside min..max is refused", func(t *testing.T) {
		_, err := c.UpdateScalingGroup(&asmodel.UpdateScalingGroupRequest{ScalingGroupId: id, Body: &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: ptr(int32(11))}})
		wantServiceError(t, err, 400, "AS.2019")
	})
	upd, err := c.UpdateScalingGroup(&asmodel.UpdateScalingGroupRequest{ScalingGroupId: id, Body: &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: ptr(int32(4))}})
	if err != nil {
		t.Fatal(err)
	}
	if *upd.ScalingGroupId != id {
		t.Fatalf("update answered %q", *upd.ScalingGroupId)
	}
	list, err := c.ListScalingInstances(&asmodel.ListScalingInstancesRequest{ScalingGroupId: id})
	if err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, in := range *list.ScalingGroupInstances {
		if in.LifeCycleState.Value() == "PENDING" {
			pending++
		}
	}
	if *list.TotalNumber != 4 || pending != 2 {
		t.Fatalf("after scaling 2 -> 4: %d instances, %d pending; want 4 and 2", *list.TotalNumber, pending)
	}
	t.Run("instances page by start_number", func(t *testing.T) {
		var ids []string
		for start := int32(0); start < 4; start++ {
			page, err := c.ListScalingInstances(&asmodel.ListScalingInstancesRequest{ScalingGroupId: id, StartNumber: ptr(start), Limit: ptr(int32(1))})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, *(*page.ScalingGroupInstances)[0].InstanceId)
		}
		for i := range ids {
			if ids[i] != *(*list.ScalingGroupInstances)[i].InstanceId {
				t.Fatalf("page %d holds %s, want %s", i, ids[i], *(*list.ScalingGroupInstances)[i].InstanceId)
			}
		}
	})
	clk.Advance(time.Minute)
	list, _ = c.ListScalingInstances(&asmodel.ListScalingInstancesRequest{ScalingGroupId: id, LifeCycleState: ptrEnum[asmodel.ListScalingInstancesRequestLifeCycleState](t, "INSERVICE")})
	if *list.TotalNumber != 4 {
		t.Fatalf("a minute later all 4 have booted: %d in service", *list.TotalNumber)
	}
	victim := *(*list.ScalingGroupInstances)[0].InstanceId
	var action asmodel.BatchRemoveInstancesOptionAction
	_ = json.Unmarshal([]byte(`"REMOVE"`), &action)
	if _, err := c.BatchRemoveScalingInstances(&asmodel.BatchRemoveScalingInstancesRequest{ScalingGroupId: id, Body: &asmodel.BatchRemoveInstancesOption{InstancesId: []string{victim}, Action: action}}); err != nil {
		t.Fatal(err)
	}
	show, _ = c.ShowScalingGroup(&asmodel.ShowScalingGroupRequest{ScalingGroupId: id})
	if *show.ScalingGroup.DesireInstanceNumber != 3 {
		t.Fatalf("removing one instance lowers desired to 3, got %d", *show.ScalingGroup.DesireInstanceNumber)
	}
	t.Run("removing an unknown instance is 404", func(t *testing.T) {
		_, err := c.BatchRemoveScalingInstances(&asmodel.BatchRemoveScalingInstancesRequest{ScalingGroupId: id, Body: &asmodel.BatchRemoveInstancesOption{InstancesId: []string{"nope"}, Action: action}})
		wantServiceError(t, err, 404, "AS.2007")
	})
	logs, err := c.ListScalingActivityLogs(&asmodel.ListScalingActivityLogsRequest{ScalingGroupId: id, Limit: ptr(int32(1))})
	if err != nil {
		t.Fatal(err)
	}
	if *logs.TotalNumber != 2 || len(*logs.ScalingActivityLog) != 1 || *(*logs.ScalingActivityLog)[0].InstanceRemovedList == "" {
		t.Fatalf("two activities (scale-out, removal), newest first, one per page: %+v", logs)
	}
}

func ptrEnum[T any](t *testing.T, v string) *T {
	var e T
	if err := json.Unmarshal([]byte(`"`+v+`"`), &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func createRequest(token string, count int32) *ecsmodel.CreateServersRequest {
	return &ecsmodel.CreateServersRequest{
		XClientToken: ptr(token),
		Body: &ecsmodel.CreateServersRequestBody{Server: &ecsmodel.PrePaidServer{
			ImageRef: "img-ubuntu", FlavorRef: "x1.2u.4g", Name: "web", Vpcid: "vpc-1",
			Nics: []ecsmodel.PrePaidServerNic{{SubnetId: ptr("subnet-1")}}, Count: ptr(count),
			RootVolume:  &ecsmodel.PrePaidServerRootVolume{},
			ServerTags:  &[]ecsmodel.PrePaidServerTag{{Key: "flexus-group", Value: "web"}},
			Extendparam: &ecsmodel.PrePaidServerExtendParam{MarketType: ptr("spot")},
		}},
	}
}

func TestECSAPIs(t *testing.T) {
	env, clk := start(t)
	c := env.ECS()
	first, err := c.CreateServers(createRequest("00000000-0000-4000-8000-000000000001", 2))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateServers(createRequest("00000000-0000-4000-8000-000000000001", 2))
	if err != nil {
		t.Fatal(err)
	}
	if *first.JobId != *again.JobId || !reflect.DeepEqual(*first.ServerIds, *again.ServerIds) || len(*first.ServerIds) != 2 {
		t.Fatalf("a repeated X-Client-Token must answer the first job: %v vs %v", first, again)
	}
	byTag := func(query string) *ecsmodel.ListServersDetailsResponse {
		resp, err := c.ListServersDetails(&ecsmodel.ListServersDetailsRequest{Tags: ptr(query)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	list := byTag("flexus-group=web")
	if *list.Count != 4 {
		t.Fatalf("2 servers at start + 2 created once: %d tagged servers", *list.Count)
	}
	building := 0
	for _, s := range *list.Servers {
		if s.Status == "BUILD" {
			building++
			if s.Metadata["charging_mode"] != "2" || s.Flavor.Vcpus != "2" {
				t.Fatalf("a new spot x1.2u.4g server: %+v", s)
			}
		}
	}
	if building != 2 {
		t.Fatalf("new servers are BUILD during boot: %d building", building)
	}
	if n := *byTag("flexus-group=other").Count; n != 0 {
		t.Fatalf("a tag no server carries matches %d servers", n)
	}
	t.Run("servers page by offset (page number)", func(t *testing.T) {
		var ids []string
		for page := int32(1); page <= 4; page++ {
			resp, err := c.ListServersDetails(&ecsmodel.ListServersDetailsRequest{Tags: ptr("flexus-group=web"), Limit: ptr(int32(1)), Offset: ptr(page)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, (*resp.Servers)[0].Id)
		}
		for i, s := range *list.Servers {
			if ids[i] != s.Id {
				t.Fatalf("page %d holds %s, want %s", i+1, ids[i], s.Id)
			}
		}
	})
	job, err := c.ShowJob(&ecsmodel.ShowJobRequest{JobId: *first.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if job.Status.Value() != "RUNNING" || *job.Entities.SubJobsTotal != 2 {
		t.Fatalf("create job while servers boot: %+v", job)
	}
	clk.Advance(time.Minute)
	job, _ = c.ShowJob(&ecsmodel.ShowJobRequest{JobId: *first.JobId})
	if job.Status.Value() != "SUCCESS" {
		t.Fatalf("create job after boot: %s", job.Status.Value())
	}
	del, err := c.DeleteServers(&ecsmodel.DeleteServersRequest{Body: &ecsmodel.DeleteServersRequestBody{Servers: []ecsmodel.ServerId{{Id: (*first.ServerIds)[0]}}}})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if job, _ := c.ShowJob(&ecsmodel.ShowJobRequest{JobId: *del.JobId}); job.Status.Value() != "SUCCESS" {
		t.Fatalf("delete job: %s", job.Status.Value())
	}
	if n := *byTag("flexus-group=web").Count; n != 3 {
		t.Fatalf("after deleting one: %d servers, want 3", n)
	}
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"an unknown job is 404", func() error { _, err := c.ShowJob(&ecsmodel.ShowJobRequest{JobId: "nope"}); return err }, 404, "Ecs.0103"},
		{"deleting an unknown server is 404", func() error {
			_, err := c.DeleteServers(&ecsmodel.DeleteServersRequest{Body: &ecsmodel.DeleteServersRequestBody{Servers: []ecsmodel.ServerId{{Id: "nope"}}}})
			return err
		}, 404, "Ecs.0114"},
		{"an unknown flavour is 400", func() error {
			r := createRequest("00000000-0000-4000-8000-000000000002", 1)
			r.Body.Server.FlavorRef = "m9.huge"
			_, err := c.CreateServers(r)
			return err
		}, 400, "Ecs.0005"},
		{"servers without a group tag are 400", func() error {
			r := createRequest("00000000-0000-4000-8000-000000000003", 1)
			r.Body.Server.ServerTags = nil
			_, err := c.CreateServers(r)
			return err
		}, 400, "Ecs.0005"},
		{"beyond the group's quota is 403", func() error {
			_, err := c.CreateServers(createRequest("00000000-0000-4000-8000-000000000004", 8))
			return err
		}, 403, "Ecs.0605"},
		{"a bad limit is 400", func() error {
			_, err := c.ListServersDetails(&ecsmodel.ListServersDetailsRequest{Limit: ptr(int32(0))})
			return err
		}, 400, "Ecs.0005"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantServiceError(t, tc.call(), tc.status, tc.code) })
	}
}

func TestSignaturesAreVerified(t *testing.T) {
	env, _ := start(t)
	for _, tc := range []struct {
		name   string
		ak, sk string
	}{
		{"a wrong secret key is rejected", simcloudtest.AccessKey, "not-the-secret"},
		{"an unknown access key is rejected", "SOMEONEELSE", simcloudtest.SecretKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := as.NewAsClient(env.HcClient(as.AsClientBuilder(), tc.ak, tc.sk))
			_, err := c.ListScalingGroups(&asmodel.ListScalingGroupsRequest{})
			wantServiceError(t, err, 401, "APIGW.0301")
		})
	}
	t.Run("an unsigned request is rejected", func(t *testing.T) {
		resp, err := http.Get(env.URL + "/autoscaling-api/v1/" + simcloudtest.ProjectID + "/scaling_group")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 401 || body["error_code"] != "APIGW.0301" {
			t.Fatalf("unsigned: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("a signature older than the allowed skew is rejected", func(t *testing.T) {
		late := simcloudtest.Start(t, simcloudtest.Config(), clock.NewFake(time.Now()), simcloud.WithWallClock(clock.NewFake(time.Now().Add(time.Hour))))
		_, err := late.AS().ListScalingGroups(&asmodel.ListScalingGroupsRequest{})
		wantServiceError(t, err, 401, "APIGW.0301")
	})
	t.Run("another project is forbidden", func(t *testing.T) {
		cfg := simcloudtest.Config()
		cfg.ProjectID = "ffffffffffffffffffffffffffffffff"
		other := simcloudtest.Start(t, cfg, clock.NewFake(time.Now()))
		other.Config.ProjectID = simcloudtest.ProjectID
		_, err := other.AS().ListScalingGroups(&asmodel.ListScalingGroupsRequest{})
		wantServiceError(t, err, 403, "APIGW.0306")
	})
}

func TestThrottledRequestSucceedsOnRetry(t *testing.T) {
	env, _ := start(t)
	if err := env.Server.SetFault("ListScalingGroups", simcloud.Fault{ThrottleProbability: 1}); err != nil {
		t.Fatal(err)
	}
	throttled := 0
	checker := func(_ any, err error) bool {
		var se *sdkerr.ServiceResponseError
		if errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests {
			throttled++
			// The throttling passes: the retry must get through.
			_ = env.Server.SetFault("ListScalingGroups", simcloud.Fault{})
			return true
		}
		return false
	}
	resp, err := env.AS().ListScalingGroupsInvoker(&asmodel.ListScalingGroupsRequest{}).
		WithRetry(3, checker, retry.NewEqualJitter()).Invoke()
	if err != nil {
		t.Fatalf("the retry after a 429 must succeed: %v", err)
	}
	if throttled != 1 || *resp.(*asmodel.ListScalingGroupsResponse).TotalNumber != 1 {
		t.Fatalf("throttled %d times, answer %+v", throttled, resp)
	}
	reqs := env.Server.Registry()
	want := `
# HELP flexus_simcloud_requests_total Requests simcloud answered, by cloud service, API and HTTP status code.
# TYPE flexus_simcloud_requests_total counter
flexus_simcloud_requests_total{api="ListScalingGroups",code="200",service="as"} 1
flexus_simcloud_requests_total{api="ListScalingGroups",code="429",service="as"} 1
`
	if err := testutil.GatherAndCompare(reqs, strings.NewReader(want), "flexus_simcloud_requests_total"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultsFromConfigApplyToEveryAPI(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.Faults = map[string]simcloud.Fault{"*": {ErrorProbability: 1}, "ShowJob": {Latency: model.Duration(50 * time.Millisecond)}}
	env := simcloudtest.Start(t, cfg, clock.NewFake(time.Now()))
	_, err := env.ECS().ListServersDetails(&ecsmodel.ListServersDetailsRequest{})
	wantServiceError(t, err, 500, "SYS.5000")
	// A per-API fault replaces the "*" one: ShowJob is slow but answers.
	began := time.Now()
	_, err = env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: "nope"})
	wantServiceError(t, err, 404, "Ecs.0103")
	if took := time.Since(began); took < 50*time.Millisecond {
		t.Fatalf("ShowJob answered in %s despite 50ms of injected latency", took)
	}
}

// signed sends a request signed by the SDK's own signer, with a raw body the
// SDK would never produce.
func signed(t *testing.T, env *simcloudtest.Env, method, path, body string) (int, map[string]any) {
	t.Helper()
	b := request.NewHttpRequestBuilder().WithEndpoint(env.URL).WithPath(path).WithMethod(method).
		AddHeaderParam("Content-Type", "application/json").AddHeaderParam("X-Project-Id", simcloudtest.ProjectID)
	if body != "" {
		b = b.WithBody("body", body)
	}
	req := b.Build()
	headers, err := signer.Sign(req, simcloudtest.AccessKey, simcloudtest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(method, env.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.GetHeaderParams() {
		hr.Header.Set(k, v)
	}
	for k, v := range headers {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("answer is not JSON: %q", data)
		}
	}
	return resp.StatusCode, out
}

func TestBadInputGetsHuaweiShapedErrors(t *testing.T) {
	env, _ := start(t)
	p := "/V1.0/" + simcloudtest.ProjectID + "/batch-query-metric-data"
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed JSON is 400", "POST", p, `{"metrics": [`, 400, "ces.0014"},
		{"a wrong type is 400", "POST", p, `{"metrics": "cpu", "period": "1", "filter": "average", "from": 1, "to": 2}`, 400, "ces.0014"},
		{"a string where a number belongs is 400", "POST", p, `{"metrics": [], "period": "1", "filter": "average", "from": "yesterday", "to": 2}`, 400, "ces.0014"},
		{"an empty body is 400", "POST", p, ``, 400, "ces.0014"},
		{"an oversize body is 413", "POST", p, `{"pad": "` + strings.Repeat("x", 2<<20) + `"}`, 413, "APIGW.0201"},
		{"an unknown path is 404", "GET", "/V1.0/" + simcloudtest.ProjectID + "/no-such-api", ``, 404, "APIGW.0101"},
		{"a known path with another method is 404", "DELETE", p, ``, 404, "APIGW.0101"},
		{"malformed AS JSON is 400 in AS shape", "PUT", "/autoscaling-api/v1/" + simcloudtest.ProjectID + "/scaling_group/8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f", `{"desire_instance_number": "three"}`, 400, "AS.2019"},
		{"malformed ECS JSON is 400 in ECS shape", "POST", "/v1.1/" + simcloudtest.ProjectID + "/cloudservers", `[1, 2]`, 400, "Ecs.0005"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := signed(t, env, tc.method, tc.path, tc.body)
			code, _ := body["error_code"].(string)
			if nested, ok := body["error"].(map[string]any); ok {
				code, _ = nested["code"].(string)
			}
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %q (%v), want %d %q", status, code, body, tc.status, tc.code)
			}
		})
	}
}

func TestAdminEndpoints(t *testing.T) {
	env, clk := start(t)
	post := func(path, body string) int {
		resp, err := http.Post(env.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("/-/sim/demand", `{"group": "web", "multiplier": 4}`); s != 200 {
		t.Fatalf("demand multiplier: %d", s)
	}
	if s := post("/-/sim/demand", `{"group": "nope", "multiplier": 4}`); s != 404 {
		t.Fatalf("unknown group: %d, want 404", s)
	}
	if s := post("/-/sim/faults", `{"api": "ShowJob", "throttle_probability": 0.5, "latency": "10ms"}`); s != 200 {
		t.Fatalf("faults: %d", s)
	}
	if s := post("/-/sim/faults", `{"api": "NoSuchAPI", "throttle_probability": 0.5}`); s != 400 {
		t.Fatalf("fault of an unknown API: %d, want 400", s)
	}
	clk.Advance(time.Minute)
	resp, err := http.Get(env.URL + "/-/sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var state struct {
		Groups []world.GroupState        `json:"groups"`
		Faults map[string]simcloud.Fault `json:"faults"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatal(err)
	}
	web := state.Groups[1]
	if web.Name != "web" || web.DemandMultiplier != 4 || web.Demand != 240 || web.CostInstanceSeconds <= 0 {
		t.Fatalf("state of web after a 4x multiplier: %+v", web)
	}
	if state.Faults["ShowJob"].ThrottleProbability != 0.5 {
		t.Fatalf("faults in state: %+v", state.Faults)
	}
	app, err := http.Get(env.URL + "/-/sim/app/web/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Body.Close()
	text, _ := io.ReadAll(app.Body)
	for _, want := range []string{`flexus_simcloud_response_time_seconds{group="web"}`, `flexus_simcloud_error_ratio{group="web"}`, `flexus_simcloud_queue_length{group="web"}`} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("app metrics lack %s:\n%s", want, text)
		}
	}
	if problems, err := testutil.GatherAndLint(env.Server.Registry()); err != nil || len(problems) > 0 {
		t.Fatalf("simcloud's own metrics do not lint: %v %+v", err, problems)
	}
}

func TestCESClientFromSDKBuilder(t *testing.T) {
	// The CES client builder used by the SDK's own region helpers must also
	// work with a plain http endpoint.
	env, _ := start(t)
	c := ces.NewCesClient(env.HcClient(ces.CesClientBuilder(), simcloudtest.AccessKey, simcloudtest.SecretKey))
	if _, err := c.ListMetrics(&cesmodel.ListMetricsRequest{Limit: ptr(int32(1))}); err != nil {
		t.Fatal(err)
	}
}

func TestQueueAndLoadBalancerMetrics(t *testing.T) {
	env, clk := start(t)
	web, err := env.World.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	// Bring the world to the clock first: the spike starts now, not at its start.
	env.World.Advance(clk.Now())
	_ = env.World.SetDemandMultiplier("web", 5)
	clk.Advance(5 * time.Minute)
	dim := func(pairs ...string) []cesmodel.MetricsDimension {
		var out []cesmodel.MetricsDimension
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, cesmodel.MetricsDimension{Name: pairs[i], Value: pairs[i+1]})
		}
		return out
	}
	metrics := []cesmodel.MetricInfo{
		{Namespace: "SYS.DMS", MetricName: "group_msgs", Dimensions: dim("kafka_instance_id", web.KafkaInstanceID)},
		{Namespace: "SYS.DMS", MetricName: "messages_ready", Dimensions: dim("rabbitmq_instance_id", web.RabbitMQInstanceID)},
		{Namespace: "SYS.ELB", MetricName: "m14_l7_rt", Dimensions: dim("lbaas_instance_id", web.ELBID)},
		{Namespace: "SYS.ELB", MetricName: "mb_l7_qps", Dimensions: dim("lbaas_instance_id", web.ELBID)},
		// Not on the DMS metric pages: a consumer-group or queue dimension names a series that does not exist.
		{Namespace: "SYS.DMS", MetricName: "group_msgs", Dimensions: dim("kafka_instance_id", web.KafkaInstanceID, "kafka_groups", web.ConsumerGroup)},
		{Namespace: "SYS.DMS", MetricName: "queue_messages", Dimensions: dim("rabbitmq_instance_id", web.RabbitMQInstanceID, "rabbitmq_queue", web.RabbitMQQueue)},
	}
	resp, err := env.CES().BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
		Metrics: metrics, Period: batchPeriod(t, "1"), Filter: filter(t, "average"),
		From: clk.Now().Add(-15 * time.Minute).UnixMilli(), To: clk.Now().UnixMilli(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	last := func(i int) float64 {
		dps := (*resp.Metrics)[i].Datapoints
		if len(dps) == 0 {
			t.Fatalf("%s has no datapoints", metrics[i].MetricName)
		}
		return *dps[len(dps)-1].Average
	}
	first := func(i int) float64 { return *(*resp.Metrics)[i].Datapoints[0].Average }
	// 5x demand on web (2 x 100 rps serve 300 rps offered): the backlog grows, latency follows.
	if first(0) != 0 || last(0) <= 0 || last(0) != last(1) {
		t.Fatalf("Kafka backlog %g -> %g, RabbitMQ %g: the queue must grow under overload", first(0), last(0), last(1))
	}
	if last(2) <= first(2) || *(*resp.Metrics)[2].Unit != "ms" {
		t.Fatalf("m14_l7_rt %g -> %g ms must rise under overload", first(2), last(2))
	}
	if last(3) != 300 {
		t.Fatalf("mb_l7_qps %g, want the 300 rps offered", last(3))
	}
	for _, i := range []int{4, 5} {
		if n := len((*resp.Metrics)[i].Datapoints); n != 0 {
			t.Fatalf("%s %v: %d datapoints, want none", metrics[i].MetricName, metrics[i].Dimensions, n)
		}
	}
}

func TestAgentDiskUsageNeedsItsMountPoint(t *testing.T) {
	env, clk := start(t)
	id := instanceIDs(t, env, "web")[0]
	dims, err := env.CESv2().ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: id, DimName: cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().MOUNT_POINT})
	if err != nil {
		t.Fatal(err)
	}
	root := *(*dims.Dimensions)[0].Value
	disk := func(dims ...cesmodel.MetricsDimension) cesmodel.MetricInfo {
		return cesmodel.MetricInfo{Namespace: "AGT.ECS", MetricName: "disk_usedPercent", Dimensions: dims}
	}
	inst := cesmodel.MetricsDimension{Name: "instance_id", Value: id}
	resp, err := env.CES().BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
		Metrics: []cesmodel.MetricInfo{disk(inst), disk(inst, cesmodel.MetricsDimension{Name: "mount_point", Value: root})},
		Period:  batchPeriod(t, "1"), Filter: filter(t, "average"), From: clk.Now().Add(-10 * time.Minute).UnixMilli(), To: clk.Now().UnixMilli(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len((*resp.Metrics)[0].Datapoints); n != 0 {
		t.Fatalf("disk_usedPercent by instance_id alone: %d datapoints, want none", n)
	}
	if n := len((*resp.Metrics)[1].Datapoints); n == 0 {
		t.Fatal("disk_usedPercent by instance_id and the mount point's hash has no datapoints")
	}
}

func TestConcurrentClientsWhileTheWorldRuns(t *testing.T) {
	env, clk := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go env.Server.Run(ctx, time.Millisecond)
	groups, err := env.AS().ListScalingGroups(&asmodel.ListScalingGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := *(*groups.ScalingGroups)[0].ScalingGroupId
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asc, ecsc := env.AS(), env.ECS()
			for i := 0; i < 10; i++ {
				clk.Advance(time.Second)
				var err error
				switch i % 3 {
				case 0:
					_, err = asc.UpdateScalingGroup(&asmodel.UpdateScalingGroupRequest{ScalingGroupId: id, Body: &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: ptr(int32(1 + (g+i)%10))}})
				case 1:
					_, err = ecsc.ListServersDetails(&ecsmodel.ListServersDetailsRequest{})
				default:
					_, err = asc.ListScalingActivityLogs(&asmodel.ListScalingActivityLogsRequest{ScalingGroupId: id,
						StartTime: ptr(clk.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z")), EndTime: ptr(clk.Now().UTC().Format("2006-01-02T15:04:05Z"))})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, _ := env.World.Group("gpu-pool")
	if st.Current != st.Desired {
		t.Fatalf("after concurrent updates AS holds %d instances for a desired %d", st.Current, st.Desired)
	}
}

// TestArbitraryBodiesNeverBreakTheServer sends signed requests with random
// bodies to every API that reads one: each answer is a 2xx or a 4xx in a
// Huawei error shape, never a 5xx.
func TestArbitraryBodiesNeverBreakTheServer(t *testing.T) {
	env, _ := start(t)
	p := simcloudtest.ProjectID
	targets := []struct{ method, path string }{
		{"POST", "/V1.0/" + p + "/batch-query-metric-data"},
		{"PUT", "/autoscaling-api/v1/" + p + "/scaling_group/8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f"},
		{"POST", "/autoscaling-api/v1/" + p + "/scaling_group_instance/8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f/action"},
		{"POST", "/v1.1/" + p + "/cloudservers"},
		{"POST", "/v1/" + p + "/cloudservers/delete"},
	}
	fragments := []string{`{`, `}`, `[`, `]`, `"metrics"`, `"server"`, `"servers"`, `"instances_id"`, `"desire_instance_number"`,
		`:`, `,`, `null`, `-1`, `1e309`, `"x"`, `true`, `{"id":""}`, `"period"`, `"1"`, `"filter"`, `"action"`, `"REMOVE"`, "\x00", `"\u0000"`}
	rapid.Check(t, func(rt *rapid.T) {
		target := rapid.SampledFrom(targets).Draw(rt, "target")
		parts := rapid.SliceOfN(rapid.SampledFrom(fragments), 0, 12).Draw(rt, "body")
		status, body := signed(t, env, target.method, target.path, strings.Join(parts, ""))
		if status >= 500 {
			rt.Fatalf("%s %s with %q: %d %v", target.method, target.path, strings.Join(parts, ""), status, body)
		}
		if status >= 400 && body["error_code"] == nil && body["error"] == nil {
			rt.Fatalf("%d without a Huawei error body: %v", status, body)
		}
	})
}
