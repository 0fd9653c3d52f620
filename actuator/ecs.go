package actuator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// ECSScaler manages a group's Flexus X servers directly: it creates them from
// the group's ecs: template and deletes them by its termination policy. It
// only ever deletes servers carrying config.ManagedTagKey=true.
type ECSScaler struct {
	Client hwcloud.Servers
	// Sleep waits between ShowJob polls; tests pass one that does not sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// PollInterval and MaxPolls bound how long a job is followed (defaults
	// 2s and 90); the actuator's job_timeout bounds it too.
	PollInterval time.Duration
	MaxPolls     int

	// deletions are the delete jobs of each group: a scale-in ends when its
	// job does, and ECS never lists deleted servers, so the job is the only
	// place the cloud shows that end.
	mu        sync.Mutex
	deletions map[string]*deletion
}

// deletion is a group's newest delete job and, once ShowJob says, its end.
type deletion struct {
	job string
	end time.Time
}

var _ Scaler = (*ECSScaler)(nil)

// SleepContext waits d or until ctx ends; it is the real Sleep.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// gone reports servers that no longer count: deleted, or on their way out.
func gone(s hwcloud.Server) bool {
	return s.Status == "DELETED" || s.Status == "SOFT_DELETED" || strings.HasPrefix(strings.ToLower(s.Task), "deleting")
}

func managed(s hwcloud.Server) bool { return s.Tags[config.ManagedTagKey] == "true" }

// list returns the servers carrying the group's discovery tag.
func (s *ECSScaler) list(ctx context.Context, g *config.Group) ([]hwcloud.Server, error) {
	tag := g.Discovery.Tag
	out, err := s.Client.Tagged(ctx, tag.Key, tag.Value)
	if err != nil {
		return nil, fmt.Errorf("ecs: listing servers of group %q (tag %s=%s): %w", g.Name, tag.Key, tag.Value, err)
	}
	return out, nil
}

// State counts the group's live servers. The scale-out cooldown runs from
// the newest managed server's launch; the scale-in cooldown from the end of
// the group's last delete job (ShowJob end_time), since ECS does not list
// deleted servers to anyone but administrators (docs/cloud-api.md,
// ecs-list-deleted). Servers being built or deleted are an activity in
// progress.
func (s *ECSScaler) State(ctx context.Context, g *config.Group, now time.Time) (CloudState, error) {
	servers, err := s.list(ctx, g)
	if err != nil {
		return CloudState{}, err
	}
	cs := CloudState{InService: true, Status: "ACTIVE"}
	cs.LastInEnd = s.deletionEnd(ctx, g.Name)
	for _, sv := range servers {
		cs.Current++
		if inPool(sv, &cs) {
			continue // stopped in the warm pool (pool.go)
		}
		if gone(sv) {
			if sv.Status != "DELETED" && sv.Status != "SOFT_DELETED" && cs.Activity == ActivityNone {
				cs.Activity = ActivityIn
			}
			continue
		}
		cs.Desired++
		// A scale-out ends when its newest server came up (launched_at), or
		// at its creation when the API does not say.
		if end := later(sv.Created, sv.Launched); managed(sv) && end.After(cs.LastOutEnd) && !end.After(now) {
			cs.LastOutEnd = end
		}
		switch {
		case sv.Status == "BUILD" || starting(sv):
			cs.Booting++
			cs.Activity = ActivityOut
		case !sv.Created.IsZero() && now.Sub(sv.Created) < g.Scaling.BootTime:
			cs.Booting++
		}
	}
	return cs, nil
}

// deletionEnd is when the group's last delete job ended, asking ShowJob
// while it has not been seen to end; zero when unknown.
func (s *ECSScaler) deletionEnd(ctx context.Context, group string) time.Time {
	s.mu.Lock()
	d := s.deletions[group]
	s.mu.Unlock()
	if d == nil {
		return time.Time{}
	}
	if d.end.IsZero() {
		job, err := s.Client.Job(ctx, d.job)
		if err != nil || !job.Done() {
			return time.Time{} // still deleting: the servers in the list say so
		}
		s.noteDeletion(group, d.job, job.End)
		return job.End
	}
	return d.end
}

