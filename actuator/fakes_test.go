package actuator

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdktime"
	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// Hand-written fakes below the hwcloud interfaces, for unit tests only; the
// integration tests use simcloud through the real SDK.

func cloudErr(code int) error {
	return &sdkerr.ServiceResponseError{StatusCode: code, ErrorCode: "FAKE." + fmt.Sprint(code)}
}

// write is one write the fake cloud accepted.
type write struct {
	At   time.Time
	From int
	To   int
}

// fakeAS is one Auto Scaling group whose activities end at once.
type fakeAS struct {
	mu       sync.Mutex
	clock    clock.Clock
	desired  int
	min, max int
	status   string
	pending  int
	scaling  bool
	logs     []asmodel.ScalingActivityLogList
	updates  []write
	reads    int
	failShow []error
	failUpd  []error
	// applyThenFail makes the next update take effect and still answer this error (a lost answer).
	applyThenFail error
}

var _ hwcloud.AS = (*fakeAS)(nil)

func newFakeAS(c clock.Clock, desired, min, max int) *fakeAS {
	return &fakeAS{clock: c, desired: desired, min: min, max: max, status: "INSERVICE"}
}

func pop(errs *[]error) error {
	if len(*errs) == 0 {
		return nil
	}
	e := (*errs)[0]
	*errs = (*errs)[1:]
	return e
}

func (f *fakeAS) ShowScalingGroup(req *asmodel.ShowScalingGroupRequest) (*asmodel.ShowScalingGroupResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if err := pop(&f.failShow); err != nil {
		return nil, err
	}
	var st asmodel.ScalingGroupsScalingGroupStatus
	_ = st.UnmarshalJSON([]byte(`"` + f.status + `"`))
	d, mn, mx, cur := int32(f.desired), int32(f.min), int32(f.max), int32(f.desired)
	return &asmodel.ShowScalingGroupResponse{ScalingGroup: &asmodel.ScalingGroups{
		ScalingGroupId: &req.ScalingGroupId, ScalingGroupStatus: &st, DesireInstanceNumber: &d,
		MinInstanceNumber: &mn, MaxInstanceNumber: &mx, CurrentInstanceNumber: &cur, IsScaling: &f.scaling,
	}}, nil
}

func (f *fakeAS) UpdateScalingGroup(req *asmodel.UpdateScalingGroupRequest) (*asmodel.UpdateScalingGroupResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := pop(&f.failUpd); err != nil {
		return nil, err
	}
	to := int(*req.Body.DesireInstanceNumber)
	if to < f.min || to > f.max {
		return nil, &sdkerr.ServiceResponseError{StatusCode: 400, ErrorCode: "AS.2035", ErrorMessage: "desire out of bounds"}
	}
	now := f.clock.Now()
	f.updates = append(f.updates, write{At: now, From: f.desired, To: to})
	var st asmodel.ScalingActivityLogListStatus
	_ = st.UnmarshalJSON([]byte(`"SUCCESS"`))
	end := sdktime.SdkTime(now)
	dv, iv := int32(to), int32(f.desired)
	f.logs = append(f.logs, asmodel.ScalingActivityLogList{Status: &st, StartTime: &end, EndTime: &end, DesireValue: &dv, InstanceValue: &iv})
	f.desired = to
	if err := f.applyThenFail; err != nil {
		f.applyThenFail = nil
		return nil, err
	}
	return &asmodel.UpdateScalingGroupResponse{}, nil
}

func (f *fakeAS) ListScalingInstances(*asmodel.ListScalingInstancesRequest) (*asmodel.ListScalingInstancesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []asmodel.ScalingGroupInstance
	for i := 0; i < f.pending; i++ {
		var st asmodel.ScalingGroupInstanceLifeCycleState
		_ = st.UnmarshalJSON([]byte(`"PENDING"`))
		out = append(out, asmodel.ScalingGroupInstance{LifeCycleState: &st})
	}
	return &asmodel.ListScalingInstancesResponse{ScalingGroupInstances: &out}, nil
}

func (f *fakeAS) ListScalingActivityLogs(*asmodel.ListScalingActivityLogsRequest) (*asmodel.ListScalingActivityLogsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	logs := append([]asmodel.ScalingActivityLogList(nil), f.logs...)
	return &asmodel.ListScalingActivityLogsResponse{ScalingActivityLog: &logs}, nil
}

func (f *fakeAS) ListScalingGroups(*asmodel.ListScalingGroupsRequest) (*asmodel.ListScalingGroupsResponse, error) {
	return nil, fmt.Errorf("fakeAS: ListScalingGroups is not used by the actuator")
}

func (f *fakeAS) BatchRemoveScalingInstances(*asmodel.BatchRemoveScalingInstancesRequest) (*asmodel.BatchRemoveScalingInstancesResponse, error) {
	return nil, fmt.Errorf("fakeAS: BatchRemoveScalingInstances is not used by the actuator")
}

func (f *fakeAS) snapshot() (int, []write) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desired, append([]write(nil), f.updates...)
}

// fakeServer is one server of fakeECS.
type fakeServer struct {
	id      string
	tags    []string
	created time.Time
	status  string
}

