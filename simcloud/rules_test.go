package simcloud_test

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	cesv2model "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2/model"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// enforcedRules reads the rule ids docs/cloud-api.md marks enforced.
func enforcedRules(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../docs/cloud-api.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ids []string
	inRules := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inRules = line == "## Rules"
			continue
		}
		cells := strings.Split(line, "|")
		if !inRules || len(cells) < 7 || strings.TrimSpace(cells[1]) == "id" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(cells[len(cells)-2]), "enforced") {
			ids = append(ids, strings.TrimSpace(cells[1]))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 {
		t.Fatal("docs/cloud-api.md: no enforced rule found under ## Rules")
	}
	return ids
}

// cpuMetric is SYS.ECS cpu_util of one instance.
func cpuMetric(id string) cesmodel.MetricInfo {
	return cesmodel.MetricInfo{Namespace: "SYS.ECS", MetricName: "cpu_util", Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: id}}}
}

// batch asks for the same metric n times over [to-window, to].
func batch(t *testing.T, env *simcloudtest.Env, m cesmodel.MetricInfo, n int, period string, to time.Time, window time.Duration) (*cesmodel.BatchListMetricDataResponse, error) {
	t.Helper()
	ms := make([]cesmodel.MetricInfo, n)
	for i := range ms {
		ms[i] = m
	}
	return env.CES().BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
		Metrics: ms, Period: batchPeriod(t, period), Filter: filter(t, "average"), From: to.Add(-window).UnixMilli(), To: to.UnixMilli(),
	}})
}

func points(resp *cesmodel.BatchListMetricDataResponse) (total, most int) {
	for _, m := range *resp.Metrics {
		total += len(m.Datapoints)
		most = max(most, len(m.Datapoints))
	}
	return total, most
}

func removeAction(t *testing.T) asmodel.BatchRemoveInstancesOptionAction {
	return *ptrEnum[asmodel.BatchRemoveInstancesOptionAction](t, "REMOVE")
}

