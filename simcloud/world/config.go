package world

import (
	"errors"
	"fmt"
	"time"

	"github.com/flexus-autoscaler/flexus/trace"
)

// How a group's instances are created and removed.
const (
	// ManagedByAS groups are Auto Scaling groups: AS keeps the instance count at
	// the desired count, replacing reclaimed spot instances.
	ManagedByAS = "as"
	// ManagedByECS groups are the servers that carry the group's tag; they are
	// created and deleted only through the ECS API.
	ManagedByECS = "ecs"
)

// Demand scenarios.
const (
	ScenarioConstant = "constant"
	ScenarioRamp     = "ramp"
	ScenarioDiurnal  = "diurnal"
	ScenarioSpike    = "spike"
	ScenarioTrace    = "trace"
)

// Config describes a world. Zero fields take the defaults named on each field.
type Config struct {
	// Seed makes the world deterministic: ids, noise and spot reclaims.
	Seed int64 `yaml:"seed"`
	// Tick is the integration step (default 10s, never above RawPeriod); RawPeriod must be a multiple of it.
	Tick time.Duration `yaml:"tick"`
	// RawPeriod is the Cloud Eye raw datapoint period (default 60s).
	RawPeriod time.Duration `yaml:"raw_period"`
	// PublicationDelay is how long a datapoint takes to become visible in Cloud Eye (default 60s).
	PublicationDelay time.Duration `yaml:"publication_delay"`
	// Retention is how much Cloud Eye history is kept (default 24h).
	Retention time.Duration `yaml:"retention"`
	Groups    []GroupConfig `yaml:"groups"`
}

// GroupConfig describes one scaling group.
type GroupConfig struct {
	Name string `yaml:"name"`
	// ID is the AS scaling group id; derived from the seed when empty.
	ID string `yaml:"id"`
	// ManagedBy is "as" or "ecs".
	ManagedBy string `yaml:"managed_by"`
	Flavor    string `yaml:"flavor"`
	// MinInstances and MaxInstances bound the AS desired count; for ECS groups
	// MaxInstances is the quota CreateServers enforces.
	MinInstances int `yaml:"min_instances"`
	MaxInstances int `yaml:"max_instances"`
	// DesiredInstances is the count at start (AS desired count, or ECS servers created at start).
	DesiredInstances int `yaml:"desired_instances"`
	// BootDelay is how long an instance takes before it serves (default 45s).
	BootDelay time.Duration `yaml:"boot_delay"`
	// HookWait is how long an AS lifecycle hook holds a booted instance
	// (PENDING_WAIT) before it serves (default 0: no hook).
	HookWait time.Duration `yaml:"hook_wait"`
	// WarmUp is how long a booted instance warms up (caches, JIT) before it
	// serves: the cloud reports it in service, but it takes no load (default 0).
	WarmUp time.Duration `yaml:"warm_up"`
	// RemoveDelay is how long a removed instance stays (and is billed) before it is gone (default 10s).
	RemoveDelay time.Duration `yaml:"remove_delay"`
	// CapacityPerInstance is the requests per second one serving instance handles at 100% (default 100).
	CapacityPerInstance float64 `yaml:"capacity_per_instance"`
	// Tag marks the servers of an ECS group (default key "flexus-group", value the group name).
	Tag   Tag         `yaml:"tag"`
	Spot  SpotConfig  `yaml:"spot"`
	Queue QueueConfig `yaml:"queue"`
	// ELBID is the lbaas_instance_id of the group's load balancer in SYS.ELB metrics; derived when empty.
	ELBID   string        `yaml:"elb_id"`
	Service ServiceConfig `yaml:"service"`
	Demand  DemandConfig  `yaml:"demand"`
	// Pool is how its instances stop and start, and an AS group's warm pool (pool.go).
	Pool PoolConfig `yaml:"pool"`
}

// Tag is a server tag key=value.
type Tag struct {
	Key   string `yaml:"key" json:"key"`
	Value string `yaml:"value" json:"value"`
}