// fakeECS holds servers; jobs finish at once unless failSubJobs says otherwise.
type fakeECS struct {
	mu      sync.Mutex
	clock   clock.Clock
	servers []*fakeServer
	seq     int
	tokens  map[string]string // client token -> job
	jobs    map[string]*ecsmodel.ShowJobResponse
	creates []*ecsmodel.CreateServersRequest
	deletes [][]string
	// failSubJobs makes that many servers of the next create fail.
	failSubJobs int
	failCreate  []error
}

var _ hwcloud.ECS = (*fakeECS)(nil)

func newFakeECS(c clock.Clock) *fakeECS {
	return &fakeECS{clock: c, tokens: map[string]string{}, jobs: map[string]*ecsmodel.ShowJobResponse{}}
}

func (f *fakeECS) add(tags []string, created time.Time) string {
	f.seq++
	id := fmt.Sprintf("srv-%03d", f.seq)
	f.servers = append(f.servers, &fakeServer{id: id, tags: tags, created: created, status: "ACTIVE"})
	return id
}

func (f *fakeECS) job(status string, subs []ecsmodel.SubJob) string {
	f.seq++
	id := fmt.Sprintf("job-%03d", f.seq)
	var st ecsmodel.ShowJobResponseStatus
	_ = st.UnmarshalJSON([]byte(`"` + status + `"`))
	f.jobs[id] = &ecsmodel.ShowJobResponse{JobId: &id, Status: &st, Entities: &ecsmodel.JobEntities{SubJobs: &subs}}
	return id
}

func subJob(server, status string) ecsmodel.SubJob {
	var st ecsmodel.SubJobStatus
	_ = st.UnmarshalJSON([]byte(`"` + status + `"`))
	s := server
	return ecsmodel.SubJob{Status: &st, Entities: &ecsmodel.SubJobEntities{ServerId: &s}}
}

func (f *fakeECS) CreateServers(req *ecsmodel.CreateServersRequest) (*ecsmodel.CreateServersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := pop(&f.failCreate); err != nil {
		return nil, err
	}
	if req.XClientToken != nil {
		if j, ok := f.tokens[*req.XClientToken]; ok {
			return &ecsmodel.CreateServersResponse{JobId: &j}, nil
		}
	}
	f.creates = append(f.creates, req)
	var tags []string
	for _, t := range *req.Body.Server.ServerTags {
		tags = append(tags, t.Key+"="+t.Value)
	}
	var subs []ecsmodel.SubJob
	var ids []string
	n := int(*req.Body.Server.Count)
	for i := 0; i < n; i++ {
		if i < f.failSubJobs {
			subs = append(subs, subJob("", "FAIL"))
			continue
		}
		id := f.add(tags, f.clock.Now())
		ids = append(ids, id)
		subs = append(subs, subJob(id, "SUCCESS"))
	}
	status := "SUCCESS"
	if f.failSubJobs > 0 {
		status = "FAIL"
		f.failSubJobs = 0
	}
	j := f.job(status, subs)
	if req.XClientToken != nil {
		f.tokens[*req.XClientToken] = j
	}
	return &ecsmodel.CreateServersResponse{JobId: &j, ServerIds: &ids}, nil
}

func (f *fakeECS) ListServersDetails(req *ecsmodel.ListServersDetailsRequest) (*ecsmodel.ListServersDetailsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ecsmodel.ServerDetail
	for _, s := range f.servers {
		if req.Tags != nil && !strings.Contains(","+strings.Join(s.tags, ",")+",", ","+*req.Tags+",") {
			continue
		}
		tags := append([]string(nil), s.tags...)
		out = append(out, ecsmodel.ServerDetail{Id: s.id, Status: s.status, Created: s.created.UTC().Format(time.RFC3339), Tags: &tags})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	limit, page := 1000, 1
	if req.Limit != nil {
		limit = int(*req.Limit)
	}
	if req.Offset != nil {
		page = int(*req.Offset)
	}
	lo := min((page-1)*limit, len(out))
	hi := min(lo+limit, len(out))
	out = out[lo:hi]
	return &ecsmodel.ListServersDetailsResponse{Servers: &out}, nil
}

func (f *fakeECS) DeleteServers(req *ecsmodel.DeleteServersRequest) (*ecsmodel.DeleteServersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	var subs []ecsmodel.SubJob
	for _, s := range req.Body.Servers {
		ids = append(ids, s.Id)
		for i, sv := range f.servers {
			if sv.id == s.Id {
				f.servers = append(f.servers[:i], f.servers[i+1:]...)
				break
			}
		}
		subs = append(subs, subJob(s.Id, "SUCCESS"))
	}
	f.deletes = append(f.deletes, ids)
	j := f.job("SUCCESS", subs)
	return &ecsmodel.DeleteServersResponse{JobId: &j}, nil
}

func (f *fakeECS) ShowJob(req *ecsmodel.ShowJobRequest) (*ecsmodel.ShowJobResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[req.JobId]
	if !ok {
		return nil, &sdkerr.ServiceResponseError{StatusCode: 404}
	}
	return j, nil
}

func (f *fakeECS) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.servers {
		out = append(out, s.id)
	}
	return out
}

var _ = config.ManagedTagKey
