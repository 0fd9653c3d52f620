package cost

// DefaultSpotDiscount is the spot discount when pricing.spot_discount is
// not set: the backtest's spot replay assumes the same (its
// --spot.discount default), so live and replayed costs agree. Huawei bills
// a spot server at the market price, not at its bid, and publishes no
// fixed discount (docs/cloud-api.md, ecs-spot-discount).
const DefaultSpotDiscount = 0.7

// Markets is how a group's in-service instances divide between the
// on-demand and the spot market.
type Markets struct {
	OnDemand, Spot int
}

// Total is every instance, whatever its market.
func (m Markets) Total() int { return m.OnDemand + m.Spot }

// SplitMarkets divides inService instances between the markets. knownSpot
// and knownOnDemand are the instances whose market the cloud reported
// (ECS metadata charging_mode); the rest are placed as the group's config
// creates them: without spot all on demand, with spot the first base on
// demand and the others spot. When more instances are known than are in
// service, the on-demand ones are kept first, as a scale-in gives up spot
// servers before the on-demand base.
func SplitMarkets(inService, knownOnDemand, knownSpot, base int, spot bool) Markets {
	n := max(inService, 0)
	m := Markets{OnDemand: min(max(knownOnDemand, 0), n)}
	m.Spot = min(max(knownSpot, 0), n-m.OnDemand)
	rest := n - m.Total()
	if !spot {
		m.OnDemand += rest
		return m
	}
	fill := min(rest, max(base-m.OnDemand, 0))
	m.OnDemand += fill
	m.Spot += rest - fill
	return m
}

// MarketPrices are one instance's price on each market.
type MarketPrices struct {
	OnDemand, Spot Price
}

// ResolveMarkets prices one instance of flavor on both markets (Resolve):
// spot at the spot discount off the on-demand price, a plan at its price on
// either.
func (p Pricing) ResolveMarkets(flavor string, quotes map[string]Quote) (MarketPrices, error) {
	od, err := p.Resolve(flavor, false, quotes)
	if err != nil {
		return MarketPrices{}, err
	}
	spot, err := p.Resolve(flavor, true, quotes)
	if err != nil {
		return MarketPrices{}, err
	}
	return MarketPrices{OnDemand: od, Spot: spot}, nil
}

// Rate is what the instances cost per hour, each at its market's price.
func (p MarketPrices) Rate(m Markets) float64 {
	return Rate(m.OnDemand, p.OnDemand) + Rate(m.Spot, p.Spot)
}

// Fleet is what n instances cost per hour as the actuator runs a group:
// the first base on demand and the rest on spot when spot is on, all on
// demand otherwise.
func (p MarketPrices) Fleet(n, base int, spot bool) float64 {
	if !spot {
		return p.Rate(Markets{OnDemand: n})
	}
	od := min(max(base, 0), n)
	return p.Rate(Markets{OnDemand: od, Spot: n - od})
}

// IdleRate is what idle of the instances cost per hour: those a scale-in
// would remove, spot first (the actuator keeps the on-demand base longest).
func (p MarketPrices) IdleRate(m Markets, idle int) float64 {
	idle = min(max(idle, 0), m.Total())
	spot := min(idle, m.Spot)
	return p.Rate(Markets{OnDemand: idle - spot, Spot: spot})
}
