package collector

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/cost"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// TestSimcloudSpotGroupCostIsBlendedByMarket runs the exporter on the real
// SDK against simcloud with two ecs groups of x1.2u.4g: "mixed", spot with
// an on-demand base of 1 and 3 servers (simcloud creates the first on
// demand and the next two spot, and lists them with metadata charging_mode
// "0" and "2"), and "steady", 2 on-demand servers. Prices come from BSS.
func TestSimcloudSpotGroupCostIsBlendedByMarket(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.World.Groups = []world.GroupConfig{
		{Name: "mixed", ManagedBy: world.ManagedByECS, Flavor: "x1.2u.4g", MaxInstances: 10, DesiredInstances: 3,
			// Reclaims at a rate too small to draw one: the fleet stays 1 + 2.
			Spot:   world.SpotConfig{Enabled: true, OnDemandBase: 1, ReclaimPerHour: 1e-12},
			Demand: world.DemandConfig{Scenario: world.ScenarioConstant, PeakInstances: 3, Level: 0.5}},
		{Name: "steady", ManagedBy: world.ManagedByECS, Flavor: "x1.2u.4g", MaxInstances: 10, DesiredInstances: 2,
			Demand: world.DemandConfig{Scenario: world.ScenarioConstant, PeakInstances: 2, Level: 0.5}},
	}
	cfg.SetDefaults()
	clk := clock.NewFake(simStart)
	env := simcloudtest.Start(t, cfg, clk)
	clk.Advance(10 * time.Minute)
	if err := env.Server.Step(context.Background()); err != nil {
		t.Fatal(err)
	}

	y := fmt.Sprintf(`cloud:
  endpoint: %[1]s
  project_id: %[2]s
  domain_id: 0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d
  region: cn-north-4
  access_key: %[3]s
  secret_key: %[4]s
  max_retries: 1
  retry_base_delay: 10ms
  timeout: 5s
exporter:
  interval: 60s
groups:
  - name: mixed
    backend: ecs
    discovery:
      tag: {key: flexus-group, value: mixed}
    min_instances: 1
    max_instances: 10
    ecs: {flavor: x1.2u.4g, image_id: img-0001, vpc_id: vpc-0001, subnet_id: subnet-0001}
    spot: {on_demand_base: 1}
  - name: steady
    backend: ecs
    discovery:
      tag: {key: flexus-group, value: steady}
    min_instances: 1
    max_instances: 10
    ecs: {flavor: x1.2u.4g, image_id: img-0001, vpc_id: vpc-0001, subnet_id: subnet-0001}
`, env.URL, simcloudtest.ProjectID, simcloudtest.AccessKey, simcloudtest.SecretKey)
	loop := NewLoop(collectorFor(t, mustParse(t, y), nil), clk)
	if _, err := loop.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	got := map[string]float64{}
	for _, mf := range mustGather(t, reg) {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	if got["flexus_price_lookup_success{}"] != 1 {
		t.Fatalf("the BSS price lookup failed: %v", got)
	}

	// The on-demand price is simcloud's list price, what BSS quotes; spot
	// is billed at the market price, pricing.spot_discount (default 0.7)
	// off it, which is also simcloud's default spot.discount of 0.3.
	f, err := world.LookupFlavor("x1.2u.4g")
	if err != nil {
		t.Fatal(err)
	}
	onDemand := f.PricePerHour
	spot := onDemand * (1 - cost.DefaultSpotDiscount)
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{"flexus_cost_rate_per_hour{currency=CNY,group=mixed}", 1*onDemand + 2*spot},
		{"flexus_cost_rate_per_hour{currency=CNY,group=steady}", 2 * onDemand},
		// A mixed group's instance price stays the on-demand one, its base's market.
		{"flexus_instance_price_per_hour{currency=CNY,flavor=x1.2u.4g,group=mixed,source=api}", onDemand},
		{"flexus_instance_price_per_hour{currency=CNY,flavor=x1.2u.4g,group=steady,source=api}", onDemand},
	} {
		if v, ok := got[tc.series]; !ok || math.Abs(v-tc.want) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", tc.series, v, ok, tc.want)
		}
	}

	// What simcloud bills the mixed group for the next hour is that rate.
	before, err := env.World.Group("mixed")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := env.Server.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := env.World.Group("mixed")
	if err != nil {
		t.Fatal(err)
	}
	if after.SpotReclaims != 0 || after.InService != 3 {
		t.Fatalf("the mixed group changed: %d in service, %d reclaims", after.InService, after.SpotReclaims)
	}
	if billed, rate := after.Cost-before.Cost, got["flexus_cost_rate_per_hour{currency=CNY,group=mixed}"]; math.Abs(billed-rate) > 1e-6 {
		t.Errorf("simcloud billed %g for an hour of the mixed group, the exporter's rate is %g/h", billed, rate)
	}
}
