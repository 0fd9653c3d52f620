package actuator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// The warm pool of the ecs backend (docs/actuator.md, "Warm pool"): a
// scale-in stops managed servers until the group keeps warm_pool.size of
// them stopped, and deletes the rest; a scale-out starts stopped managed
// servers before it creates any. A stopped server is not in the group's
// desired count, so a start or a stop moves the count as a create or a
// delete does, and the write-ahead intent (intent.go) settles a start or a
// stop that a crash or an ambiguous answer left unknown the same way: from
// the fresh count, never by sending it again.

// poolServer classifies a managed server in or around the pool: stopped
// (SHUTOFF, nothing in progress), stopping (powering-off) or starting
// (SHUTOFF, powering-on). Unmanaged servers are never the pool's.
func poolServer(sv hwcloud.Server) (stopped, stopping, starting bool) {
	if !managed(sv) || gone(sv) {
		return false, false, false
	}
	task := strings.ToLower(sv.Task)
	switch {
	case sv.Status == "SHUTOFF" && task == "":
		return true, false, false
	case strings.HasPrefix(task, "powering-off"):
		return false, true, false
	case strings.HasPrefix(task, "powering-on"):
		return false, false, true
	}
	return false, false, false
}

// inPool counts a stopped or stopping server into cs.Pooled and reports
// that it is out of the desired count; a stop in progress is a scale-in
// activity, as a delete is.
func inPool(sv hwcloud.Server, cs *CloudState) bool {
	stopped, stopping, _ := poolServer(sv)
	if stopping && cs.Activity == ActivityNone {
		cs.Activity = ActivityIn
	}
	if stopped || stopping {
		cs.Pooled++
		return true
	}
	return false
}

// starting reports a pooled server being started: booting, a scale-out in progress.
func starting(sv hwcloud.Server) bool {
	_, _, s := poolServer(sv)
	return s
}

// scaleOut adds n servers: the pool's first, then new ones.
func (s *ECSScaler) scaleOut(ctx context.Context, g *config.Group, cur CloudState, n int, token string) (Result, error) {
	from := cur.Desired
	if cur.Pooled == 0 {
		return s.create(ctx, g, n, from, token)
	}
	started, jobID, err := s.startPooled(ctx, g, n)
	res := Result{Desired: from + len(started), Added: started, JobID: jobID}
	if err != nil {
		return res, fmt.Errorf("ecs: starting %d pooled servers of group %q: %w", min(n, cur.Pooled), g.Name, err)
	}
	if len(started) >= n {
		return res, nil
	}
	more, err := s.create(ctx, g, n-len(started), res.Desired, token)
	res.Added = append(res.Added, more.Added...)
	res.Failed = more.Failed
	res.Partial, res.Detail = more.Partial, more.Detail
	if more.JobID != "" {
		res.JobID = strings.TrimPrefix(res.JobID+","+more.JobID, ",")
	}
	res.Desired = more.Desired
	return res, err
}

// startPooled starts up to n stopped managed servers, newest first, and
// returns them with the start job. Only servers seen stopped are asked for:
// ECS refuses a start of any other with Ecs.1000 and starts nothing, so a
// server is never started twice; that refusal is not retried here, and the
// next notification decides again from fresh state.
func (s *ECSScaler) startPooled(ctx context.Context, g *config.Group, n int) ([]string, string, error) {
	servers, err := s.list(ctx, g)
	if err != nil {
		return nil, "", err
	}
	var pool []hwcloud.Server
	for _, sv := range servers {
		if stopped, _, _ := poolServer(sv); stopped {
			pool = append(pool, sv)
		}
	}
	sort.SliceStable(pool, func(i, j int) bool {
		if !pool[i].Created.Equal(pool[j].Created) {
			return pool[i].Created.After(pool[j].Created)
		}
		return pool[i].ID < pool[j].ID
	})
	if len(pool) > n {
		pool = pool[:n]
	}
	if len(pool) == 0 {
		return nil, "", nil
	}
	ids := make([]string, len(pool))
	for i, sv := range pool {
		ids[i] = sv.ID
	}
	job, err := s.Client.Start(ctx, ids)
	if err != nil {
		if hwcloud.ErrorCode(err) == "Ecs.1000" {
			err = fmt.Errorf("%w (a pooled server changed state since it was listed: the next notification decides again from fresh state)", err)
		}
		return nil, "", err
	}
	return ids, job, nil
}

// pooled reports a server in the pool or on its way there: never a
// scale-in's candidate, as it is out of the desired count already.
func pooled(sv hwcloud.Server) bool {
	stopped, stopping, _ := poolServer(sv)
	return stopped || stopping
}

// retire takes servers out of the group: running ones (ACTIVE, no task)
// stop into the pool while it has room, in the order given; the rest,
// booting ones included, are deleted. It returns the servers the cloud
// accepted, the jobs (comma-separated) and the job whose end starts the
// scale-in cooldown (the delete's when there is one).
func (s *ECSScaler) retire(ctx context.Context, room int, servers []hwcloud.Server) (done []string, jobs, last string, err error) {
	var stop, del []string
	for _, sv := range servers {
		if len(stop) < room && sv.Status == "ACTIVE" && sv.Task == "" {
			stop = append(stop, sv.ID)
		} else {
			del = append(del, sv.ID)
		}
	}
	if len(stop) > 0 {
		job, err := s.Client.Stop(ctx, stop)
		if err != nil {
			return nil, "", "", fmt.Errorf("stopping %d servers into the warm pool: %w", len(stop), err)
		}
		done, jobs, last = append(done, stop...), job, job
	}
	if len(del) > 0 {
		job, err := s.Client.Delete(ctx, del)
		if err != nil {
			return done, jobs, last, err
		}
		done = append(done, del...)
		if job != "" {
			jobs, last = strings.TrimPrefix(jobs+","+job, ","), job
		}
	}
	return done, jobs, last, nil
}

// asPools remembers the warm pool size set on each AS group, so that it is
// read and set once per configured size, not on every decision.
type asPools struct {
	mu  sync.Mutex
	set map[string]int
}

// ensurePool gives an AS group the warm pool its config asks for: AS keeps
// its own (PutWarmPool, min and max capacity alike) and starts its
// instances itself when the desired count rises, so setting it is all the
// as backend does. A group without warm_pool is left as it is.
func (s *ASScaler) ensurePool(ctx context.Context, g *config.Group) error {
	if g.WarmPool == nil {
		return nil
	}
	id, want := g.Discovery.ASGroupID, g.WarmPool.Size
	s.pools.mu.Lock()
	done, ok := s.pools.set[id]
	s.pools.mu.Unlock()
	if ok && done == want {
		return nil
	}
	have, err := s.Client.WarmPool(ctx, id)
	if err == nil && have != want {
		err = s.Client.PutWarmPool(ctx, id, want)
	}
	if err != nil {
		return fmt.Errorf("as: setting the warm pool of scaling group %s (group %q) to %d: %w; grant as:groups:update or remove warm_pool", id, g.Name, want, err)
	}
	s.pools.mu.Lock()
	if s.pools.set == nil {
		s.pools.set = map[string]int{}
	}
	s.pools.set[id] = want
	s.pools.mu.Unlock()
	return nil
}
