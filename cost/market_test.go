package cost

import (
	"math"
	"testing"
)

func TestSplitMarkets(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		inService, knownOD, knownSpot int
		base                          int
		spot                          bool
		want                          Markets
	}{
		{"the cloud's markets are taken as listed", 3, 1, 2, 1, true, Markets{OnDemand: 1, Spot: 2}},
		{"an on-demand group with nothing known is on demand", 4, 0, 0, 0, false, Markets{OnDemand: 4}},
		{"unknown instances fill the base first, then spot", 5, 0, 0, 2, true, Markets{OnDemand: 2, Spot: 3}},
		{"unknown instances top the known on-demand ones up to the base", 4, 1, 1, 2, true, Markets{OnDemand: 2, Spot: 2}},
		{"all spot with a base of 0", 3, 0, 0, 0, true, Markets{Spot: 3}},
		{"a spot server the cloud lists is spot whatever the config", 2, 1, 1, 0, false, Markets{OnDemand: 1, Spot: 1}},
		{"more known than in service keeps the on-demand ones", 2, 1, 3, 1, true, Markets{OnDemand: 1, Spot: 1}},
		{"an empty group", 0, 0, 0, 1, true, Markets{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SplitMarkets(tc.inService, tc.knownOD, tc.knownSpot, tc.base, tc.spot)
			if got != tc.want || got.Total() != tc.inService {
				t.Fatalf("SplitMarkets(%d, od %d, spot %d, base %d, %v) = %+v, want %+v", tc.inService, tc.knownOD, tc.knownSpot, tc.base, tc.spot, got, tc.want)
			}
		})
	}
}

func TestMarketPricesChargeEachInstanceAtItsMarket(t *testing.T) {
	p := Pricing{SpotDiscount: 0.7}
	prices, err := p.ResolveMarkets("x1.2u.4g", map[string]Quote{"x1.2u.4g": {PerHour: 0.25}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(prices.OnDemand.PerHour-0.25) > 1e-12 || math.Abs(prices.Spot.PerHour-0.075) > 1e-12 {
		t.Fatalf("prices %+v, want 0.25 on demand and 0.075 spot", prices)
	}
	m := Markets{OnDemand: 1, Spot: 2}
	if got := prices.Rate(m); math.Abs(got-(0.25+2*0.075)) > 1e-12 {
		t.Errorf("Rate(1 on demand, 2 spot) = %g, want %g", got, 0.25+2*0.075)
	}
	if got := prices.Rate(Markets{OnDemand: 3}); math.Abs(got-Rate(3, prices.OnDemand)) > 1e-12 {
		t.Errorf("an all on-demand rate %g differs from Rate %g", got, Rate(3, prices.OnDemand))
	}
	// Scale-in gives up spot first: one idle is spot, three idle reach the base.
	for idle, want := range map[int]float64{0: 0, 1: 0.075, 2: 0.15, 3: 0.4, 9: 0.4} {
		if got := prices.IdleRate(m, idle); math.Abs(got-want) > 1e-12 {
			t.Errorf("IdleRate(%d) = %g, want %g", idle, got, want)
		}
	}
	if _, err := p.ResolveMarkets("x1.4u.8g", nil); err == nil {
		t.Error("a flavour without a price must be refused")
	}
}

func TestSpotDiscountDefaultsAsTheBacktest(t *testing.T) {
	var p Pricing
	p.SetDefaults()
	if p.SpotDiscount != DefaultSpotDiscount || DefaultSpotDiscount != 0.7 {
		t.Fatalf("default spot discount %g (DefaultSpotDiscount %g), want 0.7 as backtest --spot.discount", p.SpotDiscount, DefaultSpotDiscount)
	}
	p = Pricing{SpotDiscount: 0.5}
	p.SetDefaults()
	if p.SpotDiscount != 0.5 {
		t.Fatalf("a set spot discount became %g", p.SpotDiscount)
	}
}
