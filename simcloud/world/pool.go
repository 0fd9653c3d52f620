package world

import (
	"errors"
	"fmt"
	"time"
)

// Stopped instances: a warm pool. A stopped pay-per-use server keeps its
// disk, and only the disk is billed ("Basic resources (vCPUs, memory, and
// image) are not billed after the instance is stopped", FlexusX billing,
// docs/cloud-api.md); starting it skips the creation and the first boot, so
// it serves after StartDelay instead of BootDelay. Warm-up still applies
// after a start: the application loads again.

// Stopped states of an instance.
const (
	// StateStopping is a stop in progress: the server takes no load and is
	// still billed in full (ECS: ACTIVE, task_state powering-off).
	StateStopping State = "stopping"
	// StateStopped is a stopped server: disk billed only (ECS: SHUTOFF).
	StateStopped State = "stopped"
)

// PoolConfig is how a group's instances stop and start.
type PoolConfig struct {
	// Size is how many stopped instances an AS group keeps instead of
	// deleting them on scale-in, and takes first on scale-out (a warm pool);
	// the pool starts full. ECS groups stop and start through the API
	// (BatchStopServers, BatchStartServers) and ignore it. Default 0.
	Size int `yaml:"size"`
	// StartDelay is how long a started instance takes before it serves,
	// warm-up aside (default a third of boot_delay).
	StartDelay time.Duration `yaml:"start_delay"`
	// StopDelay is how long a stop takes; the instance is billed in full
	// until it ends (default 10s).
	StopDelay time.Duration `yaml:"stop_delay"`
	// DiskPricePerGBHour is what a stopped instance costs per GB of its
	// flavour's disk (default DefaultDiskPricePerGBHour).
	DiskPricePerGBHour float64 `yaml:"disk_price_per_gb_hour"`
}

// DefaultDiskPricePerGBHour is an EVS disk at 0.35 a GB-month (730 hours),
// the example price of Huawei's Billing Center docs (docs/cloud-api.md,
// ecs-stopped-billing).
const DefaultDiskPricePerGBHour = 0.35 / 730

func (p *PoolConfig) setDefaults(boot time.Duration) {
	if p.StartDelay == 0 {
		p.StartDelay = boot / 3
	}
	if p.StopDelay == 0 {
		p.StopDelay = 10 * time.Second
	}
	if p.DiskPricePerGBHour == 0 {
		p.DiskPricePerGBHour = DefaultDiskPricePerGBHour
	}
}

func (p *PoolConfig) validate() error {
	if p.Size < 0 || p.StartDelay < 0 || p.StopDelay < 0 || p.DiskPricePerGBHour < 0 {
		return errors.New("pool: size, start_delay, stop_delay and disk_price_per_gb_hour must not be negative")
	}
	return nil
}

// StoppedCostRatio is what a stopped instance of the flavour costs as a
// fraction of a running one: its disk over its on-demand price.
func (p PoolConfig) StoppedCostRatio(flavor string) (float64, error) {
	f, err := LookupFlavor(flavor)
	if err != nil {
		return 0, err
	}
	if f.PricePerHour <= 0 {
		return 0, fmt.Errorf("flavour %s has no price", flavor)
	}
	return p.DiskPricePerGBHour * float64(f.DiskGB) / f.PricePerHour, nil
}

// stopState is the instance's stop state at t, or "" when it runs.
func (in *Instance) stopState(t time.Time) State {
	if in.Stopped.IsZero() || t.Before(in.Stopped) {
		return ""
	}
	if t.Before(in.Stopped.Add(in.g.cfg.Pool.StopDelay)) {
		return StateStopping
	}
	return StateStopped
}

// pooled reports an instance stopped or stopping, and not being removed.
func (in *Instance) pooled() bool { return in.Removing.IsZero() && !in.Stopped.IsZero() }

// stop stops a running instance at t; billing turns to the disk once the stop ends.
func (in *Instance) stop(t time.Time) {
	in.Stopped = t
	in.offFrom, in.offTo = t.Add(in.g.cfg.Pool.StopDelay), time.Time{}
}

// start starts a stopped instance at t: it serves after the start delay
// (and warm-up), billed in full from t.
func (in *Instance) start(t time.Time) {
	in.Stopped = time.Time{}
	in.offTo = t
	in.Ready = t.Add(in.g.cfg.Pool.StartDelay)
	in.Starts++
}

// bill charges the instance for [a, b): in full while it runs, the disk
// only over its last stopped span.
func (g *group) bill(in *Instance, start, a, b time.Time) {
	from := latest(a, in.Created, start)
	to := b
	if until := in.billedUntil(); !until.IsZero() && until.Before(to) {
		to = until
	}
	if !to.After(from) {
		return
	}
	off := 0.0
	if !in.offFrom.IsZero() {
		offTo := in.offTo
		if offTo.IsZero() || offTo.Before(in.offFrom) {
			offTo = to
		}
		if lo, hi := latest(from, in.offFrom), earliest(to, offTo); hi.After(lo) {
			off = hi.Sub(lo).Seconds()
		}
	}
	on := to.Sub(from).Seconds() - off
	g.costSec += on
	g.cost += g.flavorPrice(in) * on / 3600
	g.stoppedSec += off
	g.cost += g.cfg.Pool.DiskPricePerGBHour * float64(in.flavor.DiskGB) * off / 3600
}