// SpotConfig makes AS-created instances spot instances.
type SpotConfig struct {
	Enabled bool `yaml:"enabled"`
	// ReclaimPerHour is the chance per instance-hour that a spot instance is reclaimed (default 0.05).
	ReclaimPerHour float64 `yaml:"reclaim_per_hour"`
	// Discount is the spot price as a fraction of on-demand (default 0.3).
	Discount float64 `yaml:"discount"`
	// OnDemandBase keeps an AS group's first instances on demand: only
	// instances above it are spot, and a scale-in removes spot ones first.
	OnDemandBase int `yaml:"on_demand_base"`
	// ReplaceDelay is how long an AS group takes to replace a reclaimed
	// instance (default 0: at the next tick); the actuator's spot check
	// interval for an ecs group.
	ReplaceDelay time.Duration `yaml:"replace_delay"`
}

// QueueConfig names the group's request queue in DMS metrics and Redis.
type QueueConfig struct {
	// KafkaInstanceID is the dimension of SYS.DMS group_msgs, the backlog of
	// every consumer group of the instance (derived when empty). Groups that
	// share an instance publish the sum of their queues, as DMS does.
	KafkaInstanceID string `yaml:"kafka_instance_id"`
	// ConsumerGroup names the group's consumers; DMS has no per-group series.
	ConsumerGroup string `yaml:"consumer_group"`
	// RabbitMQInstanceID is the dimension of SYS.DMS messages_ready (derived
	// when empty), summed over the groups sharing the instance.
	RabbitMQInstanceID string `yaml:"rabbitmq_instance_id"`
	// RabbitMQQueue names the group's queue; DMS has no per-queue series.
	RabbitMQQueue string `yaml:"rabbitmq_queue"`
	// RedisKey, when set, is a Redis list simcloud keeps as long as the queue.
	RedisKey string `yaml:"redis_key"`
	// Limit is the most requests the queue holds; beyond it requests are dropped as errors (default 1e6).
	Limit float64 `yaml:"limit"`
}

// ServiceConfig is how the application in the group answers.
type ServiceConfig struct {
	// BaseLatency is the response time of an idle instance (default 150ms).
	BaseLatency time.Duration `yaml:"base_latency"`
	// Timeout is the longest a request waits before it fails (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// BaseErrorRate is the error ratio when not overloaded (default 0.001).
	BaseErrorRate float64 `yaml:"base_error_rate"`
	// IdleCPU and IdleMemory are utilisation percentages of an idle serving instance (defaults 5 and 30).
	IdleCPU    float64 `yaml:"idle_cpu"`
	IdleMemory float64 `yaml:"idle_memory"`
}

// DemandConfig is the group's incoming request rate. The shape runs 0..1 and
// is scaled so that its peak needs PeakInstances instances at TargetUtilization.
type DemandConfig struct {
	Scenario          string  `yaml:"scenario"`
	PeakInstances     float64 `yaml:"peak_instances"`
	TargetUtilization float64 `yaml:"target_utilization"`
	// Noise is the relative standard deviation of per-tick noise (default 0).
	Noise float64 `yaml:"noise"`
	// Level is the constant scenario's fraction of peak (default 1).
	Level float64 `yaml:"level"`
	// From and To are the ramp's start and end fractions over Duration.
	From     float64       `yaml:"from"`
	To       float64       `yaml:"to"`
	Duration time.Duration `yaml:"duration"`
	// Base is the diurnal and spike baseline fraction.
	Base float64 `yaml:"base"`
	// Period is the diurnal period (default 24h); PeakAt is the offset of its peak from the world start.
	Period time.Duration `yaml:"period"`
	PeakAt time.Duration `yaml:"peak_at"`
	// SpikeAt is when the first spike starts (offset from the world start), SpikeEvery repeats it when set.
	SpikeAt    time.Duration `yaml:"spike_at"`
	SpikeEvery time.Duration `yaml:"spike_every"`
	// TraceFile is read by the caller (simcloud's config loader) into Trace.
	TraceFile string `yaml:"trace_file"`
	// Trace is the workload, replayed from the world start (looped), normalised to its maximum.
	Trace *trace.Series `yaml:"-"`
	// TraceSpeedup replays the trace this many times faster (default 1).
	TraceSpeedup float64 `yaml:"trace_speedup"`

	traceMax float64
}

