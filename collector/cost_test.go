package collector

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/cost"
)

// costSeries publishes one group through c and returns "name{k=v,...}" → value.
func costSeries(t *testing.T, c *costs, now time.Time, u costUsage) map[string]float64 {
	t.Helper()
	b := newBuilder()
	c.publish(b, now, u)
	out := map[string]float64{}
	for _, m := range b.snap.metrics {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		var ls []string
		for _, l := range pb.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(ls)
		name := m.Desc().String()
		name = name[strings.Index(name, `fqName: "`)+9:]
		name = name[:strings.Index(name, `"`)]
		v := pb.GetGauge().GetValue()
		if pb.Counter != nil {
			v = pb.GetCounter().GetValue()
		}
		out[fmt.Sprintf("%s{%s}", name, strings.Join(ls, ","))] = v
	}
	return out
}

func newTestCosts(p cost.Pricing) *costs {
	return newCosts(p, nil, "cn-north-4", nil, func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	})
}

func TestCostSeries(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	pricing := cost.Pricing{SpotDiscount: 0.5, Flavors: map[string]cost.FlavorPrice{
		"x1.2u.4g":  {Hourly: 0.4},
		"x1.4u.8g":  {Monthly: 730},
		"x1.8u.16g": {Hourly: 1.6},
	}}
	targets := map[string]float64{"cpu": 0.6, "memory": 0.7}
	for _, tc := range []struct {
		name string
		u    costUsage
		want map[string]float64
		none []string
	}{
		{"the rate is in-service instances times the configured price; half the CPU target leaves half idle",
			costUsage{group: "web", flavor: "x1.2u.4g", inService: 10, markets: cost.Markets{OnDemand: 10}, util: map[string]float64{"cpu": 0.3}, targets: targets, rps: math.NaN()},
			map[string]float64{
				"flexus_instance_price_per_hour{currency=CNY,flavor=x1.2u.4g,group=web,source=config}": 0.4,
				"flexus_cost_rate_per_hour{currency=CNY,group=web}":                                    4,
				"flexus_idle_instances{group=web}":                                                     5,
				"flexus_idle_cost_rate_per_hour{currency=CNY,group=web}":                               2,
			}, []string{"flexus_cost_per_thousand_requests"}},
		{"spot instances get the spot discount",
			costUsage{group: "batch", flavor: "x1.8u.16g", spot: true, inService: 2, markets: cost.Markets{Spot: 2}, util: map[string]float64{"cpu": 0.6}, targets: targets, rps: math.NaN()},
			map[string]float64{"flexus_cost_rate_per_hour{currency=CNY,group=batch}": 1.6}, nil},
		{"a spot group with an on-demand base is charged each instance at its market; idle capacity is the spot given up first",
			costUsage{group: "mixed", flavor: "x1.2u.4g", inService: 3, markets: cost.Markets{OnDemand: 1, Spot: 2}, util: map[string]float64{"cpu": 0.2}, targets: targets, rps: math.NaN()},
			map[string]float64{
				"flexus_instance_price_per_hour{currency=CNY,flavor=x1.2u.4g,group=mixed,source=config}": 0.4,
				"flexus_cost_rate_per_hour{currency=CNY,group=mixed}":                                    0.4 + 2*0.2,
				"flexus_idle_instances{group=mixed}":                                                     2,
				"flexus_idle_cost_rate_per_hour{currency=CNY,group=mixed}":                               2 * 0.2,
			}, nil},
		{"a monthly plan is priced per hour and named as a plan",
			costUsage{group: "db", flavor: "x1.4u.8g", inService: 3, markets: cost.Markets{OnDemand: 3}, util: map[string]float64{}, targets: targets, rps: math.NaN()},
			map[string]float64{"flexus_instance_price_per_hour{currency=CNY,flavor=x1.4u.8g,group=db,source=plan}": 1},
			[]string{"flexus_idle_instances"}},
		{"with a request rate the cost of 1,000 requests is published",
			costUsage{group: "api", flavor: "x1.2u.4g", inService: 9, markets: cost.Markets{OnDemand: 9}, util: map[string]float64{"cpu": 0.6}, targets: targets, rps: 1},
			map[string]float64{"flexus_cost_per_thousand_requests{currency=CNY,group=api}": 3.6 / 3600 * 1000}, nil},
		{"a flavour without a price publishes nothing",
			costUsage{group: "gpu", flavor: "pi2.2xlarge.4", inService: 2, markets: cost.Markets{OnDemand: 2}, util: map[string]float64{"cpu": 0.5}, targets: targets, rps: math.NaN()},
			nil, []string{"flexus_cost_rate_per_hour", "flexus_instance_price_per_hour"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := costSeries(t, newTestCosts(pricing), t0, tc.u)
			for k, v := range tc.want {
				if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9 {
					t.Errorf("%s = %v (present %v), want %v; got %v", k, g, ok, v, got)
				}
			}
			for _, prefix := range tc.none {
				for k := range got {
					if strings.HasPrefix(k, prefix+"{") {
						t.Errorf("%s should be absent", k)
					}
				}
			}
		})
	}
}

