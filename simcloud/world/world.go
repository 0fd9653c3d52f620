// Package world is simcloud's model of a cloud project: scaling groups of
// instances that boot, serve demand, queue what they cannot serve, cost money
// per second and publish Cloud Eye datapoints. It has no HTTP and no clock of
// its own: the caller moves it forward with Advance, in real or virtual time.
package world

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// State is an instance's life-cycle state.
type State string

// Instance states.
const (
	StatePending   State = "pending"
	StateInService State = "in_service"
	StateRemoving  State = "removing"
)

// Device is one GPU or NPU of an instance.
type Device struct {
	// Origin is the real device id (PCI bus id or npu-N), Hash the 32-hex
	// dimension value Cloud Eye uses for it.
	Origin string `json:"origin"`
	Hash   string `json:"hash"`
	skew   float64
}

// Instance is one server. Its fields are read-only outside the world.
type Instance struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Group   string    `json:"group"`
	Flavor  string    `json:"flavor"`
	Spot    bool      `json:"spot"`
	Created time.Time `json:"created"`
	// Ready is when the instance starts serving (Created + boot delay).
	Ready time.Time `json:"ready"`
	// Removing is when removal started (zero while not removing); Gone is when it vanished.
	Removing time.Time `json:"removing,omitzero"`
	Gone     time.Time `json:"gone,omitzero"`
	Devices  []Device  `json:"devices,omitempty"`
	Tags     []Tag     `json:"tags,omitempty"`
	ImageID  string    `json:"-"`
	VpcID    string    `json:"-"`
	Zone     string    `json:"-"`
	// Stopped is when the instance was stopped (zero while it runs), Starts
	// how often it was started since (pool.go).
	Stopped time.Time `json:"stopped,omitzero"`
	Starts  int       `json:"starts,omitempty"`

	// offFrom and offTo are its last stopped span, billed for the disk only
	// (offTo zero while it lasts).
	offFrom, offTo time.Time

	g      *group
	flavor Flavor
	seed   uint64
	skew   float64
}

// Held reports an instance a lifecycle hook holds at t: booted, not yet serving.
func (in *Instance) Held(t time.Time) bool {
	return in.StateAt(t) == StatePending && !t.Before(in.Created.Add(in.g.cfg.BootDelay))
}

// FlavorSpec is the instance's flavour.
func (in *Instance) FlavorSpec() Flavor { return in.flavor }

// StateAt is the instance's state at t.
func (in *Instance) StateAt(t time.Time) State {
	switch {
	case !in.Removing.IsZero() && !t.Before(in.Removing):
		return StateRemoving
	case in.stopState(t) != "":
		return in.stopState(t)
	case t.Before(in.Ready):
		return StatePending
	default:
		return StateInService
	}
}

// servesAt reports whether the instance takes load at t: in service and
// past its warm-up.
func (in *Instance) servesAt(t time.Time) bool {
	return in.StateAt(t) == StateInService && !t.Before(in.Ready.Add(in.g.cfg.WarmUp))
}

func (in *Instance) existsAt(t time.Time) bool {
	return !t.Before(in.Created) && (in.Gone.IsZero() || t.Before(in.Gone))
}

// billedUntil is when billing stops: removal end, or never while it lives.
func (in *Instance) billedUntil() time.Time {
	if !in.Gone.IsZero() {
		return in.Gone
	}
	if !in.Removing.IsZero() {
		return in.Removing.Add(in.g.cfg.RemoveDelay)
	}
	return time.Time{}
}

// Activity statuses, as AS names them.
const (
	ActivityDoing   = "DOING"
	ActivitySuccess = "SUCCESS"
)

// Activity is one AS scaling activity. As in AS, it is DOING until its
// instances have joined the group (in service) or left it (gone), and its
// End is that moment; End is zero while it is DOING.
type Activity struct {
	ID          string
	Status      string
	Start, End  time.Time
	Description string
	Added       []string
	Removed     []string
	Deleted     []string
	// ScalingValue is the change, InstanceValue the count before, DesireValue the desired count after.
	ScalingValue, InstanceValue, DesireValue int

	// instances are the instances added or removed; their state decides Status and End.
	instances []*Instance
}