func latest(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// pool counts the group's stopped and stopping instances.
func (g *group) pool() int {
	n := 0
	for _, in := range g.live {
		if in.pooled() {
			n++
		}
	}
	return n
}

// fillPool creates the AS warm pool at start, already stopped.
func (w *World) fillPool(g *group, at time.Time) {
	if g.cfg.ManagedBy != ManagedByAS {
		return
	}
	for i := 0; i < g.cfg.Pool.Size; i++ {
		in := w.newInstance(g, w.instanceName(g, ""), g.cfg.Flavor, false, at, nil)
		in.Stopped = at.Add(-g.cfg.Pool.StopDelay)
		in.offFrom = at
	}
}

// startPooled starts up to n of the AS group's stopped instances at t and
// returns them: a scale-out takes the warm pool first.
func (g *group) startPooled(n int, t time.Time) []*Instance {
	var out []*Instance
	for _, in := range g.live {
		if len(out) == n {
			break
		}
		if in.Removing.IsZero() && in.stopState(t) == StateStopped {
			in.start(t)
			out = append(out, in)
		}
	}
	return out
}

// poolRoom is how many more instances the AS group's warm pool takes.
func (g *group) poolRoom() int { return max(g.cfg.Pool.Size-g.pool(), 0) }

// StartServers starts stopped ECS servers (BatchStartServers). Every server
// must be stopped (SHUTOFF, no stop in progress); otherwise nothing starts
// and the request is refused (KindState), so a start sent again never
// starts a server twice.
func (w *World) StartServers(ids []string) (Job, error) {
	return w.power(ids, "startServers", StateStopped, func(in *Instance) { in.start(w.now) })
}

// StopServers stops running ECS servers (BatchStopServers). Every server
// must be in service (ACTIVE, not booting, stopping or being deleted);
// otherwise nothing stops and the request is refused (KindState).
func (w *World) StopServers(ids []string) (Job, error) {
	return w.power(ids, "stopServers", StateInService, func(in *Instance) { in.stop(w.now) })
}

func (w *World) power(ids []string, typ string, need State, do func(*Instance)) (Job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(ids) == 0 || len(ids) > 1000 {
		return Job{}, invalidf("servers must list 1..1000 ids, not %d", len(ids))
	}
	picked := make([]*Instance, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		in, ok := w.byInst[id]
		if !ok || !in.Gone.IsZero() {
			return Job{}, notFoundf("server %q does not exist", id)
		}
		if st := in.StateAt(w.now); st != need || seen[id] {
			return Job{}, kindf(KindState, "server %s is %s: %s needs every server %s", id, st, typ, need)
		}
		seen[id] = true
		picked = append(picked, in)
	}
	j := &Job{ID: w.jobID(), Type: typ, Begin: w.now}
	for _, in := range picked {
		do(in)
		j.ServerIDs = append(j.ServerIDs, in.ID)
	}
	w.addJob(j)
	return copyJob(j), nil
}

// powerDone is when a start or stop job's server is done: serving (start)
// or stopped (stop); zero when it was removed or moved on since.
func powerDone(j *Job, in *Instance) time.Time {
	if j.Type == "startServers" {
		return in.Ready
	}
	if in.Stopped.IsZero() {
		return j.Begin // started again since: this stop ended long ago
	}
	return in.Stopped.Add(in.g.cfg.Pool.StopDelay)
}

// SetPool sets an AS group's warm pool size (PutWarmPool): the pool is
// filled at once with stopped instances, or its extra stopped instances
// are deleted.
func (w *World) SetPool(nameOrID string, size int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return err
	}
	if g.cfg.ManagedBy != ManagedByAS {
		return invalidf("group %q is managed through ECS, not AS", g.cfg.Name)
	}
	if size < 0 || size > g.cfg.MaxInstances {
		return invalidf("warm pool capacity %d must be within 0..max_instance_number %d", size, g.cfg.MaxInstances)
	}
	g.cfg.Pool.Size = size
	for n := g.pool(); n < size; n++ {
		in := w.newInstance(g, w.instanceName(g, ""), g.cfg.Flavor, false, w.now, nil)
		in.stop(w.now)
	}
	for _, in := range g.live {
		if g.pool() <= size {
			break
		}
		if in.pooled() {
			in.Removing = w.now
		}
	}
	return nil
}

// PoolSize is an AS group's warm pool size.
func (w *World) PoolSize(nameOrID string) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return 0, err
	}
	return g.cfg.Pool.Size, nil
}
