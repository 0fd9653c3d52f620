package world

import (
	"fmt"
	"time"
)

// Job statuses, as ECS names them.
const (
	JobRunning = "RUNNING"
	JobSuccess = "SUCCESS"
)

// TokenValidity is how long ECS honours an X-Client-Token: after it the
// token is refused with Ecs.0124 (ECS API reference, "Idempotent Requests").
const TokenValidity = 8 * time.Hour

// MaxCreateCount is the most servers one CreateServers call may create
// (PrePaidServer.count in the SDK: "租户的配额足够时，最大值为100").
const MaxCreateCount = 100

// Job is an ECS asynchronous job (createServers, deleteServers).
type Job struct {
	ID        string
	Type      string
	Begin     time.Time
	ServerIDs []string
	token     string
}

// tokenUse is the first request made with an X-Client-Token.
type tokenUse struct {
	job string
	req CreateServersRequest
	at  time.Time
}

// JobStatus is a job as ShowJob reports it.
type JobStatus struct {
	Job
	Status string
	End    time.Time
}

// CreateServersRequest is what CreateServers needs from the ECS request.
type CreateServersRequest struct {
	// ClientToken makes the request idempotent: the same token returns the first job.
	ClientToken string
	Name        string
	Flavor      string
	Count       int
	Tags        []Tag
	Spot        bool
	ImageID     string
	VpcID       string
	Zone        string
}

// CreateServers creates servers in the ECS group whose tag they carry. A
// client token repeated with the same parameters within TokenValidity
// returns the job of the first request and creates nothing; with other
// parameters it is refused (KindTokenReused), and after TokenValidity it is
// refused too (KindTokenExpired), as ECS does.
func (w *World) CreateServers(req CreateServersRequest) (Job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if req.Count == 0 {
		req.Count = 1
	}
	if req.ClientToken != "" {
		if use, ok := w.tokens[req.ClientToken]; ok {
			switch {
			case w.now.Sub(use.at) >= TokenValidity:
				return Job{}, kindf(KindTokenExpired, "X-Client-Token %s was first used at %s and expired after %s: send a new token", req.ClientToken, use.at.UTC().Format(time.RFC3339), TokenValidity)
			case !sameCreate(use.req, req):
				return Job{}, kindf(KindTokenReused, "X-Client-Token %s was already used with other request parameters: a changed request needs a new token", req.ClientToken)
			}
			if j, ok := w.jobs[use.job]; ok {
				return copyJob(j), nil
			}
		}
	}
	if req.Count < 0 || req.Count > MaxCreateCount {
		return Job{}, invalidf("count %d must be within 1..%d", req.Count, MaxCreateCount)
	}
	if req.Name == "" {
		return Job{}, invalidf("name is empty")
	}
	if _, err := LookupFlavor(req.Flavor); err != nil {
		return Job{}, invalidf("flavorRef: %v", err)
	}
	var g *group
	for _, cand := range w.groups {
		if cand.cfg.ManagedBy != ManagedByECS {
			continue
		}
		for _, t := range req.Tags {
			if t == cand.cfg.Tag {
				g = cand
			}
		}
	}
	if g == nil {
		return Job{}, invalidf("server_tags must carry the tag of an ECS-managed group (e.g. %s)", w.ecsTagHint())
	}
	if cur := g.current() + g.pool(); cur+req.Count > g.cfg.MaxInstances {
		return Job{}, quotaf("group %q holds %d servers; %d more would exceed its quota of %d", g.cfg.Name, cur, req.Count, g.cfg.MaxInstances)
	}
	j := &Job{ID: w.jobID(), Type: "createServers", Begin: w.now, token: req.ClientToken}
	for i := 0; i < req.Count; i++ {
		name := req.Name
		if req.Count > 1 {
			name = fmt.Sprintf("%s-%04d", req.Name, i+1)
		}
		in := w.newInstance(g, name, req.Flavor, req.Spot, w.now, append([]Tag(nil), req.Tags...))
		if req.ImageID != "" {
			in.ImageID = req.ImageID
		}
		if req.VpcID != "" {
			in.VpcID = req.VpcID
		}
		if req.Zone != "" {
			in.Zone = req.Zone
		}
		j.ServerIDs = append(j.ServerIDs, in.ID)
	}
	w.addJob(j)
	if req.ClientToken != "" {
		w.tokens[req.ClientToken] = tokenUse{job: j.ID, req: req, at: w.now}
	}
	return copyJob(j), nil
}