// settle fills Status and End as of now.
func (a Activity) settle(now time.Time) Activity {
	a.Status, a.End = ActivitySuccess, a.Start
	for _, in := range a.instances {
		// An added instance joins when it is ready; a removed one (or an
		// added one removed before it was ready) leaves when it is gone.
		done := in.Ready
		if a.ScalingValue < 0 || !in.Removing.IsZero() && in.Removing.Before(in.Ready) {
			done = in.Removing.Add(in.g.cfg.RemoveDelay)
		}
		if a.ScalingValue < 0 && in.Removing.IsZero() && !in.Stopped.IsZero() {
			done = in.Stopped.Add(in.g.cfg.Pool.StopDelay) // stopped into the warm pool
		}
		if !in.Gone.IsZero() && in.Gone.Before(done) {
			done = in.Gone
		}
		if done.After(now) {
			a.Status, a.End = ActivityDoing, time.Time{}
			break
		}
		if done.After(a.End) {
			a.End = done
		}
	}
	a.instances = nil
	return a
}

type sample struct {
	t        int64 // unix seconds; 0 marks an empty slot
	demand   float64
	capacity float64
	util     float64
	queue    float64
	rt       float64 // seconds
	errRate  float64
	serving  int
}

type accum struct {
	seconds, demand, capacity, util, rt, errRate float64
}

type group struct {
	cfg        GroupConfig
	flavor     Flavor
	id         string
	desired    int
	live       []*Instance // creation order, removing ones included
	multiplier float64
	queue      float64
	last       sample
	acc        accum
	ring       []sample
	costSec    float64
	stoppedSec float64
	cost       float64
	reclaimed  int
	activities []Activity
	seed       uint64
	kafkaID    string
	rabbitID   string
	elbID      string

	// reclaimedAt are the recent reclaims AS has yet to replace (spot.replace_delay).
	reclaimedAt []time.Time
}

const maxActivities = 1000

// World is the simulated project. It is safe for concurrent use.
type World struct {
	mu      sync.Mutex
	cfg     Config
	start   time.Time
	now     time.Time
	grid    time.Time // end of the last integrated tick
	rng     *rand.Rand
	groups  []*group
	byName  map[string]*group
	byID    map[string]*group
	byInst  map[string]*Instance // live and recently gone instances
	gone    []*Instance
	jobs    map[string]*Job
	jobIDs  []string
	tokens  map[string]tokenUse
	metrics map[string]metricDef
}

// New builds a world whose clock starts at start, with each group at its
// desired count of instances already in service.
func New(cfg Config, start time.Time) (*World, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &World{
		cfg:     cfg,
		start:   start,
		now:     start,
		grid:    start.Truncate(cfg.Tick),
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		byName:  map[string]*group{},
		byID:    map[string]*group{},
		byInst:  map[string]*Instance{},
		jobs:    map[string]*Job{},
		tokens:  map[string]tokenUse{},
		metrics: metricCatalogue(),
	}
	slots := int(cfg.Retention/cfg.RawPeriod) + 2
	for _, gc := range cfg.Groups {
		f, _ := LookupFlavor(gc.Flavor)
		g := &group{cfg: gc, flavor: f, desired: gc.DesiredInstances, multiplier: 1, ring: make([]sample, slots), seed: w.rng.Uint64()}
		g.id = w.orDerived(gc.ID)
		g.kafkaID = w.orDerived(gc.Queue.KafkaInstanceID)
		g.rabbitID = w.orDerived(gc.Queue.RabbitMQInstanceID)
		g.elbID = w.orDerived(gc.ELBID)
		if gc.Demand.Scenario == ScenarioTrace {
			for _, v := range gc.Demand.Trace.Values {
				if !math.IsNaN(v) && v > g.cfg.Demand.traceMax {
					g.cfg.Demand.traceMax = v
				}
			}
		}
		w.groups = append(w.groups, g)
		w.byName[gc.Name] = g
		w.byID[g.id] = g
		// Instances at start are serving from the first tick on, even when start is mid-tick.
		at := w.grid.Add(-gc.BootDelay - gc.HookWait - gc.WarmUp)
		for i := 0; i < gc.DesiredInstances; i++ {
			w.newInstance(g, w.instanceName(g, ""), gc.Flavor, g.spotNext(), at, nil)
		}
		w.fillPool(g, at)
	}
	return w, nil
}

