package collector

import (
	"errors"
	"sync"
	"time"

	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	cesv2model "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2/model"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// fakeCloud is a hand-written fake below the hwcloud interfaces, for unit
// tests only: the end-to-end tests use simcloud with the real SDK.
type fakeCloud struct {
	mu sync.Mutex
	// as groups: id → instances (id → lifecycle state)
	asInstances map[string]map[string]string
	asDesired   map[string]int
	// values: series key → (value, timestamp)
	values map[seriesKey]point
	// devices: instance → dim → hash → origin
	devices map[string]map[string]map[string]string
	// down makes every CES call fail.
	down  bool
	calls map[string]int
}

func newFakeCloud() *fakeCloud {
	return &fakeCloud{
		asInstances: map[string]map[string]string{},
		asDesired:   map[string]int{},
		values:      map[seriesKey]point{},
		devices:     map[string]map[string]map[string]string{},
		calls:       map[string]int{},
	}
}

func (f *fakeCloud) clients() *hwcloud.Clients {
	return &hwcloud.Clients{CES: fakeCES{f}, AS: fakeAS{f}, ECS: fakeECS{f}, ProjectID: "p"}
}

func (f *fakeCloud) count(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[api]
}

func (f *fakeCloud) set(k seriesKey, v float64, at time.Time) {
	f.mu.Lock()
	f.values[k] = point{value: v, at: at}
	f.mu.Unlock()
}

var errDown = errors.New("fake: 503 service unavailable")

type fakeCES struct{ f *fakeCloud }

func (c fakeCES) BatchListMetricData(req *cesmodel.BatchListMetricDataRequest) (*cesmodel.BatchListMetricDataResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["BatchListMetricData"]++
	if f.down {
		return nil, errDown
	}
	var out []cesmodel.BatchMetricData
	for _, m := range req.Body.Metrics {
		k := keyOf(m.Namespace, m.MetricName, m.Dimensions...)
		ns := m.Namespace
		var dims []cesmodel.MetricsDimensionResp
		for _, d := range m.Dimensions {
			dims = append(dims, cesmodel.MetricsDimensionResp{Name: &d.Name, Value: &d.Value})
		}
		md := cesmodel.BatchMetricData{Namespace: &ns, MetricName: m.MetricName, Dimensions: &dims, Datapoints: []cesmodel.DatapointForBatchMetric{}}
		if p, ok := f.values[k]; ok {
			ts := p.at.UnixMilli()
			if ts >= req.Body.From && ts <= req.Body.To {
				v := p.value
				md.Datapoints = append(md.Datapoints, cesmodel.DatapointForBatchMetric{Average: &v, Timestamp: ts})
			}
		}
		out = append(out, md)
	}
	return &cesmodel.BatchListMetricDataResponse{Metrics: &out}, nil
}

func (c fakeCES) ShowMetricData(*cesmodel.ShowMetricDataRequest) (*cesmodel.ShowMetricDataResponse, error) {
	return nil, errors.New("fake: not implemented")
}

func (c fakeCES) ListMetrics(req *cesmodel.ListMetricsRequest) (*cesmodel.ListMetricsResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListMetrics"]++
	if f.down {
		return nil, errDown
	}
	dim := dimGPU
	if *req.MetricName == "npu_util_rate_ai_core" {
		dim = dimNPU
	}
	var out []cesmodel.MetricInfoList
	for inst, kinds := range f.devices {
		for hash := range kinds[dim] {
			n1, v1, n2, v2 := dimInst, inst, dim, hash
			out = append(out, cesmodel.MetricInfoList{Namespace: nsAGTECS, MetricName: *req.MetricName,
				Dimensions: []cesmodel.MetricsDimensionResp{{Name: &n1, Value: &v1}, {Name: &n2, Value: &v2}}})
		}
	}
	return &cesmodel.ListMetricsResponse{Metrics: &out, MetaData: &cesmodel.MetricListMetaDataResp{Count: int32(len(out)), Total: int32(len(out))}}, nil
}

func (c fakeCES) ListAgentDimensionInfo(req *cesv2model.ListAgentDimensionInfoRequest) (*cesv2model.ListAgentDimensionInfoResponse, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListAgentDimensionInfo"]++
	if f.down {
		return nil, errDown
	}
	var out []cesv2model.AgentDimension
	for hash, origin := range f.devices[req.InstanceId][req.DimName.Value()] {
		h, o := hash, origin
		out = append(out, cesv2model.AgentDimension{Value: &h, OriginValue: &o})
	}
	return &cesv2model.ListAgentDimensionInfoResponse{Dimensions: &out}, nil
}

type fakeAS struct{ f *fakeCloud }

func (a fakeAS) ListScalingGroups(*asmodel.ListScalingGroupsRequest) (*asmodel.ListScalingGroupsResponse, error) {
	return nil, errors.New("fake: not implemented")
}

func (a fakeAS) ShowScalingGroup(req *asmodel.ShowScalingGroupRequest) (*asmodel.ShowScalingGroupResponse, error) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ShowScalingGroup"]++
	d := int32(f.asDesired[req.ScalingGroupId])
	lo, hi := int32(1), int32(50)
	return &asmodel.ShowScalingGroupResponse{ScalingGroup: &asmodel.ScalingGroups{DesireInstanceNumber: &d, MinInstanceNumber: &lo, MaxInstanceNumber: &hi}}, nil
}

