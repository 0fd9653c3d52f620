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

// Job is an ECS asynchronous job (createServers, deleteServers).
type Job struct {
	ID        string
	Type      string
	Begin     time.Time
	ServerIDs []string
	token     string
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
// repeated client token returns the job of the first request and creates nothing.
func (w *World) CreateServers(req CreateServersRequest) (Job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if req.ClientToken != "" {
		if id, ok := w.tokens[req.ClientToken]; ok {
			if j, ok := w.jobs[id]; ok {
				return copyJob(j), nil
			}
		}
	}
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Count < 0 || req.Count > 500 {
		return Job{}, invalidf("count %d must be within 1..500", req.Count)
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
	if cur := g.current(); cur+req.Count > g.cfg.MaxInstances {
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
		w.tokens[req.ClientToken] = j.ID
	}
	return copyJob(j), nil
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
		if j.Type == "createServers" {
			done = in.Ready
		} else {
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
