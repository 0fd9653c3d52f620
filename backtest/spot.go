package backtest

import (
	"fmt"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/cost"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// SpotOptions replay the group as a spot fleet with an on-demand base:
// instances above the base are spot, billed at (1 − Discount) of the
// on-demand price and reclaimed at random (seeded) at ReclaimPerHour; a
// reclaimed instance is replaced ReplaceDelay later, as the actuator does
// at its next spot check, and then boots like any other.
type SpotOptions struct {
	// ReclaimPerHour is the chance per spot instance-hour of a reclaim
	// (0: no reclaim, the discount alone).
	ReclaimPerHour float64
	// Discount is the share of the on-demand price spot saves, as
	// pricing.spot_discount (0.7: spot costs 30%).
	Discount float64
	// OnDemandBase is how many instances stay on demand (spot.on_demand_base).
	OnDemandBase int
	// ReplaceDelay is how long a reclaim goes unreplaced (spot.check_interval).
	ReplaceDelay time.Duration
}

// SpotOptionsFor reads the spot model from the group's config: its
// spot.on_demand_base and check_interval, and pricing.spot_discount. A
// negative base or a zero discount means "from the config".
func SpotOptionsFor(c *config.Config, group string, reclaimPerHour, discount float64, base int) (SpotOptions, error) {
	o := SpotOptions{ReclaimPerHour: reclaimPerHour, Discount: discount, OnDemandBase: base, ReplaceDelay: config.DefaultSpotCheckInterval}
	if c == nil {
		d, err := DefaultConfig()
		if err != nil {
			return o, err
		}
		c = d
	}
	g := &c.Groups[0]
	if group != "" {
		var ok bool
		if g, ok = c.Group(group); !ok {
			return o, fmt.Errorf("backtest: group %q is not in the config", group)
		}
	}
	if g.Spot != nil {
		o.ReplaceDelay = g.Spot.CheckInterval
		if o.OnDemandBase < 0 {
			o.OnDemandBase = g.Spot.OnDemandBase
		}
	}
	o.OnDemandBase = max(o.OnDemandBase, 0)
	if o.Discount == 0 {
		o.Discount = c.Pricing.SpotDiscount
	}
	if o.Discount == 0 {
		o.Discount = cost.DefaultSpotDiscount // the exporter charges the same
	}
	switch {
	case o.ReclaimPerHour < 0:
		return o, fmt.Errorf("backtest: --spot.reclaim-rate %v is negative: give the chance per spot instance-hour, e.g. 0.0003", o.ReclaimPerHour)
	case !(o.Discount > 0 && o.Discount < 1):
		return o, fmt.Errorf("backtest: --spot.discount %v is outside (0, 1): 0.7 means spot costs 30%% of on demand", o.Discount)
	}
	return o, nil
}

// world is the spot model as the world group's spot config; nil replays on demand.
func (o *SpotOptions) world() world.SpotConfig {
	if o == nil {
		return world.SpotConfig{}
	}
	// The world reads a zero rate as its default: a rate too small to
	// ever draw a reclaim stands for "none".
	rate := max(o.ReclaimPerHour, 1e-300)
	return world.SpotConfig{Enabled: true, ReclaimPerHour: rate, Discount: 1 - o.Discount, OnDemandBase: o.OnDemandBase, ReplaceDelay: o.ReplaceDelay}
}

// SpotFigures are what a spot replay adds to a policy's figures.
type SpotFigures struct {
	// CostInstanceHours is the bill in on-demand instance-hours: spot
	// hours count (1 − discount) each.
	CostInstanceHours float64 `json:"cost_on_demand_instance_hours"`
	Reclaims          int     `json:"spot_reclaims"`
}

// spotFigures reads the bill and the reclaims of a spot replay at its end.
func (o *SpotOptions) figures(st world.GroupState) *SpotFigures {
	if o == nil {
		return nil
	}
	f, err := world.LookupFlavor(st.Flavor)
	if err != nil || f.PricePerHour == 0 {
		return &SpotFigures{Reclaims: st.SpotReclaims}
	}
	return &SpotFigures{CostInstanceHours: st.Cost / f.PricePerHour, Reclaims: st.SpotReclaims}
}

// feature is spot as a comparison names it: on demand and on spot, and the
// reclaims.
func (o *SpotOptions) feature() feature {
	return feature{
		name: "spot",
		runs: [2]string{"on_demand", "spot"},
		setup: fmt.Sprintf("on spot, %d on demand, the rest spot at %.0f%% off, reclaimed at %g per instance-hour, replaced after %s",
			o.OnDemandBase, o.Discount*100, o.ReclaimPerHour, o.ReplaceDelay),
		params: map[string]any{"reclaim_rate_per_instance_hour": o.ReclaimPerHour, "spot_discount": o.Discount,
			"on_demand_base": o.OnDemandBase, "replace_delay_seconds": o.ReplaceDelay.Seconds()},
		cause: "reclaims",
		extra: []column{{"reclaims", func(f RunFigures) string { return fmt.Sprint(f.Reclaims) }}},
	}
}