func (w *World) orDerived(id string) string {
	if id != "" {
		return id
	}
	return w.uuid()
}

func (w *World) uuid() string {
	a, b := w.rng.Uint64(), w.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, (b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

func (w *World) instanceName(g *group, base string) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	if base == "" {
		base = g.cfg.Name
	}
	b := make([]byte, 6)
	for i := range b {
		b[i] = letters[w.rng.IntN(len(letters))]
	}
	return base + "-" + string(b)
}

func (w *World) newInstance(g *group, name, flavor string, spot bool, at time.Time, tags []Tag) *Instance {
	f, _ := LookupFlavor(flavor)
	in := &Instance{
		ID: w.uuid(), Name: name, Group: g.cfg.Name, Flavor: flavor, Spot: spot,
		Created: at, Ready: at.Add(g.cfg.BootDelay + g.cfg.HookWait), Tags: tags,
		ImageID: "img-simcloud-ubuntu-22.04", VpcID: "vpc-simcloud", Zone: "cn-north-4a",
		g: g, flavor: f, seed: w.rng.Uint64(), skew: 0.9 + 0.2*w.rng.Float64(),
	}
	if len(in.Tags) == 0 && g.cfg.ManagedBy == ManagedByECS {
		in.Tags = []Tag{g.cfg.Tag}
	}
	for i := 0; i < f.Devices; i++ {
		origin := deviceOrigin(f.Accelerator, i)
		in.Devices = append(in.Devices, Device{Origin: origin, Hash: dimHash(in.ID, string(f.Accelerator), origin), skew: 0.85 + 0.3*w.rng.Float64()})
	}
	g.live = append(g.live, in)
	w.byInst[in.ID] = in
	return in
}

// dimHash is the 32-hex dimension value Cloud Eye gives a device or mount point.
func dimHash(instanceID, dim, origin string) string {
	sum := md5.Sum([]byte(instanceID + "/" + dim + "/" + origin))
	return hex.EncodeToString(sum[:])
}

// Now is the time the world has been advanced to.
func (w *World) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// Start is the world's start time.
func (w *World) Start() time.Time { return w.start }

// Config is the world's configuration with defaults applied.
func (w *World) Config() Config { return w.cfg }

// Advance moves the world to t, integrating every whole tick up to it. Going
// backwards does nothing.
func (w *World) Advance(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		next := w.grid.Add(w.cfg.Tick)
		if next.After(t) {
			break
		}
		w.tick(w.grid, next)
		w.grid = next
	}
	if t.After(w.now) {
		w.now = t
	}
}

// tick integrates [a, b).
func (w *World) tick(a, b time.Time) {
	if w.now.Before(a) {
		w.now = a
	}
	dt := b.Sub(a).Seconds()
	for _, g := range w.groups {
		w.finishRemovals(g, a)
		if g.cfg.ManagedBy == ManagedByAS {
			w.reconcile(g, a)
		}
		serving := 0
		for _, in := range g.live {
			if in.servesAt(a) {
				serving++
			}
			g.bill(in, w.start, a, b)
		}
		w.integrate(g, a, dt, serving)
		if g.cfg.Spot.ReclaimPerHour > 0 {
			p := 1 - math.Exp(-g.cfg.Spot.ReclaimPerHour*dt/3600)
			var hit []*Instance
			for _, in := range g.live {
				if in.Spot && in.Removing.IsZero() && w.rng.Float64() < p {
					hit = append(hit, in)
				}
			}
			for _, in := range hit {
				w.reclaim(g, in, b)
			}
		}
		if b.Unix()%int64(w.cfg.RawPeriod/time.Second) == 0 {
			w.record(g, b)
		}
	}
	w.prune(b)
}

func (g *group) flavorPrice(in *Instance) float64 {
	if in.Spot {
		return in.flavor.PricePerHour * g.cfg.Spot.Discount
	}
	return in.flavor.PricePerHour
}

// demandAt is the arrival rate in requests per second at t.
func (g *group) demandAt(start, t time.Time) float64 {
	d := g.cfg.peakDemand() * g.cfg.Demand.shape(t.Sub(start)) * g.multiplier
	if n := g.cfg.Demand.Noise; n > 0 {
		d *= max(0, 1+n*gauss(g.seed, uint64(t.Unix())))
	}
	return max(0, d)
}

