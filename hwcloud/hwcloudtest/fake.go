// Package hwcloudtest is an in-memory cloud behind hwcloud's interfaces, for
// unit tests of every package. It keeps the state a test sets up and the
// writes it receives, and fails the calls a test asks it to. Integration
// tests use simcloud through the real SDK instead.
package hwcloudtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// HTTPError is the error the SDK returns for an answer with this status.
func HTTPError(status int) error {
	return &sdkerr.ServiceResponseError{StatusCode: status, ErrorCode: fmt.Sprintf("FAKE.%d", status), ErrorMessage: "injected by hwcloudtest"}
}

// Create is one server creation the fake accepted.
type Create struct {
	Spec  hwcloud.ServerSpec
	Token string
}

// Update is one SetDesired the fake accepted.
type Update struct {
	At       time.Time
	From, To int
}

// Fake is the cloud. API names (for Fail, Lose and Calls) are the SDK's:
// ShowScalingGroup, ListScalingInstances, ListScalingActivityLogs,
// UpdateScalingGroup, ListServersDetails, CreateServers, DeleteServers,
// ShowJob, BatchListMetricData, ListMetrics, ListAgentDimensionInfo.
type Fake struct {
	mu      sync.Mutex
	clock   clock.Clock
	groups  map[string]*group
	servers []hwcloud.Server
	seq     int
	tokens  map[string]hwcloud.Created
	jobs    map[string]hwcloud.Job
	points  map[string][]hwcloud.Point
	devices map[string]map[string]map[string]string // instance → dim → hash → device id
	fail    map[string][]error
	lose    map[string]error
	down    map[string]error // service → error
	calls   map[string]int
	creates []Create
	deletes [][]string
	// failSubJobs is how many servers of the next create fail.
	failSubJobs int
	// warmPools are the AS groups' warm pool sizes.
	warmPools map[string]int
}

type group struct {
	g          hwcloud.Group
	members    []hwcloud.Member
	activities []hwcloud.Activity
	updates    []Update
}

// New returns an empty cloud whose writes are stamped by clk.
func New(clk clock.Clock) *Fake {
	return &Fake{clock: clk, groups: map[string]*group{}, tokens: map[string]hwcloud.Created{}, jobs: map[string]hwcloud.Job{},
		points: map[string][]hwcloud.Point{}, devices: map[string]map[string]map[string]string{},
		fail: map[string][]error{}, lose: map[string]error{}, down: map[string]error{}, calls: map[string]int{}}
}

// Clients serves the fake as every service.
func (f *Fake) Clients() *hwcloud.Clients {
	return &hwcloud.Clients{CES: (*cloudEye)(f), AS: (*autoScaling)(f), ECS: (*servers)(f)}
}

var (
	_ hwcloud.AutoScaling = (*autoScaling)(nil)
	_ hwcloud.Servers     = (*servers)(nil)
	_ hwcloud.CloudEye    = (*cloudEye)(nil)
)

// Fail makes the next calls of api fail with errs, one each, in order.
func (f *Fake) Fail(api string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[api] = append(f.fail[api], errs...)
}

// Lose makes the next write of api take effect and still answer err: the
// answer was lost on its way back.
func (f *Fake) Lose(api string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lose[api] = err
}

// Down makes every call of service (hwcloud.ServiceCES, ...) fail with err
// until Down(service, nil).
func (f *Fake) Down(service string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[service] = err
}

// Calls is how many calls of api were made.
func (f *Fake) Calls(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[api]
}

// call counts a call and returns its injected failure, if any. f.mu is held.
func (f *Fake) call(ctx context.Context, service, api string) error {
	f.calls[api]++
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.down[service]; err != nil {
		return err
	}
	if errs := f.fail[api]; len(errs) > 0 {
		f.fail[api] = errs[1:]
		return errs[0]
	}
	return nil
}

// lost returns the lost-answer error of a write that took effect. f.mu is held.
func (f *Fake) lost(api string) error {
	err := f.lose[api]
	delete(f.lose, api)
	return err
}

// SetGroup creates or replaces a scaling group (its members are kept).
func (f *Fake) SetGroup(g hwcloud.Group) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := f.groups[g.ID]
	if gr == nil {
		gr = &group{}
		f.groups[g.ID] = gr
	}
	gr.g = g
}