func (a fakeAS) UpdateScalingGroup(*asmodel.UpdateScalingGroupRequest) (*asmodel.UpdateScalingGroupResponse, error) {
	return nil, errors.New("fake: not implemented")
}

func (a fakeAS) ListScalingInstances(req *asmodel.ListScalingInstancesRequest) (*asmodel.ListScalingInstancesResponse, error) {
	f := a.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["ListScalingInstances"]++
	var body []byte
	_ = body
	var all []asmodel.ScalingGroupInstance
	for id, state := range f.asInstances[req.ScalingGroupId] {
		var ls asmodel.ScalingGroupInstanceLifeCycleState
		_ = ls.UnmarshalJSON([]byte(`"` + state + `"`))
		i := id
		all = append(all, asmodel.ScalingGroupInstance{InstanceId: &i, LifeCycleState: &ls})
	}
	start := int(*req.StartNumber)
	end := min(start+int(*req.Limit), len(all))
	page := []asmodel.ScalingGroupInstance{}
	if start < len(all) {
		page = all[start:end]
	}
	total := int32(len(all))
	return &asmodel.ListScalingInstancesResponse{ScalingGroupInstances: &page, TotalNumber: &total}, nil
}

func (a fakeAS) BatchRemoveScalingInstances(*asmodel.BatchRemoveScalingInstancesRequest) (*asmodel.BatchRemoveScalingInstancesResponse, error) {
	return nil, errors.New("fake: not implemented")
}

func (a fakeAS) ListScalingActivityLogs(*asmodel.ListScalingActivityLogsRequest) (*asmodel.ListScalingActivityLogsResponse, error) {
	return nil, errors.New("fake: not implemented")
}

type fakeECS struct{ f *fakeCloud }

func (e fakeECS) CreateServers(*ecsmodel.CreateServersRequest) (*ecsmodel.CreateServersResponse, error) {
	return nil, errors.New("fake: not implemented")
}

func (e fakeECS) ListServersDetails(*ecsmodel.ListServersDetailsRequest) (*ecsmodel.ListServersDetailsResponse, error) {
	servers := []ecsmodel.ServerDetail{}
	n := int32(0)
	return &ecsmodel.ListServersDetailsResponse{Servers: &servers, Count: &n}, nil
}

func (e fakeECS) DeleteServers(*ecsmodel.DeleteServersRequest) (*ecsmodel.DeleteServersResponse, error) {
	return nil, errors.New("fake: not implemented")
}

func (e fakeECS) ShowJob(*ecsmodel.ShowJobRequest) (*ecsmodel.ShowJobResponse, error) {
	return nil, errors.New("fake: not implemented")
}