// integrate is the queueing model of one tick: arrivals beyond capacity wait
// in the queue, response time grows with utilisation and waiting, and
// requests that are dropped or time out are errors.
func (w *World) integrate(g *group, a time.Time, dt float64, serving int) {
	svc := g.cfg.Service
	lambda := g.demandAt(w.start, a)
	capacity := float64(serving) * g.cfg.CapacityPerInstance
	arrived := lambda * dt
	avail := g.queue + arrived
	served := min(avail, capacity*dt)
	q := avail - served
	dropped := max(0, q-g.cfg.Queue.Limit)
	q -= dropped
	util := 0.0
	if capacity > 0 {
		util = served / (capacity * dt)
	}
	timeout := svc.Timeout.Seconds()
	wait := timeout
	if capacity > 0 {
		wait = q / capacity
	}
	rt := svc.BaseLatency.Seconds()/(1-min(util, 0.95)) + wait
	errRate := svc.BaseErrorRate
	if arrived > 0 {
		errRate += dropped / arrived
		if capacity == 0 {
			errRate = 1
		} else if wait > timeout {
			errRate += 1 - timeout/wait
		}
	}
	g.queue = q
	s := sample{demand: lambda, capacity: capacity, util: util, queue: q, rt: min(rt, timeout), errRate: min(errRate, 1), serving: serving}
	g.last = s
	g.acc.seconds += dt
	g.acc.demand += s.demand * dt
	g.acc.capacity += s.capacity * dt
	g.acc.util += s.util * dt
	g.acc.rt += s.rt * dt
	g.acc.errRate += s.errRate * dt
}

// record closes the raw period ending at b into a Cloud Eye sample.
func (w *World) record(g *group, b time.Time) {
	acc := g.acc
	if acc.seconds == 0 {
		return
	}
	s := sample{
		t: b.Unix(), demand: acc.demand / acc.seconds, capacity: acc.capacity / acc.seconds,
		util: acc.util / acc.seconds, queue: g.queue, rt: acc.rt / acc.seconds,
		errRate: acc.errRate / acc.seconds, serving: g.last.serving,
	}
	g.ring[w.slot(s.t)] = s
	g.acc = accum{}
}

func (w *World) slot(unix int64) int {
	raw := int64(w.cfg.RawPeriod / time.Second)
	return int((unix / raw) % int64(len(w.groups[0].ring)))
}

func (w *World) sampleAt(g *group, unix int64) (sample, bool) {
	s := g.ring[w.slot(unix)]
	return s, s.t == unix
}

func (w *World) finishRemovals(g *group, at time.Time) {
	kept := g.live[:0]
	for _, in := range g.live {
		if !in.Removing.IsZero() && !at.Before(in.Removing.Add(g.cfg.RemoveDelay)) {
			in.Gone = in.Removing.Add(g.cfg.RemoveDelay)
			w.gone = append(w.gone, in)
			continue
		}
		kept = append(kept, in)
	}
	clear(g.live[len(kept):])
	g.live = kept
}

func (w *World) reclaim(g *group, in *Instance, at time.Time) {
	in.Removing = at
	in.Gone = at
	g.reclaimed++
	g.reclaimedAt = append(g.reclaimedAt, at)
	for i, x := range g.live {
		if x == in {
			g.live = append(g.live[:i], g.live[i+1:]...)
			break
		}
	}
	w.gone = append(w.gone, in)
	if g.cfg.ManagedBy == ManagedByAS {
		g.addActivity(Activity{ID: w.uuid(), Start: at, Description: "spot instance reclaimed by the cloud",
			Deleted: []string{in.Name}, ScalingValue: -1, InstanceValue: g.current() + 1, DesireValue: g.desired})
	}
}

// prune forgets instances whose Cloud Eye history has expired.
func (w *World) prune(now time.Time) {
	cut := now.Add(-w.cfg.Retention)
	i := 0
	for ; i < len(w.gone) && w.gone[i].Gone.Before(cut); i++ {
		delete(w.byInst, w.gone[i].ID)
	}
	if i > 0 {
		w.gone = append(w.gone[:0], w.gone[i:]...)
	}
	for len(w.jobIDs) > 10000 {
		if j := w.jobs[w.jobIDs[0]]; j != nil && j.token != "" {
			delete(w.tokens, j.token)
		}
		delete(w.jobs, w.jobIDs[0])
		w.jobIDs = w.jobIDs[1:]
	}
}

