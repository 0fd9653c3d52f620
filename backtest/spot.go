package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
	"github.com/flexus-autoscaler/flexus/trace"
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

// DefaultSpotDiscount is used when neither the flag nor pricing.spot_discount
// gives one: Huawei publishes no fixed spot discount (docs/cloud-api.md,
// ecs-spot-discount); 0.7 is simcloud's default market price of 30%.
const DefaultSpotDiscount = 0.7

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
		o.Discount = DefaultSpotDiscount
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

// SpotRun is one policy's replay on demand or on spot.
type SpotRun struct {
	InstanceHours float64 `json:"instance_hours"`
	// CostInstanceHours is the bill in on-demand instance-hours.
	CostInstanceHours float64 `json:"cost_on_demand_instance_hours"`
	ViolationMinutes  int     `json:"slo_violation_minutes"`
	Reclaims          int     `json:"spot_reclaims"`
}

// SpotPolicy compares one policy on demand and on spot.
type SpotPolicy struct {
	Policy   Policy  `json:"policy"`
	OnDemand SpotRun `json:"on_demand"`
	Spot     SpotRun `json:"spot"`
	// CostSaved is in on-demand instance-hours, CostSavedRatio its share of the on-demand bill.
	CostSaved      float64 `json:"cost_saved_on_demand_instance_hours"`
	CostSavedRatio float64 `json:"cost_saved_ratio"`
	// ViolationMinutesAdded is what reclaims cost: spot's minutes over the SLO minus on demand's.
	ViolationMinutesAdded int `json:"violation_minutes_added"`
}

// SpotComparison is a trace replayed on demand and on spot, per policy.
type SpotComparison struct {
	Trace               string       `json:"trace"`
	ReclaimPerHour      float64      `json:"reclaim_rate_per_instance_hour"`
	Discount            float64      `json:"spot_discount"`
	OnDemandBase        int          `json:"on_demand_base"`
	ReplaceDelaySeconds float64      `json:"replace_delay_seconds"`
	Policies            []SpotPolicy `json:"policies"`
}

// RunSpot replays tr twice for each policy, on demand and as the spot
// fleet spot describes, from the same start and seed, and compares them.
func RunSpot(ctx context.Context, tr trace.Series, policies []Policy, opts Options, spot SpotOptions) (*SpotComparison, error) {
	opts.Spot = nil
	onDemand, err := Run(ctx, tr, policies, opts)
	if err != nil {
		return nil, err
	}
	opts.Spot = &spot
	onSpot, err := Run(ctx, tr, policies, opts)
	if err != nil {
		return nil, err
	}
	out := &SpotComparison{Trace: tr.Name, ReclaimPerHour: spot.ReclaimPerHour, Discount: spot.Discount,
		OnDemandBase: spot.OnDemandBase, ReplaceDelaySeconds: spot.ReplaceDelay.Seconds()}
	for _, p := range onDemand.Order {
		od, sp := onDemand.Figures[p], onSpot.Figures[p]
		c := SpotPolicy{Policy: p,
			OnDemand: SpotRun{InstanceHours: od.InstanceHours, CostInstanceHours: od.InstanceHours, ViolationMinutes: od.ViolationMinutes},
			Spot:     SpotRun{InstanceHours: sp.InstanceHours, ViolationMinutes: sp.ViolationMinutes},
		}
		if sp.Spot != nil {
			c.Spot.CostInstanceHours, c.Spot.Reclaims = sp.Spot.CostInstanceHours, sp.Spot.Reclaims
		}
		c.CostSaved = c.OnDemand.CostInstanceHours - c.Spot.CostInstanceHours
		if c.OnDemand.CostInstanceHours > 0 {
			c.CostSavedRatio = c.CostSaved / c.OnDemand.CostInstanceHours
		}
		c.ViolationMinutesAdded = c.Spot.ViolationMinutes - c.OnDemand.ViolationMinutes
		out.Policies = append(out.Policies, c)
	}
	return out, nil
}

// WriteText prints one row per policy: the bill and the minutes over the
// SLO on demand and on spot, what spot saved and what its reclaims cost.
func (s *SpotComparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "trace %s on spot: %d on demand, the rest spot at %.0f%% off, reclaimed at %g per instance-hour, replaced after %s\n",
		s.Trace, s.OnDemandBase, s.Discount*100, s.ReclaimPerHour, time.Duration(s.ReplaceDelaySeconds*float64(time.Second)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\ton-demand cost h\tspot cost h\tsaved\treclaims\tSLO-violation min on demand\ton spot\tadded by reclaims\t")
	for _, p := range s.Policies {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f%%\t%d\t%d\t%d\t%+d\t\n", p.Policy, p.OnDemand.CostInstanceHours, p.Spot.CostInstanceHours,
			p.CostSavedRatio*100, p.Spot.Reclaims, p.OnDemand.ViolationMinutes, p.Spot.ViolationMinutes, p.ViolationMinutesAdded)
	}
	return tw.Flush()
}

// WriteJSON prints the comparison as one object.
func (s *SpotComparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