func TestCostTotalChargesEachRateForItsTime(t *testing.T) {
	c := newTestCosts(cost.Pricing{Flavors: map[string]cost.FlavorPrice{"x1.2u.4g": {Hourly: 1}}})
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	u := costUsage{group: "web", flavor: "x1.2u.4g", inService: 2, markets: cost.Markets{OnDemand: 2}, rps: math.NaN()}
	costSeries(t, c, t0, u)
	u.inService, u.markets = 4, cost.Markets{OnDemand: 4}
	costSeries(t, c, t0.Add(30*time.Minute), u)   // 2 instances for half an hour: 1
	got := costSeries(t, c, t0.Add(time.Hour), u) // 4 for half an hour: 2
	if v := got["flexus_cost_total{currency=CNY,group=web}"]; math.Abs(v-3) > 1e-9 {
		t.Fatalf("cost total %g, want 3", v)
	}
}

// x1ListPrices prices the x1 family at 0.1 a vCPU-hour and 0.025 a GiB-hour.
func x1ListPrices() map[string]cost.FlavorPrice {
	prices := map[string]cost.FlavorPrice{}
	for _, f := range cost.Family(cost.FlexusX(), "x1") {
		prices[f.Name] = cost.FlavorPrice{Hourly: 0.1*float64(f.VCPUs) + 0.025*f.MemoryGiB}
	}
	return prices
}

func TestRightSizingWaitsForADayOfHistory(t *testing.T) {
	c := newTestCosts(cost.Pricing{Flavors: x1ListPrices()})
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// CPU-bound: CPU at target, memory nearly idle, on a memory-rich flavour.
	u := costUsage{group: "web", flavor: "x1.2u.8g", inService: 10, markets: cost.Markets{OnDemand: 10}, util: map[string]float64{"cpu": 0.6, "memory": 0.1},
		targets: map[string]float64{"cpu": 0.6, "memory": 0.7}, rps: math.NaN()}
	var got map[string]float64
	for m := 0; m <= 25*60; m += 60 {
		got = costSeries(t, c, t0.Add(time.Duration(m)*time.Minute), u)
		if m < 24*60 && got["flexus_rightsize_info{flavor=x1.2u.8g,group=web,recommended_flavor=x1.2u.8g}"] != 1 {
			t.Fatalf("after %d minutes the advice changed already: %v", m, got)
		}
	}
	if got["flexus_rightsize_saving_per_hour{currency=CNY,group=web}"] <= 0 {
		t.Fatalf("after a day a CPU-bound group on a memory-rich flavour should be advised a cheaper one: %v", got)
	}
	for k := range got {
		if strings.HasPrefix(k, "flexus_rightsize_info{") && strings.Contains(k, "recommended_flavor=x1.2u.8g") {
			t.Errorf("still advised the present flavour: %s", k)
		}
	}
}