// SetMember adds a member to a group, or sets its state when its id is known.
// Members with an empty id (servers AS is still creating) are always added.
func (f *Fake) SetMember(groupID string, m hwcloud.Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := f.groups[groupID]
	if gr == nil {
		gr = &group{g: hwcloud.Group{ID: groupID, Desired: -1, Current: -1, Min: -1, Max: -1}}
		f.groups[groupID] = gr
	}
	for i := range gr.members {
		if m.ID != "" && gr.members[i].ID == m.ID {
			gr.members[i] = m
			return
		}
	}
	gr.members = append(gr.members, m)
}

// RemoveMember takes an instance out of a group.
func (f *Fake) RemoveMember(groupID, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gr := f.groups[groupID]; gr != nil {
		for i := range gr.members {
			if gr.members[i].ID == id {
				gr.members = append(gr.members[:i], gr.members[i+1:]...)
				return
			}
		}
	}
}

// Desired returns a group's desired count and the updates it accepted.
func (f *Fake) Desired(groupID string) (int, []Update) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gr := f.groups[groupID]
	if gr == nil {
		return -1, nil
	}
	return gr.g.Desired, append([]Update(nil), gr.updates...)
}

// AddServer adds a server and returns its id (a fresh one when s.ID is empty).
func (f *Fake) AddServer(s hwcloud.Server) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addServer(s)
}

func (f *Fake) addServer(s hwcloud.Server) string {
	if s.ID == "" {
		f.seq++
		s.ID = fmt.Sprintf("srv-%03d", f.seq)
	}
	if s.Status == "" {
		s.Status = "ACTIVE"
	}
	f.servers = append(f.servers, s)
	return s.ID
}

// ServerIDs lists the servers, oldest first.
func (f *Fake) ServerIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.servers))
	for i, s := range f.servers {
		out[i] = s.ID
	}
	return out
}

// Creates are the server creations accepted, deduplicated ones left out.
func (f *Fake) Creates() []Create {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Create(nil), f.creates...)
}

// Deletes are the server ids of each accepted delete.
func (f *Fake) Deletes() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.deletes...)
}

// FailSubJobs makes n servers of the next create fail in its job.
func (f *Fake) FailSubJobs(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failSubJobs = n
}

// SetPoint publishes a datapoint of a metric.
func (f *Fake) SetPoint(m hwcloud.Metric, at time.Time, v float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(m)
	f.points[k] = append(f.points[k], hwcloud.Point{At: at, Value: v})
	sort.Slice(f.points[k], func(a, b int) bool { return f.points[k][a].At.Before(f.points[k][b].At) })
}

// SetDevices gives an instance devices of kind dim: hashed dimension value → device id.
func (f *Fake) SetDevices(instanceID, dim string, ids map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.devices[instanceID] == nil {
		f.devices[instanceID] = map[string]map[string]string{}
	}
	f.devices[instanceID][dim] = ids
}

func key(m hwcloud.Metric) string {
	dims := make([]string, len(m.Dims))
	for i, d := range m.Dims {
		dims[i] = d.Name + "=" + d.Value
	}
	sort.Strings(dims)
	return m.Namespace + "/" + m.Name + "/" + strings.Join(dims, ",")
}

type autoScaling Fake

func (a *autoScaling) group(ctx context.Context, api, id string) (*group, error) {
	f := (*Fake)(a)
	if err := f.call(ctx, hwcloud.ServiceAS, api); err != nil {
		return nil, err
	}
	gr := f.groups[id]
	if gr == nil {
		return nil, HTTPError(404)
	}
	return gr, nil
}

func (a *autoScaling) Group(ctx context.Context, id string) (hwcloud.Group, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	gr, err := a.group(ctx, "ShowScalingGroup", id)
	if err != nil {
		return hwcloud.Group{}, err
	}
	return gr.g, nil
}

func (a *autoScaling) Members(ctx context.Context, id string) ([]hwcloud.Member, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	gr, err := a.group(ctx, "ListScalingInstances", id)
	if err != nil {
		return nil, err
	}
	return append([]hwcloud.Member(nil), gr.members...), nil
}