// current counts the instances that are not being removed nor stopped.
func (g *group) current() int {
	n := 0
	for _, in := range g.live {
		if in.Removing.IsZero() && in.Stopped.IsZero() {
			n++
		}
	}
	return n
}

func (g *group) addActivity(a Activity) {
	g.activities = append(g.activities, a)
	if len(g.activities) > maxActivities {
		g.activities = g.activities[len(g.activities)-maxActivities:]
	}
}

// reconcile is AS at work: create or remove instances until the group holds
// its desired count, removing the oldest first.
func (w *World) reconcile(g *group, at time.Time) {
	cur, held := g.current(), g.heldReplacements(at)
	switch {
	case cur < g.desired-held:
		act := Activity{ID: w.uuid(), Start: at, InstanceValue: cur, DesireValue: g.desired, ScalingValue: g.desired - held - cur}
		for _, in := range g.startPooled(g.desired-held-cur, at) {
			act.Added = append(act.Added, in.Name)
			act.instances = append(act.instances, in)
		}
		for i := cur + len(act.Added); i < g.desired-held; i++ {
			in := w.newInstance(g, w.instanceName(g, ""), g.cfg.Flavor, g.spotNext(), at, nil)
			act.Added = append(act.Added, in.Name)
			act.instances = append(act.instances, in)
		}
		act.Description = fmt.Sprintf("add %d instances to reach the desired count %d", len(act.Added), g.desired)
		g.addActivity(act)
	case cur > g.desired:
		act := Activity{ID: w.uuid(), Start: at, InstanceValue: cur, DesireValue: g.desired, ScalingValue: g.desired - cur}
		for _, in := range g.removalOrder() {
			if len(act.Removed) == cur-g.desired {
				break
			}
			if in.Removing.IsZero() && in.Stopped.IsZero() {
				if g.poolRoom() > 0 {
					in.stop(at) // into the warm pool
				} else {
					in.Removing = at
				}
				act.Removed = append(act.Removed, in.Name)
				act.instances = append(act.instances, in)
			}
		}
		act.Deleted = act.Removed
		act.Description = fmt.Sprintf("remove %d instances to reach the desired count %d", len(act.Removed), g.desired)
		g.addActivity(act)
	}
}

// splitmix64 is a cheap, well-mixed hash for deterministic noise.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps a hash of its inputs to [-1, 1).
func unit(seed, a, b uint64) float64 {
	h := splitmix64(seed ^ splitmix64(a^splitmix64(b)))
	return float64(h>>11)/float64(1<<52) - 1
}

// gauss is a deterministic standard-normal-ish draw (sum of uniforms).
func gauss(seed, t uint64) float64 {
	s := 0.0
	for i := uint64(0); i < 4; i++ {
		s += unit(seed, t, i)
	}
	return s * math.Sqrt(3.0/4.0)
}