// SetDefaults fills zero fields with their defaults.
func (c *Config) SetDefaults() {
	if c.RawPeriod == 0 {
		c.RawPeriod = 60 * time.Second
	}
	if c.Tick == 0 {
		c.Tick = min(10*time.Second, c.RawPeriod)
	}
	if c.PublicationDelay == 0 {
		c.PublicationDelay = 60 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 24 * time.Hour
	}
	for i := range c.Groups {
		c.Groups[i].setDefaults()
	}
}

func (g *GroupConfig) setDefaults() {
	if g.BootDelay == 0 {
		g.BootDelay = 45 * time.Second
	}
	if g.RemoveDelay == 0 {
		g.RemoveDelay = 10 * time.Second
	}
	g.Pool.setDefaults(g.BootDelay)
	if g.CapacityPerInstance == 0 {
		g.CapacityPerInstance = 100
	}
	if g.Tag.Key == "" {
		g.Tag.Key = "flexus-group"
	}
	if g.Tag.Value == "" {
		g.Tag.Value = g.Name
	}
	if g.Spot.ReclaimPerHour == 0 {
		g.Spot.ReclaimPerHour = 0.05
	}
	if g.Spot.Discount == 0 {
		g.Spot.Discount = 0.3
	}
	if g.Queue.ConsumerGroup == "" {
		g.Queue.ConsumerGroup = g.Name + "-workers"
	}
	if g.Queue.RabbitMQQueue == "" {
		g.Queue.RabbitMQQueue = g.Name + "-requests"
	}
	if g.Queue.Limit == 0 {
		g.Queue.Limit = 1e6
	}
	s := &g.Service
	if s.BaseLatency == 0 {
		s.BaseLatency = 150 * time.Millisecond
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	if s.BaseErrorRate == 0 {
		s.BaseErrorRate = 0.001
	}
	if s.IdleCPU == 0 {
		s.IdleCPU = 5
	}
	if s.IdleMemory == 0 {
		s.IdleMemory = 30
	}
	d := &g.Demand
	if d.Scenario == "" {
		d.Scenario = ScenarioConstant
	}
	if d.TargetUtilization == 0 {
		d.TargetUtilization = 0.6
	}
	if d.Level == 0 && d.Scenario == ScenarioConstant {
		d.Level = 1
	}
	if d.Period == 0 {
		d.Period = 24 * time.Hour
	}
	if d.Duration == 0 {
		d.Duration = time.Hour
		if d.Scenario == ScenarioSpike {
			d.Duration = 10 * time.Minute
		}
	}
	if d.TraceSpeedup == 0 {
		d.TraceSpeedup = 1
	}
}

// Validate reports the first invalid field, named as in the YAML config.
func (c *Config) Validate() error {
	if c.Tick <= 0 || c.RawPeriod <= 0 || c.RawPeriod%c.Tick != 0 {
		return fmt.Errorf("world: raw_period %s must be a positive multiple of tick %s", c.RawPeriod, c.Tick)
	}
	if c.Tick < time.Second || c.Tick%time.Second != 0 {
		return fmt.Errorf("world: tick %s must be whole seconds", c.Tick)
	}
	if c.PublicationDelay < 0 {
		return fmt.Errorf("world: publication_delay %s must not be negative", c.PublicationDelay)
	}
	if c.Retention < c.RawPeriod {
		return fmt.Errorf("world: retention %s must be at least raw_period %s", c.Retention, c.RawPeriod)
	}
	if len(c.Groups) == 0 {
		return errors.New("world: groups: at least one group is needed")
	}
	names := map[string]bool{}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Name == "" {
			return fmt.Errorf("world: groups[%d].name is empty", i)
		}
		if names[g.Name] {
			return fmt.Errorf("world: groups[%d].name %q is used twice", i, g.Name)
		}
		names[g.Name] = true
		if err := g.validate(); err != nil {
			return fmt.Errorf("world: group %q: %w", g.Name, err)
		}
	}
	return nil
}

