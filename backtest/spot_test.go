package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/cost"
)

// The oracle runs at the SLO's edge, so capacity a reclaim takes away is
// a violation until the replacement serves; static-peak has headroom.
func TestSpotSavesCostAndReclaimsCostViolationMinutes(t *testing.T) {
	ctx := context.Background()
	policies := []Policy{PolicyOracle, PolicyStaticPeak}
	tests := []struct {
		name string
		spot SpotOptions
		// check states the rule on one policy's comparison.
		check func(t *testing.T, p Pair)
	}{
		{"without reclaims spot saves its discount on every hour above the base and costs no minute",
			SpotOptions{ReclaimPerHour: 0, Discount: 0.7, OnDemandBase: 0, ReplaceDelay: 30 * time.Second},
			func(t *testing.T, p Pair) {
				if p.Variant.Reclaims != 0 || p.ViolationMinutesAdded != 0 {
					t.Errorf("%s: %d reclaims and %+d violation minutes, want none", p.Policy, p.Variant.Reclaims, p.ViolationMinutesAdded)
				}
				if p.CostSavedRatio < 0.69 || p.CostSavedRatio > 0.71 {
					t.Errorf("%s: saved %.3f of the bill, want the discount 0.7 (every instance spot)", p.Policy, p.CostSavedRatio)
				}
			}},
		{"an on-demand base is billed in full: the saving shrinks",
			SpotOptions{ReclaimPerHour: 0, Discount: 0.7, OnDemandBase: 5, ReplaceDelay: 30 * time.Second},
			func(t *testing.T, p Pair) {
				if p.CostSaved <= 0 || p.CostSavedRatio >= 0.69 {
					t.Errorf("%s: saved %.1f h (%.3f of the bill), want some, less than the full discount", p.Policy, p.CostSaved, p.CostSavedRatio)
				}
			}},
		{"frequent reclaims cost violation minutes where there is no headroom, and spot still saves",
			SpotOptions{ReclaimPerHour: 0.5, Discount: 0.7, OnDemandBase: 0, ReplaceDelay: 30 * time.Second},
			func(t *testing.T, p Pair) {
				if p.Variant.Reclaims == 0 {
					t.Fatalf("%s: no reclaim at 0.5 per instance-hour over some 20 instance-hours", p.Policy)
				}
				if p.Policy == PolicyOracle && p.ViolationMinutesAdded <= 0 {
					t.Errorf("oracle: %d reclaims added %+d violation minutes, want some", p.Variant.Reclaims, p.ViolationMinutesAdded)
				}
				if p.CostSaved <= 0 {
					t.Errorf("%s: saved %.1f h", p.Policy, p.CostSaved)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spot := tc.spot
			c, err := Compare(ctx, handMade(), policies, Options{}, Options{Spot: &spot})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Policies) != len(policies) {
				t.Fatalf("%d policies compared, want %d", len(c.Policies), len(policies))
			}
			for _, p := range c.Policies {
				tc.check(t, p)
			}
		})
	}
}

func TestSpotComparisonIsReproducibleAndPrinted(t *testing.T) {
	spot := SpotOptions{ReclaimPerHour: 0.5, Discount: 0.7, ReplaceDelay: time.Minute}
	var outs [2]bytes.Buffer
	for i := range outs {
		c, err := Compare(context.Background(), handMade(), []Policy{PolicyOracle}, Options{}, Options{Spot: &spot})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WriteJSON(&outs[i]); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			var text bytes.Buffer
			if err := c.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "added by reclaims") || !strings.Contains(text.String(), "oracle") {
				t.Fatalf("text output:\n%s", text.String())
			}
		}
	}
	if outs[0].String() != outs[1].String() {
		t.Fatalf("the same seed gave two answers:\n%s\n%s", outs[0].String(), outs[1].String())
	}
	var parsed struct {
		Policies []struct {
			Spot struct {
				Reclaims int `json:"spot_reclaims"`
			} `json:"spot"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(outs[0].Bytes(), &parsed); err != nil || len(parsed.Policies) != 1 || parsed.Policies[0].Spot.Reclaims == 0 {
		t.Fatalf("JSON %v: %s", err, outs[0].String())
	}
}

func TestSpotOptionsComeFromTheConfig(t *testing.T) {
	c, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	spotCfg, err := config.Parse([]byte(`
cloud: {region: cn-north-4}
pricing: {spot_discount: 0.6}
groups:
  - name: web
    discovery: {tag: {key: flexus-group, value: web}}
    max_instances: 10
    ecs: {flavor: x1.2u.4g, image_id: img-1, vpc_id: vpc-1, subnet_id: sub-1}
    spot: {on_demand_base: 2, check_interval: 1m}
`))
	if err != nil {
		t.Fatal(err)
	}
	o, err := SpotOptionsFor(spotCfg, "web", 0.001, 0, -1)
	if err != nil || o.OnDemandBase != 2 || o.Discount != 0.6 || o.ReplaceDelay != time.Minute {
		t.Fatalf("from spot: and pricing: %+v %v; want base 2, discount 0.6, replaced after 1m", o, err)
	}
	tests := []struct {
		name         string
		rate, disc   float64
		base         int
		wantBase     int
		wantDiscount float64
		wantErr      string
	}{
		{"no spot: in the config: base 0 and the default discount", 0.001, 0, -1, 0, cost.DefaultSpotDiscount, ""},
		{"the flags win", 0.001, 0.5, 3, 3, 0.5, ""},
		{"a negative rate is refused", -1, 0, -1, 0, 0, "--spot.reclaim-rate -1 is negative"},
		{"a discount of 1 is refused", 0.001, 1, -1, 0, 0, "--spot.discount 1 is outside (0, 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := SpotOptionsFor(c, "", tc.rate, tc.disc, tc.base)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || o.OnDemandBase != tc.wantBase || o.Discount != tc.wantDiscount {
				t.Fatalf("%+v %v; want base %d, discount %v", o, err, tc.wantBase, tc.wantDiscount)
			}
		})
	}
}
