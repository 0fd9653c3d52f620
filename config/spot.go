package config

import (
	"math"
	"strconv"
	"time"
)

// Spot runs an ecs group as a mixed fleet: a base of on-demand servers and
// the rest on spot, as AWS's mixed-instances policy does. Spot servers cost
// less and may be reclaimed by the cloud at any time; the actuator replaces
// the capacity it loses without waiting for the score to rise.
type Spot struct {
	// OnDemandBase is how many servers stay on demand; servers above it are
	// created on spot (0: every server is spot).
	OnDemandBase int `yaml:"on_demand_base"`
	// MaxPrice is the most an hour of a spot server may cost, sent as ECS
	// extendparam.spotPrice; empty bids the on-demand price (ECS's default).
	MaxPrice string `yaml:"max_price"`
	// CheckInterval is how often the actuator looks for reclaimed servers.
	CheckInterval time.Duration `yaml:"check_interval"`
}

// DefaultSpotCheckInterval is how often reclaims are looked for by default:
// a reclaimed spot server is gone without notice to the API, so this is
// most of the time capacity stays missing before a replacement is created.
const DefaultSpotCheckInterval = 30 * time.Second

// UnmarshalYAML defaults the check interval.
func (s *Spot) UnmarshalYAML(unmarshal func(any) error) error {
	*s = Spot{CheckInterval: DefaultSpotCheckInterval}
	type spot Spot
	return unmarshal((*spot)(s))
}

// SpotBase returns the group's on-demand base and whether servers above it
// are spot: from spot:, or every server when the ecs template says spot: true.
func (g *Group) SpotBase() (base int, spot bool) {
	switch {
	case g.Spot != nil:
		return g.Spot.OnDemandBase, true
	case g.ECS != nil && g.ECS.Spot:
		return 0, true
	}
	return 0, false
}

// validateSpot returns problems with paths relative to the group.
func (g *Group) validateSpot() error {
	s := g.Spot
	if s == nil {
		return nil
	}
	switch {
	case g.Backend != BackendECS:
		return fieldError("spot", "needs backend ecs: an Auto Scaling group's market type is set in its AS configuration, not by flexus")
	case g.ECS != nil && g.ECS.Spot:
		return fieldError("ecs.spot", "true makes every server spot, while spot: keeps an on-demand base: remove ecs.spot (spot.on_demand_base: 0 is every server on spot)")
	case s.OnDemandBase < 0:
		return fieldError("spot.on_demand_base", "%d is negative", s.OnDemandBase)
	case s.OnDemandBase > g.MaxInstances:
		return fieldError("spot.on_demand_base", "%d is above max_instances %d: no server could ever be spot; lower it or remove spot:", s.OnDemandBase, g.MaxInstances)
	case s.CheckInterval <= 0:
		return fieldError("spot.check_interval", "%s must be positive, e.g. 30s", s.CheckInterval)
	}
	if s.MaxPrice != "" {
		// ECS takes the bid as a decimal string per hour; it must be at
		// least the market price and at most the on-demand price
		// (docs/cloud-api.md, ecs-spot-price), which only the cloud knows.
		p, err := strconv.ParseFloat(s.MaxPrice, 64)
		if err != nil || math.IsNaN(p) || math.IsInf(p, 0) || p <= 0 {
			return fieldError("spot.max_price", "%q is not a positive price per hour: write a decimal such as \"0.05\", or leave it empty to bid the on-demand price", s.MaxPrice)
		}
	}
	return nil
}