// endDeletion records the end of the group's newest delete job, if job is it.
func (s *ECSScaler) endDeletion(group, job string, end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.deletions[group]; d != nil && d.job == job && d.end.IsZero() {
		d.end = end
	}
}

func (s *ECSScaler) noteDeletion(group, job string, end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deletions == nil {
		s.deletions = map[string]*deletion{}
	}
	s.deletions[group] = &deletion{job: job, end: end}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// SetDesired creates or deletes servers to go from cur.Desired to desired.
// It returns once the cloud accepted the request; its job is followed in the
// background (FollowJob), so no group's lock waits on ECS.
func (s *ECSScaler) SetDesired(ctx context.Context, g *config.Group, cur CloudState, desired int, token string) (Result, error) {
	switch {
	case desired > cur.Desired:
		return s.scaleOut(ctx, g, cur, desired-cur.Desired, token)
	case desired < cur.Desired:
		return s.remove(ctx, g, cur.Desired-desired, cur.Desired, g.PoolSize()-cur.Pooled)
	}
	return Result{Desired: desired}, nil
}

func (s *ECSScaler) create(ctx context.Context, g *config.Group, n, from int, token string) (Result, error) {
	t := g.ECS
	if t == nil {
		return Result{Desired: from}, fmt.Errorf("ecs: group %q has no ecs: template to create servers from", g.Name)
	}
	spec := hwcloud.ServerSpec{
		Count: n, NamePrefix: t.NamePrefix, ImageID: t.ImageID, Flavor: t.Flavor,
		VPCID: t.VPCID, SubnetID: t.SubnetID, SecurityGroupID: t.SecurityGroupID, AvailabilityZone: t.AvailabilityZone,
		RootVolumeType: t.RootVolumeType, RootVolumeGB: t.RootVolumeSizeGB,
		Tags: []hwcloud.Tag{{Key: config.ManagedTagKey, Value: "true"}, {Key: g.Discovery.Tag.Key, Value: g.Discovery.Tag.Value}},
	}
	keys := make([]string, 0, len(t.Tags))
	for k := range t.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != config.ManagedTagKey && k != g.Discovery.Tag.Key {
			spec.Tags = append(spec.Tags, hwcloud.Tag{Key: k, Value: t.Tags[k]})
		}
	}
	// Servers above the group's on-demand base are spot (spot.go).
	split, err := s.splitMarkets(ctx, g, n)
	if err != nil {
		return Result{Desired: from}, err
	}
	// ECS creates at most 100 servers a call: a larger step is several calls.
	res := Result{Desired: from}
	for done := 0; done < n; {
		var room int
		spec.Spot, spec.SpotPrice, room = split.at(done)
		spec.Count = min(n-done, hwcloud.MaxServersPerCreate, room)
		part, err := s.createOnce(ctx, g, spec, createToken(token, spec, from+done))
		res.Added = append(res.Added, part.Added...)
		res.Failed = append(res.Failed, part.Failed...)
		if part.JobID != "" {
			res.JobID = strings.TrimPrefix(res.JobID+","+part.JobID, ",")
		}
		res.Detail = strings.TrimSpace(res.Detail + " " + part.Detail)
		res.Desired += part.Desired
		if err != nil {
			return res, fmt.Errorf("ecs: creating %d servers for group %q: %w", n, g.Name, err)
		}
		if part.Partial {
			res.Partial = true
			res.Detail = strings.TrimSpace(res.Detail + fmt.Sprintf(" created %d of %d servers", res.Desired-from, n))
			return res, nil
		}
		done += spec.Count
	}
	return res, nil
}

// createToken is the X-Client-Token of one CreateServers call. It is
// derived from the decision's token and from what the call asks for (the
// count it starts from and the template): a retry of the same call after an
// ambiguous answer sends the same token and ECS answers the first job
// instead of creating twice; a retry that re-read the group and decided
// again asks for something else, under a new token, where reusing the old
// one would be refused with Ecs.0122 (docs/cloud-api.md, ecs-token-reuse).
func createToken(token string, spec hwcloud.ServerSpec, from int) string {
	if token == "" {
		return ""
	}
	return ClientToken(fmt.Sprintf("%s\x00%d\x00%+v", token, from, spec))
}