// GroupState is a group as seen from outside, for /-/sim/state and the backtest.
type GroupState struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	ManagedBy string `json:"managed_by"`
	Flavor    string `json:"flavor"`
	Tag       Tag    `json:"tag"`
	Min       int    `json:"min_instances"`
	Max       int    `json:"max_instances"`
	// Desired is the AS desired count; for ECS groups the count of servers not being removed.
	Desired   int `json:"desired_instances"`
	Current   int `json:"current_instances"`
	Pending   int `json:"pending_instances"`
	InService int `json:"in_service_instances"`
	// Warming counts the in-service instances still warming up (WarmUp).
	Warming  int `json:"warming_instances"`
	Removing int `json:"removing_instances"`
	// Stopped counts the stopped and stopping instances (the warm pool);
	// StoppedSeconds is how long they were stopped, billed for the disk only.
	Stopped        int     `json:"stopped_instances"`
	StoppedSeconds float64 `json:"stopped_seconds"`
	// Demand and Capacity are requests per second over the last tick; Capacity counts in-service instances only.
	Demand           float64 `json:"demand"`
	DemandMultiplier float64 `json:"demand_multiplier"`
	Capacity         float64 `json:"capacity"`
	Queue            float64 `json:"queue"`
	// Utilization is 0..1; CPU and Memory are the model's group mean percentages.
	Utilization         float64 `json:"utilization"`
	CPU                 float64 `json:"cpu_percent"`
	Memory              float64 `json:"memory_percent"`
	ResponseTimeSeconds float64 `json:"response_time_seconds"`
	ErrorRate           float64 `json:"error_rate"`
	CostInstanceSeconds float64 `json:"cost_instance_seconds"`
	Cost                float64 `json:"cost"`
	SpotReclaims        int     `json:"spot_reclaims"`
	ELBID               string  `json:"elb_id"`
	KafkaInstanceID     string  `json:"kafka_instance_id"`
	ConsumerGroup       string  `json:"consumer_group"`
	RabbitMQInstanceID  string  `json:"rabbitmq_instance_id"`
	RabbitMQQueue       string  `json:"rabbitmq_queue"`
	RedisKey            string  `json:"redis_key,omitempty"`
}

// Live is the instances that exist and are not being removed: booting or serving.
func (g GroupState) Live() int { return g.Pending + g.InService }

func (w *World) state(g *group) GroupState {
	s := GroupState{
		Name: g.cfg.Name, ID: g.id, ManagedBy: g.cfg.ManagedBy, Flavor: g.cfg.Flavor, Tag: g.cfg.Tag,
		Min: g.cfg.MinInstances, Max: g.cfg.MaxInstances, Desired: g.desired,
		Demand: g.last.demand, DemandMultiplier: g.multiplier, Capacity: g.last.capacity, Queue: g.queue,
		Utilization: g.last.util, ResponseTimeSeconds: g.last.rt, ErrorRate: g.last.errRate,
		CostInstanceSeconds: g.costSec, StoppedSeconds: g.stoppedSec, Cost: g.cost, SpotReclaims: g.reclaimed,
		ELBID: g.elbID, KafkaInstanceID: g.kafkaID, ConsumerGroup: g.cfg.Queue.ConsumerGroup,
		RabbitMQInstanceID: g.rabbitID, RabbitMQQueue: g.cfg.Queue.RabbitMQQueue, RedisKey: g.cfg.Queue.RedisKey,
	}
	if g.last.t == 0 && g.last.demand == 0 {
		s.Demand = g.demandAt(w.start, w.now)
	}
	for _, in := range g.live {
		switch in.StateAt(w.now) {
		case StatePending:
			s.Pending++
		case StateInService:
			s.InService++
			if !in.servesAt(w.now) {
				s.Warming++
			}
		case StateRemoving:
			s.Removing++
		case StateStopping, StateStopped:
			s.Stopped++
		}
	}
	s.Current = s.Pending + s.InService
	if g.cfg.ManagedBy == ManagedByECS {
		s.Desired = s.Current
	}
	s.CPU = cpuPercent(g, g.last.util)
	s.Memory = memPercent(g, g.last.util)
	return s
}

// Groups returns every group's state, in config order.
func (w *World) Groups() []GroupState {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]GroupState, 0, len(w.groups))
	for _, g := range w.groups {
		out = append(out, w.state(g))
	}
	return out
}

// Group returns the state of the group with this name or AS group id.
func (w *World) Group(nameOrID string) (GroupState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return GroupState{}, err
	}
	return w.state(g), nil
}

func (w *World) lookup(nameOrID string) (*group, error) {
	if g, ok := w.byID[nameOrID]; ok {
		return g, nil
	}
	if g, ok := w.byName[nameOrID]; ok {
		return g, nil
	}
	return nil, notFoundf("scaling group %q does not exist", nameOrID)
}

// Instances returns copies of a group's live instances (removing ones too), oldest first.
func (w *World) Instances(nameOrID string) ([]Instance, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(g.live))
	for _, in := range g.live {
		out = append(out, *in)
	}
	return out, nil
}

