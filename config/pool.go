package config

import "time"

// WarmPool keeps stopped servers to start before creating new ones: a
// stopped pay-per-use server is billed for its disk only, and starting it
// is faster than creating and booting one (docs/actuator.md, "Warm pool").
// The ecs backend stops and starts them itself; an AS group is given AS's
// own warm pool of Size (PutWarmPool), which AS starts from.
type WarmPool struct {
	// Size is how many stopped managed servers the group keeps: a scale-in
	// stops servers until the pool holds Size and deletes the rest; a
	// scale-out starts pooled servers before it creates any.
	Size int `yaml:"size"`
	// StartTime is how long a pooled server takes from its start to serving,
	// warm-up aside (default 20s; scaling.boot_time is the create's). The
	// backtest replays the pool with it; the actuator reads a server being
	// started (powering-on) as booting from the cloud itself.
	StartTime time.Duration `yaml:"start_time"`
}

// UnmarshalYAML decodes a warm pool over its defaults.
func (p *WarmPool) UnmarshalYAML(unmarshal func(any) error) error {
	*p = WarmPool{StartTime: 20 * time.Second}
	type warmPool WarmPool
	return unmarshal((*warmPool)(p))
}

// PoolSize is the group's warm pool size, 0 without one.
func (g *Group) PoolSize() int {
	if g.WarmPool == nil {
		return 0
	}
	return g.WarmPool.Size
}

// validate checks a warm pool against its group; paths are relative to warm_pool.
func (p *WarmPool) validate(g *Group) error {
	switch {
	case p.Size < 0:
		return fieldError("size", "%d is negative: use 0 (no pool) or more", p.Size)
	case p.Size > g.MaxInstances:
		return fieldError("size", "%d is above max_instances %d: a pool larger than the group is never used up; lower it", p.Size, g.MaxInstances)
	case p.StartTime <= 0:
		return fieldError("start_time", "%s must be positive, e.g. 20s", p.StartTime)
	case g.Scaling.BootTime > 0 && p.StartTime >= g.Scaling.BootTime:
		return fieldError("start_time", "%s is not below scaling.boot_time %s: a pool would not shorten boots; measure the start and set it, or drop warm_pool", p.StartTime, g.Scaling.BootTime)
	}
	return nil
}