// createOnce makes one CreateServers call of at most 100 servers and follows
// its job. Result.Desired is the count of servers it added (or is adding).
// An expired token (Ecs.0124: the same call was made more than 8 hours ago
// and nothing it did is in the group any more) is renewed once.
func (s *ECSScaler) createOnce(ctx context.Context, g *config.Group, spec hwcloud.ServerSpec, token string) (Result, error) {
	n := spec.Count
	created, err := s.Client.Create(ctx, spec, token)
	if hwcloud.ErrorCode(err) == "Ecs.0124" {
		created, err = s.Client.Create(ctx, spec, ClientToken(token+"\x00renewed"))
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Desired: n, Added: created.IDs, JobID: created.JobID}
	if created.JobID == "" {
		return res, nil
	}
	res.JobID = created.JobID
	return res, nil // the job is followed in the background (FollowJob)
}

// remove takes n servers out: the first poolRoom of them are stopped into
// the warm pool, the others deleted.
func (s *ECSScaler) remove(ctx context.Context, g *config.Group, n, from, poolRoom int) (Result, error) {
	servers, err := s.list(ctx, g)
	if err != nil {
		return Result{Desired: from}, err
	}
	var cands []hwcloud.Server
	for _, sv := range servers {
		if managed(sv) && !gone(sv) && !pooled(sv) {
			cands = append(cands, sv)
		}
	}
	oldestFirst := g.ECS != nil && g.ECS.TerminationPolicy == "oldest"
	sort.SliceStable(cands, func(i, j int) bool {
		if first, ok := spotFirst(g, cands[i], cands[j]); ok {
			return first
		}
		if !cands[i].Created.Equal(cands[j].Created) {
			if oldestFirst {
				return cands[i].Created.Before(cands[j].Created)
			}
			return cands[i].Created.After(cands[j].Created)
		}
		return cands[i].ID < cands[j].ID
	})
	res := Result{Desired: from}
	if len(cands) == 0 {
		res.Partial = n > 0
		res.Detail = fmt.Sprintf("no managed server to delete (%d asked): servers without the %s=true tag are never touched", n, config.ManagedTagKey)
		return res, nil
	}
	if len(cands) > n {
		cands = cands[:n]
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.ID
	}
	done, jobID, last, err := s.retire(ctx, poolRoom, cands)
	res.Removed, res.JobID = done, jobID
	res.Desired = from - len(done)
	if err != nil {
		return res, fmt.Errorf("ecs: taking %d servers out of group %q: %w", len(names), g.Name, err)
	}
	if len(names) < n {
		res.Partial = true
		res.Detail = fmt.Sprintf("deleted %d of %d: only %d managed servers left", len(names), n, len(names))
	}
	if jobID == "" {
		return res, nil
	}
	// The scale-in cooldown runs from this job's end: State asks ShowJob for
	// it, and FollowJob records it once the job ends.
	s.noteDeletion(g.Name, last, time.Time{})
	return res, nil // the job is followed in the background (FollowJob)
}

// follow polls ShowJob until it ends or the bound is reached, and returns
// the servers its sub-jobs succeeded and failed for, and when it ended.
func (s *ECSScaler) follow(ctx context.Context, jobID string) (ok, failed []string, ended time.Time, done bool, err error) {
	interval, polls := s.PollInterval, s.MaxPolls
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if polls <= 0 {
		polls = 90
	}
	sleep := s.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	for i := 0; i < polls; i++ {
		if i > 0 {
			if err := sleep(ctx, interval); err != nil {
				return nil, nil, time.Time{}, false, err
			}
		}
		job, err := s.Client.Job(ctx, jobID)
		if err != nil {
			if hwcloud.Retryable(err) && ctx.Err() == nil {
				continue
			}
			return nil, nil, time.Time{}, false, err
		}
		if !job.Done() {
			continue
		}
		if job.Status == "FAIL" && len(job.Succeeded) == 0 && len(job.Failed) == 0 {
			return nil, nil, job.End, true, &jobFailedError{job: jobID, reason: job.FailReason}
		}
		return job.Succeeded, job.Failed, job.End, true, nil
	}
	return nil, nil, time.Time{}, false, nil
}

// jobFailedError is an ECS job that ended in FAIL with nothing done.
type jobFailedError struct{ job, reason string }

func (e *jobFailedError) Error() string { return "job " + e.job + " failed: " + e.reason }
