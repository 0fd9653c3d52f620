package actuator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/flexus-autoscaler/flexus/config"
)

// JobFollower is a backend whose writes finish later, in a cloud job (ECS
// creates and deletes). The webhook is answered and the group's lock
// released once the write is accepted; the job is followed in the
// background, within actuator.job_timeout.
type JobFollower interface {
	// FollowJob polls the job until it ends or ctx does. It returns the
	// servers its sub-jobs succeeded and failed for, and whether it ended.
	FollowJob(ctx context.Context, g *config.Group, jobID string) (JobResult, error)
}

// JobResult is how a cloud job ended.
type JobResult struct {
	OK     []string `json:"ok,omitempty"`
	Failed []string `json:"failed,omitempty"`
	// Done is false when the job was still running at the deadline.
	Done bool `json:"done"`
	// FailReason is set when the whole job failed, with nothing done.
	FailReason string `json:"fail_reason,omitempty"`
}

// jobs are the cloud jobs this replica follows, by group: while one runs,
// the next decision sees its group's activity in progress.
type jobs struct {
	mu       sync.Mutex
	inFlight map[string]map[string]Action // group -> job -> action
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
}

func newJobs() *jobs {
	ctx, cancel := context.WithCancel(context.Background())
	return &jobs{inFlight: map[string]map[string]Action{}, ctx: ctx, cancel: cancel}
}

// apply marks the group's activity from the jobs still running, so a
// scale-in waits and the cooldown counts from the job's end.
func (j *jobs) apply(group string, cs *CloudState) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, act := range j.inFlight[group] {
		if act == ScaleOut || cs.Activity == ActivityNone {
			cs.Activity = Activity(act.Direction())
		}
	}
}

// running reports whether this replica follows a job of the group.
func (j *jobs) running(group string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.inFlight[group]) > 0
}

func (j *jobs) add(group, id string, act Action) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.inFlight[group] == nil {
		j.inFlight[group] = map[string]Action{}
	}
	j.inFlight[group][id] = act
}

func (j *jobs) done(group, id string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.inFlight[group], id)
}

// Close stops following jobs and waits for the followers to return; the
// servers themselves show in the next State of whichever replica decides.
func (a *Actuator) Close() {
	a.jobs.cancel()
	a.jobs.wg.Wait()
}

// WaitJobs waits until every job followed in the background has ended
// (tests, and a graceful stop that may wait).
func (a *Actuator) WaitJobs() { a.jobs.wg.Wait() }

// follow follows a decision's cloud job in the background. When the job
// did less than the decision recorded, the key and the group's state are
// corrected under the lock, so the record says what happened and a
// redelivery may continue from there.
func (a *Actuator) follow(g *config.Group, rec Record, from int) {
	scaler, _ := a.scalers.For(g)
	f, ok := scaler.(JobFollower)
	if !ok || rec.Result == nil || rec.Result.JobID == "" {
		return
	}
	id, timeout := rec.Result.JobID, a.Config().Actuator.JobTimeout
	a.jobs.add(g.Name, id, rec.Action)
	a.jobs.wg.Add(1)
	go func() {
		defer a.jobs.wg.Done()
		defer a.jobs.done(g.Name, id)
		ctx, cancel := context.WithTimeout(a.jobs.ctx, timeout)
		defer cancel()
		jr, err := f.FollowJob(ctx, g, id)
		out := Record{Key: rec.Key, Intent: rec.Intent, Result: &Result{JobID: id, Added: nil, Failed: jr.Failed},
			Decision: Decision{Time: a.clock.Now(), Group: g.Name, Action: rec.Action, From: from, Requested: rec.Requested, Goal: rec.Goal, To: rec.To}}
		switch {
		case err != nil || !jr.Done:
			a.logger.Warn("cloud job not followed to its end: the next decision reads the servers as they are", "group", g.Name, "job", id, "err", err)
			return
		case len(jr.Failed) == 0 && jr.FailReason == "":
			a.logger.Info("cloud job succeeded", "group", g.Name, "job", id, "servers", len(jr.OK))
			return
		}
		// The job did only part, or none, of the change.
		reached := from + len(jr.OK)
		if rec.Action == ScaleIn {
			reached = from - len(jr.OK)
			out.Result.Removed = jr.OK
		} else {
			out.Result.Added = jr.OK
		}
		out.To, out.Result.Desired, out.Result.Partial = reached, reached, true
		out.Result.Detail = fmt.Sprintf("job %s: %d of %d servers", id, len(jr.OK), max(len(jr.OK)+len(jr.Failed), abs(rec.To-from)))
		if jr.FailReason != "" {
			out.Result.Detail += ": " + jr.FailReason
		}
		out.Outcome, out.Reason = OutcomeFailed, "cloud job did part of the change"
		if err := a.correct(ctx, g, rec.Key, reached); err != nil {
			out.Error = err.Error()
		}
		a.finish(ctx, g, out)
	}()
}

// correct sets a finished key's count to what its job reached.
func (a *Actuator) correct(ctx context.Context, g *config.Group, key string, reached int) error {
	lk, err := a.store.Lock(ctx, g.Name)
	if err != nil {
		return err
	}
	defer lk.Unlock()
	e, ok, err := a.store.Key(ctx, key, a.clock.Now())
	if err != nil || !ok {
		return err
	}
	e.To = reached
	if err := lk.PutKey(ctx, key, e); err != nil {
		return err
	}
	local, err := lk.Group(ctx)
	if err != nil {
		return err
	}
	local.Desired = reached
	return lk.PutGroup(ctx, local)
}

// FollowJob follows an ECS job (ShowJob) until it ends or ctx does. A
// create split over several calls (at most 100 servers each) names its jobs
// comma-separated; they are followed in turn and their servers added up.
func (s *ECSScaler) FollowJob(ctx context.Context, g *config.Group, jobIDs string) (JobResult, error) {
	out := JobResult{Done: true}
	for _, id := range strings.Split(jobIDs, ",") {
		ok, failed, ended, done, err := s.follow(ctx, id)
		if done {
			s.endDeletion(g.Name, id, ended)
		}
		var jf *jobFailedError
		switch {
		case errors.As(err, &jf):
			out.FailReason = strings.TrimPrefix(out.FailReason+"; "+jf.Error(), "; ")
			continue
		case err != nil:
			out.Done = false
			return out, err
		}
		out.OK, out.Failed = append(out.OK, ok...), append(out.Failed, failed...)
		out.Done = out.Done && done
	}
	return out, nil
}

func abs(n int) int { return max(n, -n) }
