package collector

import (
	"context"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/cost"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// rightSizeWindow is how much utilisation history right-sizing weighs: a
// week holds every weekday and the weekend once.
const rightSizeWindow = 7 * 24 * time.Hour

// rightSizeMinSpan is the least history advice is given on: a day holds the
// daily peak once. Before that the present flavour is published, saving 0.
const rightSizeMinSpan = 24 * time.Hour

// costs publishes what each group spends, wastes and could save (package
// cost), from the prices BSS gives, looked up at start and every
// pricing.refresh, or set under pricing: in the config.
type costs struct {
	pricing cost.Pricing
	billing hwcloud.Billing // nil: prices come from the config only
	region  string
	logger  *slog.Logger
	d       costDescs

	mu      sync.Mutex
	quotes  map[string]cost.Quote
	fetched time.Time // last lookup that answered, even in part
	tried   time.Time
	ok      bool
	meters  map[string]*cost.Meter
	window  map[string][]timedSample
}

type timedSample struct {
	at time.Time
	cost.Sample
}

type costDescs struct {
	price, rate, total, idle, idleRate, perRequests, rightSize, saving, lookupOK, lookupTime *prometheus.Desc
}

// costUsage is what the collection knows of a group for its cost.
type costUsage struct {
	group, flavor string
	// spot is true when the config makes every server spot (ecs.spot, or
	// spot.on_demand_base 0): the price series and right-sizing use that
	// market. markets is where the in-service instances actually run, as
	// ECS lists them: the rate charges each at its market.
	spot bool
	// anySpot and base are how the actuator runs the group: with spot on,
	// the first base servers on demand and the rest spot; right-sizing
	// prices each flavour's fleet that way.
	anySpot   bool
	base      int
	inService int
	markets   cost.Markets
	// util are the group's utilisation signals (cpu, memory, gpu) and
	// targets their targets; rps is requests per second, NaN when unknown.
	util, targets map[string]float64
	rps           float64
}

func newCosts(p cost.Pricing, billing hwcloud.Billing, region string, logger *slog.Logger, d func(name, help string, labels ...string) *prometheus.Desc) *costs {
	p.SetDefaults()
	return &costs{
		pricing: p, billing: billing, region: region, logger: logger,
		quotes: map[string]cost.Quote{}, meters: map[string]*cost.Meter{}, window: map[string][]timedSample{},
		d: costDescs{
			price:       d("flexus_instance_price_per_hour", "What one instance of the group costs per hour, by flavour, currency and where the price came from (api: BSS, config, plan).", "group", "flavor", "currency", "source"),
			rate:        d("flexus_cost_rate_per_hour", "What the group's in-service instances cost per hour at present.", "group", "currency"),
			total:       d("flexus_cost_total", "What the group's instances have cost since the exporter started, in currency.", "group", "currency"),
			idle:        d("flexus_idle_instances", "In-service instances above what the present load needs at the signals' targets.", "group"),
			idleRate:    d("flexus_idle_cost_rate_per_hour", "What the idle instances cost per hour.", "group", "currency"),
			perRequests: d("flexus_cost_per_thousand_requests", "Cost of serving 1,000 requests at the present rate and traffic.", "group", "currency"),
			rightSize:   d("flexus_rightsize_info", "1 for the flavour of the group's family that would carry the last week's p95 load for the least money (the present flavour when none saves 5%, or with less than a day of history).", "group", "flavor", "recommended_flavor"),
			saving:      d("flexus_rightsize_saving_per_hour", "What the recommended flavour would save per hour at the last week's p95 load.", "group", "currency"),
			lookupOK:    d("flexus_price_lookup_success", "1 when the last price lookup (BSS ListOnDemandResourceRatings) priced every flavour in use."),
			lookupTime:  d("flexus_price_last_lookup_timestamp_seconds", "When prices were last looked up with an answer."),
		},
	}
}

// refresh looks the prices of flavors (and of their catalogue families, for
// right-sizing) up when the last lookup is older than pricing.refresh. A
// failed lookup is tried again after a tenth of that.
func (c *costs) refresh(ctx context.Context, now time.Time, flavors []string) {
	if c.billing == nil {
		return
	}
	c.mu.Lock()
	due := c.tried.IsZero() || now.Sub(c.fetched) >= c.pricing.Refresh && now.Sub(c.tried) >= c.pricing.Refresh/10
	c.mu.Unlock()
	if !due {
		return
	}
	want, inUse := map[string]bool{}, map[string]bool{}
	for _, f := range flavors {
		if _, ok := c.pricing.Flavors[f]; ok {
			continue
		}
		want[f], inUse[f] = true, true
		if fl, err := cost.ParseFlavor(f); err == nil {
			for _, alt := range cost.Family(cost.FlexusX(), fl.Family) {
				want[alt.Name] = true
			}
		}
	}
	if len(want) == 0 {
		return
	}
	names := make([]string, 0, len(want))
	for f := range want {
		names = append(names, f)
	}
	sort.Strings(names)
	got, err := c.billing.HourlyPrices(ctx, c.region, names)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tried = now
	if len(got) > 0 {
		c.fetched = now
	}
	for f, q := range got {
		c.quotes[f] = cost.Quote{PerHour: q.Amount, Currency: q.Currency}
	}
	// Success is a price for every flavour in use; the rest of a family
	// only widens right-sizing, and a region may not offer all of it.
	c.ok = true
	for f := range inUse {
		if _, ok := got[f]; !ok {
			c.ok = false
		}
	}
	switch {
	case err != nil && !c.ok && c.logger != nil:
		c.logger.Warn("looking up prices failed; cost metrics use the last prices and pricing: from the config", "err", err)
	case err != nil && c.logger != nil:
		c.logger.Debug("some flavours of the families in use have no price in the region; right-sizing skips them", "err", err)
	}
}

// publish adds the group's cost series.
func (c *costs) publish(b *builder, now time.Time, u costUsage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prices, err := c.pricing.ResolveMarkets(u.flavor, c.quotes)
	if err != nil || u.flavor == "" {
		return
	}
	price := prices.OnDemand
	if u.spot {
		price = prices.Spot
	}
	b.group(c.d.price, price.PerHour, u.group, u.flavor, price.Currency, string(price.Source))
	// Each instance at its market's price: a spot group's on-demand base
	// at the on-demand price, the rest at the spot price.
	rate := prices.Rate(u.markets)
	b.group(c.d.rate, rate, u.group, price.Currency)
	m := c.meters[u.group]
	if m == nil {
		m = &cost.Meter{}
		c.meters[u.group] = m
	}
	m.Observe(now, rate)
	b.add(c.d.total, prometheus.CounterValue, m.Total(), u.group, price.Currency)
	b.snap.series[u.group]++
	if needed, ok := cost.Needed(u.inService, u.util, u.targets); ok {
		idle := cost.Idle(u.inService, needed)
		b.group(c.d.idle, float64(idle), u.group)
		b.group(c.d.idleRate, prices.IdleRate(u.markets, idle), u.group, price.Currency)
	}
	if v, ok := cost.PerThousandRequests(rate, u.rps); ok {
		b.group(c.d.perRequests, v, u.group, price.Currency)
	}
	c.rightSize(b, now, u, prices)
}

// rightSize keeps the group's utilisation for a week and publishes the
// flavour that would carry it for the least money.
func (c *costs) rightSize(b *builder, now time.Time, u costUsage, prices cost.MarketPrices) {
	s := cost.Sample{Instances: u.inService, CPU: nan(u.util, "cpu"), Memory: nan(u.util, "memory"), GPU: nan(u.util, "gpu")}
	w := append(c.window[u.group], timedSample{at: now, Sample: s})
	for len(w) > 0 && now.Sub(w[0].at) > rightSizeWindow {
		w = w[1:]
	}
	c.window[u.group] = w
	samples := make([]cost.Sample, len(w))
	for i, t := range w {
		samples[i] = t.Sample
	}
	fleet := func(f cost.Flavor, n int) (float64, bool) {
		if f.Name == u.flavor {
			return prices.Fleet(n, u.base, u.anySpot), true
		}
		p, err := c.pricing.ResolveMarkets(f.Name, c.quotes)
		return p.Fleet(n, u.base, u.anySpot), err == nil && !p.OnDemand.Fixed
	}
	a, err := cost.RightSize(u.flavor, samples, cost.Targets{CPU: u.targets["cpu"], Memory: u.targets["memory"]}, cost.FlexusX(), fleet, cost.RightSizeOptions{})
	if err != nil {
		return
	}
	if now.Sub(w[0].at) < rightSizeMinSpan {
		a.Recommended, a.SavingPerHour = a.Current, 0
	}
	b.group(c.d.rightSize, 1, u.group, u.flavor, a.Recommended.Name)
	b.group(c.d.saving, a.SavingPerHour, u.group, prices.OnDemand.Currency)
}

// publishLookup adds the lookup's own health.
func (c *costs) publishLookup(b *builder) {
	if c.billing == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := 0.0
	if c.ok {
		ok = 1
	}
	b.add(c.d.lookupOK, prometheus.GaugeValue, ok)
	if !c.fetched.IsZero() {
		b.add(c.d.lookupTime, prometheus.GaugeValue, float64(c.fetched.UnixMilli())/1000)
	}
}

// forget drops the state of groups no longer configured.
func (c *costs) forget(keep map[string]*groupState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for g := range c.meters {
		if _, ok := keep[g]; !ok {
			delete(c.meters, g)
			delete(c.window, g)
		}
	}
}

func nan(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return math.NaN()
}

// setPricing takes a reloaded pricing: section; prices looked up stay.
func (c *costs) setPricing(p cost.Pricing) {
	p.SetDefaults()
	c.mu.Lock()
	c.pricing = p
	c.mu.Unlock()
}

// groupFlavor is the flavour most of the group's in-service instances have,
// or the ECS template's before any serves.
func groupFlavor(g *config.Group, instances []Instance) string {
	count := map[string]int{}
	best := ""
	for _, in := range instances {
		if in.State != StateInService || in.Flavor == "" {
			continue
		}
		count[in.Flavor]++
		if n := count[in.Flavor]; n > count[best] || n == count[best] && in.Flavor < best {
			best = in.Flavor
		}
	}
	if best == "" && g.ECS != nil {
		best = g.ECS.Flavor
	}
	return best
}

// costUsageOf is what buildGroup knows of the group's cost: its flavour,
// in-service count, utilisation against the targets and, with an ELB, its
// request rate.
func costUsageOf(st *groupState, inService int, sigs map[string]point, v cycleView) costUsage {
	g := &st.cfg
	base, spot := g.SpotBase()
	u := costUsage{group: g.Name, flavor: groupFlavor(g, st.members.instances), spot: spot && base == 0, anySpot: spot, base: base,
		inService: inService, markets: marketsOf(g, st.members.instances, inService),
		util: map[string]float64{}, targets: map[string]float64{}, rps: math.NaN()}
	for _, sig := range []string{config.SignalCPU, config.SignalMemory, config.SignalGPU} {
		if p, ok := sigs[sig]; ok {
			u.util[sig] = p.value
		}
		if s, ok := g.Signals[sig]; ok && s.Target > 0 {
			u.targets[sig] = s.Target
		}
	}
	if st.elb != nil {
		if p, ok := v.sample(st.elb.qps.key); ok {
			u.rps = p.value
		}
	}
	return u
}

// chargingMode is the ECS server metadata key that names its billing:
// "0" pay-per-use, "1" yearly/monthly, "2" spot (SDK ecs/v2
// model_server_detail.go, Metadata; docs/cloud-api.md, ecs-spot-market).
// Discovery copies metadata into the instance's tags.
const chargingMode = "charging_mode"

// marketsOf divides the group's in-service instances between the markets
// by the charging mode ECS lists for each; an instance whose mode is not
// known (an AS member not yet looked up) is placed as the config creates it.
// A yearly/monthly server is counted on demand: its plan price is the one
// pricing.flavors gives its flavour, as for any other.
func marketsOf(g *config.Group, instances []Instance, inService int) cost.Markets {
	var onDemand, spotN int
	for _, in := range instances {
		if in.State != StateInService {
			continue
		}
		switch mode, ok := in.Tags[chargingMode]; {
		case !ok:
		case mode == "2":
			spotN++
		default:
			onDemand++
		}
	}
	base, spot := g.SpotBase()
	return cost.SplitMarkets(inService, onDemand, spotN, base, spot)
}

// flavorsInUse are the flavours of every group, for the price lookup.
func (c *Collector) flavorsInUse() []string {
	seen := map[string]bool{}
	var out []string
	for _, name := range c.groupNames() {
		st := c.groups[name]
		if f := groupFlavor(&st.cfg, st.members.instances); f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}