// sameCreate tells whether two create requests ask for the same thing.
func sameCreate(a, b CreateServersRequest) bool {
	if len(a.Tags) != len(b.Tags) {
		return false
	}
	for i := range a.Tags {
		if a.Tags[i] != b.Tags[i] {
			return false
		}
	}
	return a.Name == b.Name && a.Flavor == b.Flavor && a.Count == b.Count && a.Spot == b.Spot &&
		a.ImageID == b.ImageID && a.VpcID == b.VpcID && a.Zone == b.Zone
}

func (w *World) ecsTagHint() string {
	for _, g := range w.groups {
		if g.cfg.ManagedBy == ManagedByECS {
			return g.cfg.Tag.Key + "=" + g.cfg.Tag.Value
		}
	}
	return "no ECS group is configured"
}

// DeleteServers starts removing servers, of any group. An AS group replaces
// the servers deleted under it, as real AS does with unhealthy instances.
func (w *World) DeleteServers(ids []string) (Job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(ids) == 0 || len(ids) > 1000 {
		return Job{}, invalidf("servers must list 1..1000 ids, not %d", len(ids))
	}
	var picked []*Instance
	for _, id := range ids {
		in, ok := w.byInst[id]
		if !ok || !in.Gone.IsZero() {
			return Job{}, notFoundf("server %q does not exist", id)
		}
		picked = append(picked, in)
	}
	j := &Job{ID: w.jobID(), Type: "deleteServers", Begin: w.now}
	for _, in := range picked {
		if in.Removing.IsZero() {
			in.Removing = w.now
		}
		j.ServerIDs = append(j.ServerIDs, in.ID)
	}
	w.addJob(j)
	return copyJob(j), nil
}

// ShowJob reports a job: RUNNING until its servers serve (create) or are gone (delete).
func (w *World) ShowJob(id string) (JobStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok := w.jobs[id]
	if !ok {
		return JobStatus{}, notFoundf("job %q does not exist", id)
	}
	st := JobStatus{Job: copyJob(j), Status: JobSuccess, End: j.Begin}
	for _, id := range j.ServerIDs {
		in, ok := w.byInst[id]
		if !ok {
			continue
		}
		var done time.Time
		switch j.Type {
		case "createServers":
			done = in.Ready
		case "startServers", "stopServers":
			done = powerDone(j, in)
		default:
			done = in.Removing.Add(in.g.cfg.RemoveDelay)
		}
		if done.After(w.now) {
			st.Status = JobRunning
			st.End = time.Time{}
		} else if st.Status == JobSuccess && done.After(st.End) {
			st.End = done
		}
	}
	return st, nil
}

// Instance returns a copy of a live or recently gone instance.
func (w *World) Instance(id string) (Instance, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	in, ok := w.byInst[id]
	if !ok {
		return Instance{}, notFoundf("instance %q does not exist", id)
	}
	return *in, nil
}

func (w *World) jobID() string {
	return "ff80808" + w.uuid()[:8] + w.uuid()[:8] + w.uuid()[:9]
}

func (w *World) addJob(j *Job) {
	w.jobs[j.ID] = j
	w.jobIDs = append(w.jobIDs, j.ID)
}

func copyJob(j *Job) Job {
	c := *j
	c.ServerIDs = append([]string(nil), j.ServerIDs...)
	return c
}
