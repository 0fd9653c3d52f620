package cost

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseFlavor(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Flavor
		err      string
	}{
		{"default family", "x1.2u.4g", Flavor{Name: "x1.2u.4g", Family: "x1", VCPUs: 2, MemoryGiB: 4}, ""},
		{"performance mode family", "x1e.16u.64g", Flavor{Name: "x1e.16u.64g", Family: "x1e", VCPUs: 16, MemoryGiB: 64}, ""},
		{"ECS flavours carry no size in the name", "c7.large.2", Flavor{}, "not a Flexus X flavour"},
		{"a vCPU count must be a number", "x1.twou.4g", Flavor{}, "not a vCPU count"},
		{"memory must be positive", "x1.2u.0g", Flavor{}, "not a memory size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFlavor(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseFlavor(%q) error = %v, want it to say %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseFlavor(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestCatalogueNamesParseBackToTheirSizes(t *testing.T) {
	cat := FlexusX()
	if len(Family(cat, "x1")) == 0 || len(Family(cat, "x1e")) != len(Family(cat, "x1")) {
		t.Fatalf("both families should offer the same sizes: x1 %d, x1e %d", len(Family(cat, "x1")), len(Family(cat, "x1e")))
	}
	for _, f := range cat {
		p, err := ParseFlavor(f.Name)
		if err != nil || p != f {
			t.Errorf("catalogue entry %+v parses to %+v, %v", f, p, err)
		}
		if r := f.MemoryGiB / float64(f.VCPUs); r != 1 && r != 2 && r != 4 && r != 8 {
			t.Errorf("%s has memory ratio 1:%g, not one Flexus X offers", f.Name, r)
		}
	}
}

func TestPricingResolve(t *testing.T) {
	quotes := map[string]Quote{"x1.2u.4g": {PerHour: 0.4, Currency: "USD"}, "x1.1u.2g": {PerHour: 0.2}}
	p := Pricing{SpotDiscount: 0.75, Flavors: map[string]FlavorPrice{
		"x1.4u.8g":  {Hourly: 0.9},
		"x1.8u.16g": {Monthly: 730},
		"x1.8u.32g": {Yearly: 8760 * 2},
	}}
	for _, tc := range []struct {
		name   string
		flavor string
		spot   bool
		want   Price
		err    string
	}{
		{"the API's quote, in the API's currency", "x1.2u.4g", false, Price{PerHour: 0.4, Currency: "USD", Source: SourceAPI}, ""},
		{"a quote without currency is in the configured one", "x1.1u.2g", false, Price{PerHour: 0.2, Currency: "CNY", Source: SourceAPI}, ""},
		{"spot costs the discount less", "x1.2u.4g", true, Price{PerHour: 0.1, Currency: "USD", Source: SourceAPI}, ""},
		{"the config's hourly price wins over the API", "x1.4u.8g", false, Price{PerHour: 0.9, Currency: "CNY", Source: SourceConfig}, ""},
		{"a monthly plan is spread over 730 hours and fixed", "x1.8u.16g", false, Price{PerHour: 1, Currency: "CNY", Source: SourcePlan, Fixed: true}, ""},
		{"a yearly plan gets no spot discount", "x1.8u.32g", true, Price{PerHour: 2, Currency: "CNY", Source: SourcePlan, Fixed: true}, ""},
		{"no quote and no override names the field to set", "x1.16u.32g", false, Price{}, "set pricing.flavors.x1.16u.32g.hourly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Resolve(tc.flavor, tc.spot, quotes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || math.Abs(got.PerHour-tc.want.PerHour) > 1e-12 || got.Currency != tc.want.Currency || got.Source != tc.want.Source || got.Fixed != tc.want.Fixed {
				t.Fatalf("Resolve(%s, spot=%v) = %+v, %v; want %+v", tc.flavor, tc.spot, got, err, tc.want)
			}
		})
	}
}

func TestPricingValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Pricing
		err  string
	}{
		{"defaults are valid", Pricing{}, ""},
		{"spot discount above 95% is refused", Pricing{SpotDiscount: 0.99}, "pricing.spot_discount: 0.99 is outside"},
		{"a flavour needs exactly one price", Pricing{Flavors: map[string]FlavorPrice{"x1.2u.4g": {Hourly: 1, Monthly: 500}}}, "pricing.flavors.x1.2u.4g: set exactly one"},
		{"a flavour with no price is refused", Pricing{Flavors: map[string]FlavorPrice{"x1.2u.4g": {}}}, "set exactly one"},
		{"negative prices are refused", Pricing{Flavors: map[string]FlavorPrice{"x1.2u.4g": {Hourly: -1}}}, "must not be negative"},
		{"refresh below a minute is refused", Pricing{Refresh: time.Second}, "pricing.refresh: 1s is below 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.SetDefaults()
			err := tc.p.Validate()
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestNeededAndIdle(t *testing.T) {
	targets := map[string]float64{"cpu": 0.6, "memory": 0.7}
	for _, tc := range []struct {
		name      string
		instances int
		util      map[string]float64
		needed    int
		idle      int
		ok        bool
	}{
		{"at target nothing is idle", 10, map[string]float64{"cpu": 0.6}, 10, 0, true},
		{"half the target leaves half idle", 10, map[string]float64{"cpu": 0.3}, 5, 5, true},
		{"the busiest signal decides", 10, map[string]float64{"cpu": 0.3, "memory": 0.63}, 9, 1, true},
		{"above target nothing is idle", 4, map[string]float64{"cpu": 0.9}, 6, 0, true},
		{"an idle group still needs one instance", 3, map[string]float64{"cpu": 0}, 1, 2, true},
		{"signals without a target are skipped", 5, map[string]float64{"queue": 40}, 1, 4, false},
		{"an empty group needs nothing", 0, map[string]float64{"cpu": 0.9}, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := Needed(tc.instances, tc.util, targets)
			if n != tc.needed || ok != tc.ok || Idle(tc.instances, n) != tc.idle {
				t.Fatalf("Needed = %d, %v, idle %d; want %d, %v, idle %d", n, ok, Idle(tc.instances, n), tc.needed, tc.ok, tc.idle)
			}
		})
	}
}

func TestPerThousandRequests(t *testing.T) {
	got, ok := PerThousandRequests(3.6, 10) // 36,000 requests an hour for 3.6
	if !ok || math.Abs(got-0.1) > 1e-12 {
		t.Fatalf("PerThousandRequests(3.6/h, 10 rps) = %g, %v; want 0.1", got, ok)
	}
	if _, ok := PerThousandRequests(3.6, 0); ok {
		t.Fatal("without traffic there is no cost per request")
	}
}

func TestMeterChargesEachRateForTheTimeItWasInForce(t *testing.T) {
	var m Meter
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.Observe(t0, 2)                      // 2/h from now
	m.Observe(t0.Add(30*time.Minute), 4)  // 1 charged
	m.Observe(t0.Add(90*time.Minute), 0)  // 4 charged
	m.Observe(t0.Add(80*time.Minute), 10) // time going back charges nothing
	m.Observe(t0.Add(2*time.Hour), 0)     // the rate set last (10) for 30 minutes: 5
	if got := m.Total(); math.Abs(got-10) > 1e-9 {
		t.Fatalf("Total() = %g, want 10", got)
	}
}

func TestRightSize(t *testing.T) {
	// List prices proportional to 0.1 per vCPU-hour and 0.025 per GiB-hour.
	price := perInstance(func(f Flavor) float64 { return 0.1*float64(f.VCPUs) + 0.025*f.MemoryGiB })
	targets := Targets{CPU: 0.6, Memory: 0.7}
	steady := func(n int, cpu, mem float64) []Sample {
		var w []Sample
		for range 100 {
			w = append(w, Sample{Instances: n, CPU: cpu, Memory: mem, GPU: math.NaN()})
		}
		return w
	}
	for _, tc := range []struct {
		name     string
		current  string
		window   []Sample
		want     string
		instance int
		saving   bool
		reason   string
	}{
		{"a CPU-bound group with idle memory moves to less memory per vCPU", "x1.2u.8g", steady(10, 0.6, 0.1), "x1.1u.1g", 20, true, "CPU-bound"},
		{"a memory-bound group with idle CPU moves to more memory per vCPU", "x1.4u.4g", steady(10, 0.1, 0.7), "x1.1u.4g", 10, true, "memory-bound"},
		{"a balanced group stays", "x1.2u.4g", steady(10, 0.6, 0.7), "x1.2u.4g", 10, false, "keeps the cost lowest"},
		{"performance mode stays in its family", "x1e.2u.8g", steady(10, 0.6, 0.1), "x1e.1u.1g", 20, true, "CPU-bound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := RightSize(tc.current, tc.window, targets, FlexusX(), price, RightSizeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if a.Recommended.Name != tc.want || a.RecommendedInstances != tc.instance || (a.SavingPerHour > 0) != tc.saving || !strings.Contains(a.Reason, tc.reason) {
				t.Fatalf("advice = %s × %d saving %g (%s); want %s × %d, saving %v, reason with %q",
					a.Recommended.Name, a.RecommendedInstances, a.SavingPerHour, a.Reason, tc.want, tc.instance, tc.saving, tc.reason)
			}
			if a.Changed() && math.Abs(a.SavingPerHour-(a.CurrentPerHour-a.RecommendedPerHour)) > 1e-9 {
				t.Fatalf("saving %g is not current %g minus recommended %g", a.SavingPerHour, a.CurrentPerHour, a.RecommendedPerHour)
			}
		})
	}
}