func (g *GroupConfig) validate() error {
	if g.ManagedBy != ManagedByAS && g.ManagedBy != ManagedByECS {
		return fmt.Errorf("managed_by %q must be %q or %q", g.ManagedBy, ManagedByAS, ManagedByECS)
	}
	if _, err := LookupFlavor(g.Flavor); err != nil {
		return fmt.Errorf("flavor: %w", err)
	}
	if g.MinInstances < 0 {
		return fmt.Errorf("min_instances %d must not be negative", g.MinInstances)
	}
	if g.MaxInstances < g.MinInstances || g.MaxInstances == 0 {
		return fmt.Errorf("max_instances %d must be at least 1 and at least min_instances %d", g.MaxInstances, g.MinInstances)
	}
	if g.DesiredInstances < g.MinInstances || g.DesiredInstances > g.MaxInstances {
		return fmt.Errorf("desired_instances %d must be within min_instances..max_instances (%d..%d)", g.DesiredInstances, g.MinInstances, g.MaxInstances)
	}
	if g.BootDelay < 0 || g.RemoveDelay < 0 || g.HookWait < 0 || g.WarmUp < 0 {
		return errors.New("boot_delay, remove_delay, hook_wait and warm_up must not be negative")
	}
	if g.CapacityPerInstance <= 0 {
		return fmt.Errorf("capacity_per_instance %g must be positive", g.CapacityPerInstance)
	}
	if g.Spot.ReclaimPerHour < 0 || g.Spot.Discount <= 0 || g.Spot.Discount > 1 {
		return errors.New("spot: reclaim_per_hour must not be negative and discount must be in (0, 1]")
	}
	if g.Queue.Limit < 0 {
		return fmt.Errorf("queue.limit %g must not be negative", g.Queue.Limit)
	}
	if g.Service.BaseErrorRate < 0 || g.Service.BaseErrorRate > 1 {
		return fmt.Errorf("service.base_error_rate %g must be within 0..1", g.Service.BaseErrorRate)
	}
	if g.Service.IdleCPU < 0 || g.Service.IdleCPU > 100 || g.Service.IdleMemory < 0 || g.Service.IdleMemory > 100 {
		return errors.New("service.idle_cpu and service.idle_memory are percentages within 0..100")
	}
	if err := g.Pool.validate(); err != nil {
		return err
	}
	return g.Demand.validate()
}

func (d *DemandConfig) validate() error {
	if d.PeakInstances < 0 {
		return fmt.Errorf("demand.peak_instances %g must not be negative", d.PeakInstances)
	}
	if d.TargetUtilization <= 0 || d.TargetUtilization > 1 {
		return fmt.Errorf("demand.target_utilization %g must be within (0, 1]", d.TargetUtilization)
	}
	if d.Noise < 0 || d.Noise > 1 {
		return fmt.Errorf("demand.noise %g must be within 0..1", d.Noise)
	}
	frac := func(name string, v float64) error {
		if v < 0 || v > 1 {
			return fmt.Errorf("demand.%s %g must be a fraction of peak within 0..1", name, v)
		}
		return nil
	}
	switch d.Scenario {
	case ScenarioConstant:
		return frac("level", d.Level)
	case ScenarioRamp:
		if err := frac("from", d.From); err != nil {
			return err
		}
		return frac("to", d.To)
	case ScenarioDiurnal:
		if d.Period <= 0 {
			return fmt.Errorf("demand.period %s must be positive", d.Period)
		}
		return frac("base", d.Base)
	case ScenarioSpike:
		if d.SpikeEvery < 0 || (d.SpikeEvery > 0 && d.SpikeEvery < d.Duration) {
			return fmt.Errorf("demand.spike_every %s must be longer than the spike duration %s", d.SpikeEvery, d.Duration)
		}
		return frac("base", d.Base)
	case ScenarioTrace:
		if d.Trace == nil {
			if d.TraceFile == "" {
				return errors.New("demand.trace_file is needed by the trace scenario")
			}
			return fmt.Errorf("demand.trace_file %q has not been loaded", d.TraceFile)
		}
		if len(d.Trace.Values) == 0 || d.Trace.Step <= 0 {
			return fmt.Errorf("demand.trace_file %q holds no values", d.TraceFile)
		}
		if d.TraceSpeedup <= 0 {
			return fmt.Errorf("demand.trace_speedup %g must be positive", d.TraceSpeedup)
		}
		return nil
	default:
		return fmt.Errorf("demand.scenario %q must be one of constant, ramp, diurnal, spike, trace", d.Scenario)
	}
}
