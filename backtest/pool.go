package backtest

import (
	"fmt"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// PoolOptions model a warm pool: stopped instances a scale-out starts
// before it creates new ones, and a scale-in stops instead of deleting
// while the pool has room (docs/actuator.md, "Warm pool"). The pool starts
// full. A start serves after StartDelay instead of the boot delay (warm-up
// applies after both); a stopped instance costs StoppedCost of a running
// one, its disk.
type PoolOptions struct {
	// Size is how many stopped instances the group keeps (0: no pool).
	Size int
	// StartDelay is how long a started instance takes to serve, warm-up
	// aside (default 15 s, a third of simcloud's 45 s boot).
	StartDelay time.Duration
	// StoppedCost is a stopped instance-hour as a fraction of a running one
	// (default simcloud's: the x1.2u.4g flavour's 40 GB disk at 0.35 a
	// GB-month over its 0.25 CNY an hour, 0.077).
	StoppedCost float64
}

// backtestFlavor is the flavour the backtest's world runs.
const backtestFlavor = "x1.2u.4g"

func (p PoolOptions) withDefaults() (PoolOptions, error) {
	if p.StartDelay == 0 {
		p.StartDelay = 15 * time.Second
	}
	if p.StoppedCost == 0 {
		r, err := world.PoolConfig{DiskPricePerGBHour: world.DefaultDiskPricePerGBHour}.StoppedCostRatio(backtestFlavor)
		if err != nil {
			return p, err
		}
		p.StoppedCost = r
	}
	switch {
	case p.Size < 0:
		return p, fmt.Errorf("backtest: --warm-pool %d is negative: use 0 (no pool) or more", p.Size)
	case p.StartDelay < 0:
		return p, fmt.Errorf("backtest: --warm-pool.start-delay %s is negative", p.StartDelay)
	case p.StoppedCost < 0 || p.StoppedCost > 1:
		return p, fmt.Errorf("backtest: --warm-pool.stopped-cost %v must be a fraction of a running instance's price, within 0..1", p.StoppedCost)
	}
	return p, nil
}

// PoolFromConfig is the warm pool of the replayed group, as its config
// writes it (zero without one).
func PoolFromConfig(c *config.Config, group string) PoolOptions {
	if c == nil {
		return PoolOptions{}
	}
	g, ok := c.Group(group)
	if group == "" && len(c.Groups) > 0 {
		g, ok = &c.Groups[0], true
	}
	if !ok || g.WarmPool == nil {
		return PoolOptions{}
	}
	return PoolOptions{Size: g.WarmPool.Size, StartDelay: g.WarmPool.StartTime}
}

// world is the pool as the world models it: the disk price is set so that
// the world's own cost agrees with StoppedCost.
func (p PoolOptions) world() world.PoolConfig {
	f, _ := world.LookupFlavor(backtestFlavor)
	return world.PoolConfig{Size: p.Size, StartDelay: p.StartDelay, DiskPricePerGBHour: p.StoppedCost * f.PricePerHour / float64(f.DiskGB)}
}

// billed is what a replay cost, in instance-hours: running instances in
// full, stopped ones at StoppedCost.
func (p PoolOptions) billed(st world.GroupState) (total, pooled float64) {
	pooled = st.StoppedSeconds / 3600
	return st.CostInstanceSeconds/3600 + pooled*p.StoppedCost, pooled
}

// feature is the pool as a comparison names it: without and with, and what
// the pool itself cost.
func (p PoolOptions) feature() (feature, error) {
	p, err := p.withDefaults()
	if err != nil {
		return feature{}, err
	}
	return feature{
		name:   "warm pool",
		runs:   [2]string{"without", "with"},
		setup:  fmt.Sprintf("warm pool of %d, start %s, a stopped instance at %.3f of a running one", p.Size, p.StartDelay, p.StoppedCost),
		params: map[string]any{"warm_pool": p.Size, "start_delay_seconds": p.StartDelay.Seconds(), "stopped_cost": p.StoppedCost},
		cause:  "the pool",
		extra: []column{{"of which pool h", func(f RunFigures) string {
			return fmt.Sprintf("%.1f", f.PoolHours*p.StoppedCost)
		}}},
	}, nil
}