func TestRightSizeFitsTheQuantileNotTheMean(t *testing.T) {
	price := perInstance(func(f Flavor) float64 { return 0.1*float64(f.VCPUs) + 0.025*f.MemoryGiB })
	// 90 quiet samples and 10 busy ones: the p95 is the busy level.
	var w []Sample
	for i := range 100 {
		cpu := 0.1
		if i%10 == 0 {
			cpu = 0.6
		}
		w = append(w, Sample{Instances: 10, CPU: cpu, Memory: 0.7, GPU: math.NaN()})
	}
	a, err := RightSize("x1.2u.4g", w, Targets{CPU: 0.6, Memory: 0.7}, FlexusX(), price, RightSizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Changed() {
		t.Fatalf("the busy tenth of the window needs the present CPU, yet %s was advised (%s)", a.Recommended.Name, a.Reason)
	}
}

func TestRightSizeRefuses(t *testing.T) {
	price := perInstance(func(f Flavor) float64 { return float64(f.VCPUs) })
	gpu := []Sample{{Instances: 2, CPU: 0.5, Memory: 0.5, GPU: 0.9}}
	a, err := RightSize("x1.2u.4g", gpu, Targets{CPU: 0.6, Memory: 0.7}, FlexusX(), price, RightSizeOptions{})
	if err != nil || a.Changed() || !strings.Contains(a.Reason, "GPUs in use") {
		t.Errorf("a group using GPUs: advice %+v, %v; want no change and the reason", a, err)
	}
	if _, err := RightSize("c7.large.2", gpu, Targets{CPU: 0.6, Memory: 0.7}, FlexusX(), price, RightSizeOptions{}); err == nil {
		t.Error("a flavour outside the catalogue must be refused")
	}
	noMem := []Sample{{Instances: 2, CPU: 0.5, Memory: math.NaN(), GPU: math.NaN()}}
	if _, err := RightSize("x1.2u.4g", noMem, Targets{CPU: 0.6, Memory: 0.7}, FlexusX(), price, RightSizeOptions{}); err == nil || !strings.Contains(err.Error(), "memory") {
		t.Errorf("without memory utilisation the advice must be refused, got %v", err)
	}
}

// perInstance prices a fleet at one price per instance.
func perInstance(price func(Flavor) float64) func(Flavor, int) (float64, bool) {
	return func(f Flavor, n int) (float64, bool) { return float64(n) * price(f), true }
}

// A group with an on-demand base and the rest on spot is right-sized at what
// it pays: a flavour that needs more instances puts the extra ones on spot.
func TestRightSizePricesAMixedFleetAsItRuns(t *testing.T) {
	list := func(f Flavor) float64 { return 0.1*float64(f.VCPUs) + 0.025*f.MemoryGiB }
	markets := func(f Flavor) MarketPrices {
		return MarketPrices{OnDemand: Price{PerHour: list(f)}, Spot: Price{PerHour: 0.3 * list(f)}}
	}
	var w []Sample
	for range 100 {
		w = append(w, Sample{Instances: 10, CPU: 0.6, Memory: 0.1, GPU: math.NaN()})
	}
	targets := Targets{CPU: 0.6, Memory: 0.7}
	mixed := func(f Flavor, n int) (float64, bool) { return markets(f).Fleet(n, 2, true), true }
	a, err := RightSize("x1.2u.8g", w, targets, FlexusX(), mixed, RightSizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 10 × x1.2u.8g: 2 on demand at 0.4, 8 on spot at 0.12.
	if want := 2*0.4 + 8*0.12; math.Abs(a.CurrentPerHour-want) > 1e-9 {
		t.Errorf("current %g per hour, want %g: the base on demand, the rest on spot", a.CurrentPerHour, want)
	}
	n := a.RecommendedInstances
	if want := 2*list(a.Recommended) + float64(n-2)*0.3*list(a.Recommended); math.Abs(a.RecommendedPerHour-want) > 1e-9 {
		t.Errorf("recommended %d × %s at %g per hour, want %g", n, a.Recommended.Name, a.RecommendedPerHour, want)
	}
}

func TestFleetPutsTheBaseOnDemand(t *testing.T) {
	p := MarketPrices{OnDemand: Price{PerHour: 1}, Spot: Price{PerHour: 0.3}}
	for _, tc := range []struct {
		n, base int
		spot    bool
		want    float64
	}{
		{5, 2, true, 2 + 3*0.3},
		{1, 2, true, 1},
		{5, 0, true, 5 * 0.3},
		{5, 2, false, 5},
	} {
		if got := p.Fleet(tc.n, tc.base, tc.spot); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Fleet(%d, base %d, spot %v) = %g, want %g", tc.n, tc.base, tc.spot, got, tc.want)
		}
	}
}