// A spot group with an on-demand base is right-sized at what it pays: the
// base on demand, the rest at the spot price (pricing.spot_discount 0.7 by
// default), for the present flavour and for the one advised.
func TestRightSizingPricesAMixedGroupAsItRuns(t *testing.T) {
	c := newTestCosts(cost.Pricing{Flavors: x1ListPrices()})
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	u := costUsage{group: "web", flavor: "x1.2u.8g", inService: 10, anySpot: true, base: 2, markets: cost.Markets{OnDemand: 2, Spot: 8},
		util: map[string]float64{"cpu": 0.6, "memory": 0.1}, targets: map[string]float64{"cpu": 0.6, "memory": 0.7}, rps: math.NaN()}
	var got map[string]float64
	for m := 0; m <= 25*60; m += 60 {
		got = costSeries(t, c, t0.Add(time.Duration(m)*time.Minute), u)
	}
	if got["flexus_rightsize_info{flavor=x1.2u.8g,group=web,recommended_flavor=x1.1u.1g}"] != 1 {
		t.Fatalf("advice: %v", got)
	}
	// 10 × x1.2u.8g (0.4 an hour on demand): 2 × 0.4 + 8 × 0.12 = 1.76;
	// 20 × x1.1u.1g (0.125): 2 × 0.125 + 18 × 0.0375 = 0.925. At on-demand
	// prices alone the saving would read 4.0 − 2.5 = 1.5.
	if v := got["flexus_rightsize_saving_per_hour{currency=CNY,group=web}"]; math.Abs(v-(1.76-0.925)) > 1e-9 {
		t.Errorf("saving %g per hour, want %g", v, 1.76-0.925)
	}
}

func TestMarketsOfReadsEachInstancesChargingMode(t *testing.T) {
	mixed := &config.Group{Name: "web", Backend: config.BackendECS, MaxInstances: 10, Spot: &config.Spot{OnDemandBase: 1}}
	plain := &config.Group{Name: "db", Backend: config.BackendECS, MaxInstances: 10}
	in := func(state, mode string) Instance {
		tags := map[string]string{"flexus-group": "web"}
		if mode != "" {
			tags[chargingMode] = mode
		}
		return Instance{ID: state + mode, Flavor: "x1.2u.4g", State: state, Tags: tags}
	}
	for _, tc := range []struct {
		name      string
		g         *config.Group
		instances []Instance
		want      cost.Markets
	}{
		{"spot servers are those ECS lists with charging_mode 2", mixed,
			[]Instance{in(StateInService, "0"), in(StateInService, "2"), in(StateInService, "2")}, cost.Markets{OnDemand: 1, Spot: 2}},
		{"servers not in service are not charged here", mixed,
			[]Instance{in(StateInService, "0"), in(StatePending, "2"), in(StateRemoving, "2"), in(StateInService, "2")}, cost.Markets{OnDemand: 1, Spot: 1}},
		{"a yearly/monthly server (charging_mode 1) is not spot", mixed,
			[]Instance{in(StateInService, "1"), in(StateInService, "2")}, cost.Markets{OnDemand: 1, Spot: 1}},
		{"servers of unknown market are placed as the config creates them", mixed,
			[]Instance{in(StateInService, ""), in(StateInService, ""), in(StateInService, "")}, cost.Markets{OnDemand: 1, Spot: 2}},
		{"an on-demand group is unchanged", plain,
			[]Instance{in(StateInService, "0"), in(StateInService, ""), in(StateInService, "0")}, cost.Markets{OnDemand: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, i := range tc.instances {
				if i.State == StateInService {
					n++
				}
			}
			if got := marketsOf(tc.g, tc.instances, n); got != tc.want {
				t.Fatalf("marketsOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}