func (a *autoScaling) Activities(ctx context.Context, id string, since time.Time, limit int) ([]hwcloud.Activity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	gr, err := a.group(ctx, "ListScalingActivityLogs", id)
	if err != nil {
		return nil, err
	}
	var out []hwcloud.Activity
	for i := len(gr.activities) - 1; i >= 0 && len(out) < limit; i-- {
		if act := gr.activities[i]; !act.Start.Before(since) {
			out = append(out, act)
		}
	}
	return out, nil
}

// SetDesired applies at once: the activity it starts ends as it begins.
func (a *autoScaling) SetDesired(ctx context.Context, id string, desired int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	gr, err := a.group(ctx, "UpdateScalingGroup", id)
	if err != nil {
		return err
	}
	if gr.g.Min >= 0 && desired < gr.g.Min || gr.g.Max >= 0 && desired > gr.g.Max {
		return &sdkerr.ServiceResponseError{StatusCode: 400, ErrorCode: "AS.2035", ErrorMessage: "desire out of bounds"}
	}
	now := a.clock.Now()
	gr.updates = append(gr.updates, Update{At: now, From: gr.g.Desired, To: desired})
	gr.activities = append(gr.activities, hwcloud.Activity{Status: "SUCCESS", Start: now, End: now, Desired: desired, Instances: gr.g.Desired})
	gr.g.Desired, gr.g.Current = desired, desired
	return (*Fake)(a).lost("UpdateScalingGroup")
}

type servers Fake

func (s *servers) Tagged(ctx context.Context, key, value string) ([]hwcloud.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := (*Fake)(s).call(ctx, hwcloud.ServiceECS, "ListServersDetails"); err != nil {
		return nil, err
	}
	var out []hwcloud.Server
	for _, sv := range s.servers {
		if sv.Tags[key] == value {
			out = append(out, sv)
		}
	}
	return out, nil
}

func (s *servers) Lookup(ctx context.Context, ids []string) (map[string]hwcloud.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := (*Fake)(s).call(ctx, hwcloud.ServiceECS, "ListServersDetails"); err != nil {
		return nil, err
	}
	out := map[string]hwcloud.Server{}
	for _, sv := range s.servers {
		for _, id := range ids {
			if sv.ID == id {
				out[id] = sv
			}
		}
	}
	return out, nil
}

// Create builds the servers at once; a resent token answers the first job.
func (s *servers) Create(ctx context.Context, spec hwcloud.ServerSpec, token string) (hwcloud.Created, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := (*Fake)(s)
	if err := f.call(ctx, hwcloud.ServiceECS, "CreateServers"); err != nil {
		return hwcloud.Created{}, err
	}
	if c, ok := f.tokens[token]; ok && token != "" {
		return c, nil
	}
	f.creates = append(f.creates, Create{Spec: spec, Token: token})
	tags := map[string]string{}
	for _, t := range spec.Tags {
		tags[t.Key] = t.Value
	}
	job := hwcloud.Job{Status: "SUCCESS"}
	var created hwcloud.Created
	for i := 0; i < spec.Count; i++ {
		if i < f.failSubJobs {
			job.Failed = append(job.Failed, "")
			continue
		}
		id := f.addServer(hwcloud.Server{Name: spec.NamePrefix, Flavor: spec.Flavor, Created: f.clock.Now(), Tags: tags})
		created.IDs = append(created.IDs, id)
		job.Succeeded = append(job.Succeeded, id)
	}
	if f.failSubJobs > 0 {
		job.Status, f.failSubJobs = "FAIL", 0
	}
	created.JobID = f.addJob(job)
	if token != "" {
		f.tokens[token] = created
	}
	return created, f.lost("CreateServers")
}

func (f *Fake) addJob(j hwcloud.Job) string {
	f.seq++
	j.ID = fmt.Sprintf("job-%03d", f.seq)
	f.jobs[j.ID] = j
	return j.ID
}

func (s *servers) Delete(ctx context.Context, ids []string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := (*Fake)(s)
	if err := f.call(ctx, hwcloud.ServiceECS, "DeleteServers"); err != nil {
		return "", err
	}
	job := hwcloud.Job{Status: "SUCCESS"}
	for _, id := range ids {
		for i, sv := range f.servers {
			if sv.ID == id {
				f.servers = append(f.servers[:i], f.servers[i+1:]...)
				break
			}
		}
		job.Succeeded = append(job.Succeeded, id)
	}
	f.deletes = append(f.deletes, append([]string(nil), ids...))
	return f.addJob(job), f.lost("DeleteServers")
}