// Servers returns copies of every live instance of every group, oldest first.
func (w *World) Servers() []Instance {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Instance
	for _, g := range w.groups {
		for _, in := range g.live {
			out = append(out, *in)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Activities returns a group's AS scaling activities, newest first, with
// their status and end as of now.
func (w *World) Activities(nameOrID string) ([]Activity, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return nil, err
	}
	out := make([]Activity, len(g.activities))
	for i, a := range g.activities {
		out[len(out)-1-i] = a.settle(w.now)
	}
	return out, nil
}

// SetDesired sets an AS group's desired count; AS starts adding or removing
// instances at once. Counts outside min..max are refused.
func (w *World) SetDesired(nameOrID string, n int) error {
	return w.Update(nameOrID, GroupUpdate{Desired: &n})
}

// GroupUpdate is an UpdateScalingGroup: nil fields stay as they are.
type GroupUpdate struct {
	Min, Max, Desired *int
}

// Update changes an AS group's bounds and desired count at once. The desired
// count must lie within the bounds that result.
func (w *World) Update(nameOrID string, u GroupUpdate) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return err
	}
	if g.cfg.ManagedBy != ManagedByAS {
		return invalidf("group %q is managed through ECS, not AS", g.cfg.Name)
	}
	minN, maxN, desired := g.cfg.MinInstances, g.cfg.MaxInstances, g.desired
	if u.Min != nil {
		minN = *u.Min
	}
	if u.Max != nil {
		maxN = *u.Max
	}
	if u.Desired != nil {
		desired = *u.Desired
	}
	if minN < 0 || maxN < minN {
		return invalidf("min_instance_number %d and max_instance_number %d must satisfy 0 <= min <= max", minN, maxN)
	}
	if desired < minN || desired > maxN {
		return invalidf("desire_instance_number %d is outside min_instance_number..max_instance_number (%d..%d)", desired, minN, maxN)
	}
	g.cfg.MinInstances, g.cfg.MaxInstances, g.desired = minN, maxN, desired
	w.reconcile(g, w.now)
	return nil
}

// RemoveInstances takes instances out of an AS group and lowers its desired
// count by as many (BatchRemoveScalingInstances). The desired count may not
// fall below the minimum.
func (w *World) RemoveInstances(nameOrID string, ids []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, err := w.lookup(nameOrID)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return invalidf("instances_id is empty")
	}
	var picked []*Instance
	seen := map[string]bool{}
	for _, id := range ids {
		in, ok := w.byInst[id]
		if !ok || in.g != g || !in.Gone.IsZero() {
			return notFoundf("instance %q is not in scaling group %q", id, g.cfg.Name)
		}
		if !in.Removing.IsZero() || seen[id] {
			return invalidf("instance %q is already being removed", id)
		}
		if st := in.StateAt(w.now); st != StateInService {
			return invalidf("instance %q is %s: only INSERVICE instances can be removed", id, st)
		}
		seen[id] = true
		picked = append(picked, in)
	}
	for _, a := range g.activities {
		if a.settle(w.now).Status == ActivityDoing {
			return invalidf("scaling group %q has a scaling activity in progress (%s): instances can be removed only when none is", g.cfg.Name, a.Description)
		}
	}
	if g.desired-len(picked) < g.cfg.MinInstances {
		return invalidf("removing %d instances would take the desired count %d below min_instance_number %d", len(picked), g.desired, g.cfg.MinInstances)
	}
	act := Activity{ID: w.uuid(), Start: w.now, InstanceValue: g.current(), ScalingValue: -len(picked)}
	for _, in := range picked {
		in.Removing = w.now
		act.Removed = append(act.Removed, in.Name)
		act.instances = append(act.instances, in)
	}
	act.Deleted = act.Removed
	g.desired -= len(picked)
	act.DesireValue = g.desired
	act.Description = fmt.Sprintf("remove %d instances on request", len(picked))
	g.addActivity(act)
	return nil
}

// SetDemandMultiplier scales a group's demand (all groups when name is empty), for demo spikes.
func (w *World) SetDemandMultiplier(name string, m float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m < 0 || math.IsNaN(m) || math.IsInf(m, 0) {
		return invalidf("multiplier %g must be a finite number >= 0", m)
	}
	if name == "" {
		for _, g := range w.groups {
			g.multiplier = m
		}
		return nil
	}
	g, err := w.lookup(name)
	if err != nil {
		return err
	}
	g.multiplier = m
	return nil
}