// TestCloudRules checks, through the real SDK, every rule docs/cloud-api.md
// marks enforced: one case per rule id, named by it.
func TestCloudRules(t *testing.T) {
	const token = "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
	cases := map[string]func(t *testing.T){
		"ces-agent-dim-names": func(t *testing.T) {
			env, _ := start(t)
			id := instanceIDs(t, env, "gpu-pool")[0]
			for _, name := range []string{"mount_point", "disk", "proc", "gpu", "raid"} {
				if _, err := env.CESv2().ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: id, DimName: *ptrEnum[cesv2model.ListAgentDimensionInfoRequestDimName](t, name)}); err != nil {
					t.Fatalf("dim_name %s is documented: %v", name, err)
				}
			}
			_, err := env.CESv2().ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: id, DimName: *ptrEnum[cesv2model.ListAgentDimensionInfoRequestDimName](t, "npu")})
			wantServiceError(t, err, 400, "ces.0014")
		},
		"ces-agent-dim-limit": func(t *testing.T) {
			env, _ := start(t)
			id := instanceIDs(t, env, "gpu-pool")[0]
			for _, limit := range []int32{0, 1001} {
				_, err := env.CESv2().ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: id, DimName: cesv2model.GetListAgentDimensionInfoRequestDimNameEnum().GPU, Limit: ptr(limit)})
				wantServiceError(t, err, 400, "ces.0014")
			}
		},
		"ces-batch-metrics": func(t *testing.T) {
			env, clk := start(t)
			m := cpuMetric(instanceIDs(t, env, "web")[0])
			_, err := batch(t, env, m, 501, "300", clk.Now(), time.Minute)
			wantServiceError(t, err, 400, "ces.0014")
			_, err = batch(t, env, m, 0, "300", clk.Now(), time.Minute)
			wantServiceError(t, err, 400, "ces.0014")
			m.Dimensions = append(m.Dimensions, m.Dimensions[0], m.Dimensions[0], m.Dimensions[0], m.Dimensions[0])
			_, err = batch(t, env, m, 1, "300", clk.Now(), time.Minute)
			wantServiceError(t, err, 400, "ces.0014")
		},
		"ces-batch-3000": func(t *testing.T) {
			env, clk := start(t)
			clk.Advance(2 * time.Hour)
			m := cpuMetric(instanceIDs(t, env, "web")[0])
			one, err := batch(t, env, m, 1, "1", clk.Now(), 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, most := points(one); most < 100 {
				t.Fatalf("one metric over 2 h of raw data: %d points, want the whole window", most)
			}
			// 500 metrics x window / 60 s <= 3000: the window shrinks to 6 minutes.
			many, err := batch(t, env, m, 500, "1", clk.Now(), 2*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if total, most := points(many); total > simcloud.MaxBatchPoints || most > 6 || most == 0 {
				t.Fatalf("500 metrics over 2 h: %d points, %d for one metric; want at most 3000 and 6", total, most)
			}
		},
		"ces-batch-window": func(t *testing.T) {
			env, clk := start(t)
			clk.Advance(5 * time.Hour)
			resp, err := batch(t, env, cpuMetric(instanceIDs(t, env, "web")[0]), 1, "1", clk.Now(), 5*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			// The 3000-point rule would allow 50 h; period 1 serves 4 h at most.
			if _, most := points(resp); most > 240 || most < 230 {
				t.Fatalf("raw data over 5 h: %d points, want the last 4 h (240 minutes)", most)
			}
		},
		"ces-batch-rate": func(t *testing.T) {
			if simcloud.DefaultRateLimits["BatchListMetricData"] != 500 {
				t.Fatalf("BatchListMetricData allows 500 calls a minute by default, not %d", simcloud.DefaultRateLimits["BatchListMetricData"])
			}
			cfg := simcloudtest.Config()
			cfg.RateLimits = map[string]int{"BatchListMetricData": 3}
			clk := clock.NewFake(time.Now().UTC().Truncate(time.Minute))
			env := simcloudtest.Start(t, cfg, clk)
			m := cpuMetric(instanceIDs(t, env, "web")[0])
			for i := 0; i < 3; i++ {
				if _, err := batch(t, env, m, 1, "1", clk.Now(), time.Minute); err != nil {
					t.Fatalf("call %d of 3 allowed: %v", i+1, err)
				}
			}
			_, err := batch(t, env, m, 1, "1", clk.Now(), time.Minute)
			wantServiceError(t, err, 429, "ces.0429")
			clk.Advance(time.Minute)
			if _, err := batch(t, env, m, 1, "1", clk.Now(), time.Minute); err != nil {
				t.Fatalf("a minute later the limit has room again: %v", err)
			}
		},
		"ces-batch-period": func(t *testing.T) {
			env, clk := start(t)
			m := cpuMetric(instanceIDs(t, env, "web")[0])
			_, err := batch(t, env, m, 1, "120", clk.Now(), time.Hour)
			wantServiceError(t, err, 400, "ces.0014")
			_, err = env.CES().BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
				Metrics: []cesmodel.MetricInfo{m}, Period: batchPeriod(t, "300"), Filter: filter(t, "median"), From: clk.Now().Add(-time.Hour).UnixMilli(), To: clk.Now().UnixMilli(),
			}})
			wantServiceError(t, err, 400, "ces.0014")
		},
		"ces-list-limit": func(t *testing.T) {
			env, _ := start(t)
			for _, limit := range []int32{0, 1001} {
				_, err := env.CES().ListMetrics(&cesmodel.ListMetricsRequest{Limit: ptr(limit)})
				wantServiceError(t, err, 400, "ces.0014")
			}
			_, err := env.CES().ListMetrics(&cesmodel.ListMetricsRequest{Order: ptrEnum[cesmodel.ListMetricsRequestOrder](t, "up")})
			wantServiceError(t, err, 400, "ces.0014")
		},
		"ces-list-marker": func(t *testing.T) {
			env, _ := start(t)
			all, err := env.CES().ListMetrics(&cesmodel.ListMetricsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			last := (*all.Metrics)[len(*all.Metrics)-1]
			want := last.Namespace + "." + last.MetricName
			for _, d := range last.Dimensions {
				want += "." + *d.Name + ":" + *d.Value
			}
			if all.MetaData.Marker != want {
				t.Fatalf("the last page carries its last entry as marker: got %q, want %q", all.MetaData.Marker, want)
			}
			after, err := env.CES().ListMetrics(&cesmodel.ListMetricsRequest{Start: ptr(all.MetaData.Marker)})
			if err != nil {
				t.Fatal(err)
			}
			if len(*after.Metrics) != 0 || after.MetaData.Marker != "" {
				t.Fatalf("past the end: %d metrics, marker %q; want none and no marker", len(*after.Metrics), after.MetaData.Marker)
			}
		},
		"ecs-token-uuid": func(t *testing.T) {
			env, _ := start(t)
			_, err := env.ECS().CreateServers(createRequest("token-1", 1))
			wantServiceError(t, err, 400, "Ecs.0123")
		},
		"ecs-token-reuse": func(t *testing.T) {
			env, _ := start(t)
			first, err := env.ECS().CreateServers(createRequest(token, 1))
			if err != nil {
				t.Fatal(err)
			}
			again, err := env.ECS().CreateServers(createRequest(token, 1))
			if err != nil || *again.JobId != *first.JobId {
				t.Fatalf("the same token and parameters answer the first job %s: %v, %v", *first.JobId, again, err)
			}
			_, err = env.ECS().CreateServers(createRequest(token, 2))
			wantServiceError(t, err, 400, "Ecs.0122")
		},
		"ecs-token-expiry": func(t *testing.T) {
			env, clk := start(t)
			if _, err := env.ECS().CreateServers(createRequest(token, 1)); err != nil {
				t.Fatal(err)
			}
			clk.Advance(8 * time.Hour)
			_, err := env.ECS().CreateServers(createRequest(token, 1))
			wantServiceError(t, err, 400, "Ecs.0124")
		},
		"ecs-create-name": func(t *testing.T) {
			env, _ := start(t)
			for _, tc := range []struct {
				name  string
				count int32
			}{{strings.Repeat("a", 65), 1}, {strings.Repeat("a", 60), 2}, {"", 1}, {"web/1", 1}} {
				r := createRequest("", tc.count)
				r.Body.Server.Name = tc.name
				_, err := env.ECS().CreateServers(r)
				wantServiceError(t, err, 400, "Ecs.0005")
			}
			for _, tc := range []struct {
				name  string
				count int32
			}{{strings.Repeat("a", 64), 1}, {"网站-" + strings.Repeat("b", 56), 2}} {
				r := createRequest("", tc.count)
				r.Body.Server.Name = tc.name
				if _, err := env.ECS().CreateServers(r); err != nil {
					t.Fatalf("name of %d characters, count %d, is valid: %v", len([]rune(tc.name)), tc.count, err)
				}
			}
		},
		"ecs-create-count": func(t *testing.T) {
			env, _ := start(t)
			_, err := env.ECS().CreateServers(createRequest("", 101))
			wantServiceError(t, err, 400, "Ecs.0005")
		},
		"ecs-create-tags": func(t *testing.T) {
			env, _ := start(t)
			r := createRequest("", 1)
			tags := *r.Body.Server.ServerTags
			for i := 0; len(tags) <= 10; i++ {
				tags = append(tags, ecsmodel.PrePaidServerTag{Key: fmt.Sprintf("k%d", i), Value: "v"})
			}
			r.Body.Server.ServerTags = &tags
			_, err := env.ECS().CreateServers(r)
			wantServiceError(t, err, 400, "Ecs.0005")
		},
		"ecs-list-deleted": func(t *testing.T) {
			env, clk := start(t)
			victim := instanceIDs(t, env, "web")[0]
			if _, err := env.ECS().DeleteServers(&ecsmodel.DeleteServersRequest{Body: &ecsmodel.DeleteServersRequestBody{Servers: []ecsmodel.ServerId{{Id: victim}}}}); err != nil {
				t.Fatal(err)
			}
			clk.Advance(10 * time.Minute)
			for _, status := range []string{"", "DELETED"} {
				req := &ecsmodel.ListServersDetailsRequest{Limit: ptr(int32(1000))}
				if status != "" {
					req.Status = ptr(status)
				}
				resp, err := env.ECS().ListServersDetails(req)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range *resp.Servers {
					if s.Id == victim {
						t.Fatalf("status=%q lists the deleted server %s", status, victim)
					}
				}
			}
		},
		"ecs-list-paging": func(t *testing.T) {
			env, _ := start(t)
			for _, limit := range []int32{0, 1001} {
				_, err := env.ECS().ListServersDetails(&ecsmodel.ListServersDetailsRequest{Limit: ptr(limit)})
				wantServiceError(t, err, 400, "Ecs.0005")
			}
		},
		"ecs-job-end": func(t *testing.T) {
			env, clk := start(t)
			created, err := env.ECS().CreateServers(createRequest(token, 1))
			if err != nil {
				t.Fatal(err)
			}
			job, err := env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: *created.JobId})
			if err != nil {
				t.Fatal(err)
			}
			if job.Status.Value() != "RUNNING" || job.EndTime != nil && *job.EndTime != "" {
				t.Fatalf("while servers boot: status %s, end_time %v; want RUNNING and none", job.Status.Value(), job.EndTime)
			}
			clk.Advance(5 * time.Minute)
			job, _ = env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: *created.JobId})
			begin, _ := time.Parse(time.RFC3339, *job.BeginTime)
			end, err := time.Parse(time.RFC3339, *job.EndTime)
			if job.Status.Value() != "SUCCESS" || err != nil || !end.After(begin) || end.After(clk.Now()) {
				t.Fatalf("after boot: status %s, begin %s, end %v; want SUCCESS ending after it began", job.Status.Value(), *job.BeginTime, job.EndTime)
			}
		},
		"as-activity-doing": func(t *testing.T) {
			env, clk := start(t)
			id := "8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f"
			if _, err := env.AS().UpdateScalingGroup(&asmodel.UpdateScalingGroupRequest{ScalingGroupId: id, Body: &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: ptr(int32(4))}}); err != nil {
				t.Fatal(err)
			}
			newest := func() asmodel.ScalingActivityLogList {
				logs, err := env.AS().ListScalingActivityLogs(&asmodel.ListScalingActivityLogsRequest{ScalingGroupId: id, Limit: ptr(int32(1))})
				if err != nil {
					t.Fatal(err)
				}
				return (*logs.ScalingActivityLog)[0]
			}
			if l := newest(); l.Status.Value() != "DOING" || l.EndTime != nil {
				t.Fatalf("while instances boot the activity is DOING without end: %s %v", l.Status.Value(), l.EndTime)
			}
			clk.Advance(5 * time.Minute)
			l := newest()
			if l.Status.Value() != "SUCCESS" || l.EndTime == nil || !time.Time(*l.EndTime).After(time.Time(*l.StartTime)) {
				t.Fatalf("after boot: %s, start %v, end %v; want SUCCESS ending when the instances joined", l.Status.Value(), l.StartTime, l.EndTime)
			}
		},
		"as-remove-batch": func(t *testing.T) {
			env, clk := start(t)
			id := "8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f"
			remove := func(ids []string) error {
				_, err := env.AS().BatchRemoveScalingInstances(&asmodel.BatchRemoveScalingInstancesRequest{ScalingGroupId: id, Body: &asmodel.BatchRemoveInstancesOption{InstancesId: ids, Action: removeAction(t)}})
				return err
			}
			wantServiceError(t, remove(make([]string, 51)), 400, "AS.2019")
			old := instanceIDs(t, env, "gpu-pool")[0]
			if _, err := env.AS().UpdateScalingGroup(&asmodel.UpdateScalingGroupRequest{ScalingGroupId: id, Body: &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: ptr(int32(3))}}); err != nil {
				t.Fatal(err)
			}
			ids := instanceIDs(t, env, "gpu-pool")
			wantServiceError(t, remove([]string{ids[len(ids)-1]}), 400, "AS.2019") // still PENDING
			wantServiceError(t, remove([]string{old}), 400, "AS.2019")             // the scale-out is in progress
			clk.Advance(5 * time.Minute)
			if err := remove([]string{old}); err != nil {
				t.Fatalf("an INSERVICE instance with no activity in progress: %v", err)
			}
		},
		"as-page": func(t *testing.T) {
			env, _ := start(t)
			_, err := env.AS().ListScalingInstances(&asmodel.ListScalingInstancesRequest{ScalingGroupId: "8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f", Limit: ptr(int32(101))})
			wantServiceError(t, err, 400, "AS.2019")
		},
		"bss-products":           func(t *testing.T) { checkBSSProducts(t) },
		"bss-unknown-product":    func(t *testing.T) { checkBSSUnknownProduct(t) },
		"bss-global-credentials": func(t *testing.T) { checkBSSGlobalCredentials(t) },
		"ecs-spot-market":        func(t *testing.T) { checkSpotMarket(t) },
		"ecs-spot-price":         func(t *testing.T) { checkSpotPrice(t) },
		"ecs-spot-duration":      func(t *testing.T) { checkSpotDuration(t) },
		"ecs-spot-reclaim":       func(t *testing.T) { checkSpotReclaim(t) },
		"ecs-power-state":        func(t *testing.T) { checkPowerState(t) },
		"ecs-power-job":          func(t *testing.T) { checkPowerJob(t) },
		"ecs-stopped-billing":    func(t *testing.T) { checkStoppedBilling(t) },
	}
	documented := enforcedRules(t)
	for _, id := range documented {
		if cases[id] == nil {
			t.Errorf("docs/cloud-api.md marks %s enforced, but TestCloudRules has no case for it", id)
		}
	}
	var ids []string
	for id := range cases {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		found := false
		for _, d := range documented {
			found = found || d == id
		}
		if !found {
			t.Errorf("TestCloudRules checks %s, which docs/cloud-api.md does not mark enforced", id)
		}
		t.Run(id, cases[id])
	}
}