func (s *servers) Job(ctx context.Context, id string) (hwcloud.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := (*Fake)(s).call(ctx, hwcloud.ServiceECS, "ShowJob"); err != nil {
		return hwcloud.Job{}, err
	}
	j, ok := s.jobs[id]
	if !ok {
		return hwcloud.Job{}, HTTPError(404)
	}
	return j, nil
}

type cloudEye Fake

// Series answers every metric, with the datapoints in [from, to].
func (c *cloudEye) Series(ctx context.Context, metrics []hwcloud.Metric, _ string, from, to time.Time) ([]hwcloud.Series, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := (*Fake)(c).call(ctx, hwcloud.ServiceCES, "BatchListMetricData"); err != nil {
		return nil, err
	}
	out := make([]hwcloud.Series, 0, len(metrics))
	for _, m := range metrics {
		s := hwcloud.Series{Metric: m}
		for _, p := range c.points[key(m)] {
			if !p.At.Before(from) && !p.At.After(to) {
				s.Points = append(s.Points, p)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Metrics lists the device metrics of SetDevices: name is published per
// device of the kind its name starts with (gpu_…, npu_…).
func (c *cloudEye) Metrics(ctx context.Context, namespace, name string) ([]hwcloud.Metric, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := (*Fake)(c).call(ctx, hwcloud.ServiceCES, "ListMetrics"); err != nil {
		return nil, err
	}
	dim, _, _ := strings.Cut(name, "_")
	var out []hwcloud.Metric
	for inst, kinds := range c.devices {
		for hash := range kinds[dim] {
			out = append(out, hwcloud.Metric{Namespace: namespace, Name: name,
				Dims: []hwcloud.Dim{{Name: "instance_id", Value: inst}, {Name: dim, Value: hash}}})
		}
	}
	return out, nil
}

func (c *cloudEye) AgentDimensions(ctx context.Context, instanceID, dim string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := (*Fake)(c).call(ctx, hwcloud.ServiceCES, "ListAgentDimensionInfo"); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for h, id := range c.devices[instanceID][dim] {
		out[h] = id
	}
	return out, nil
}

// Start and Stop set the servers' status at once (ACTIVE, SHUTOFF), as a
// job that already succeeded; a server in the wrong state refuses the whole
// request with 400 Ecs.1000, as ECS does.
func (s *servers) Start(ctx context.Context, ids []string) (string, error) {
	return s.power(ctx, "BatchStartServers", ids, "SHUTOFF", "ACTIVE")
}

func (s *servers) Stop(ctx context.Context, ids []string) (string, error) {
	return s.power(ctx, "BatchStopServers", ids, "ACTIVE", "SHUTOFF")
}

func (s *servers) power(ctx context.Context, api string, ids []string, need, to string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := (*Fake)(s)
	if err := f.call(ctx, hwcloud.ServiceECS, api); err != nil {
		return "", err
	}
	var picked []int
	for _, id := range ids {
		for i, sv := range f.servers {
			if sv.ID == id {
				if sv.Status != need {
					return "", &sdkerr.ServiceResponseError{StatusCode: 400, ErrorCode: "Ecs.1000", ErrorMessage: "server " + id + " is " + sv.Status}
				}
				picked = append(picked, i)
			}
		}
	}
	job := hwcloud.Job{Status: "SUCCESS"}
	for _, i := range picked {
		f.servers[i].Status = to
		job.Succeeded = append(job.Succeeded, f.servers[i].ID)
	}
	return f.addJob(job), f.lost(api)
}

// WarmPool and PutWarmPool keep a group's AS warm pool size.
func (a *autoScaling) WarmPool(ctx context.Context, id string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := (*Fake)(a).call(ctx, hwcloud.ServiceAS, "ShowWarmPool"); err != nil {
		return 0, err
	}
	return a.warmPools[id], nil
}

func (a *autoScaling) PutWarmPool(ctx context.Context, id string, size int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := (*Fake)(a).call(ctx, hwcloud.ServiceAS, "PutWarmPool"); err != nil {
		return err
	}
	if a.warmPools == nil {
		a.warmPools = map[string]int{}
	}
	a.warmPools[id] = size
	return (*Fake)(a).lost("PutWarmPool")
}
