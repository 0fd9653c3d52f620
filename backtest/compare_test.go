package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCompareRefusesRunsThatAddNoFeature(t *testing.T) {
	pool := Options{Pool: PoolOptions{Size: 2}}
	tests := []struct {
		name          string
		base, variant Options
		want          string
	}{
		{"the same options twice", Options{}, Options{}, "give --spot.reclaim-rate R, or --warm-pool N of at least 1"},
		{"a pool in both runs", pool, pool, "differ in neither spot nor a warm pool"},
		{"a pool whose stopped cost is above a running one", Options{}, Options{Pool: PoolOptions{Size: 2, StoppedCost: 1.5}}, "--warm-pool.stopped-cost 1.5 must be a fraction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compare(context.Background(), handMade(), []Policy{PolicyOracle}, tc.base, tc.variant)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// On spot the bill is not the instance-hours: cost/oracle is of the bill,
// against the oracle of the same run.
func TestCompareRatesTheBillAgainstTheSameRunsOracle(t *testing.T) {
	r := &Result{Figures: map[Policy]*Figures{
		PolicyOracle: {InstanceHours: 10, Spot: &SpotFigures{CostInstanceHours: 3}},
		PolicyTarget: {InstanceHours: 20, Spot: &SpotFigures{CostInstanceHours: 9, Reclaims: 4}},
	}}
	got := runFigures(r)
	if o := got[PolicyOracle]; o.CostRatioToOracle != 1 || o.Cost != 3 || o.InstanceHours != 10 {
		t.Errorf("oracle %+v, want ratio 1 of a bill of 3 for 10 instance-hours", o)
	}
	if tg := got[PolicyTarget]; tg.CostRatioToOracle != 3 || tg.Reclaims != 4 {
		t.Errorf("target %+v, want the bill's ratio 9/3 = 3 (not the hours' 2) and 4 reclaims", tg)
	}
	delete(r.Figures, PolicyOracle)
	if tg := runFigures(r)[PolicyTarget]; tg.CostRatioToOracle != 0 {
		t.Errorf("without an oracle the ratio is %v, want 0", tg.CostRatioToOracle)
	}
}

// Both features print through one writer: the same keys per run, the
// feature's settings on top, its own columns in the text.
func TestComparisonPrintsEveryFeatureAlike(t *testing.T) {
	spot := &SpotOptions{ReclaimPerHour: 0.5, Discount: 0.7, OnDemandBase: 1, ReplaceDelay: 30 * time.Second}
	tests := []struct {
		name     string
		variant  Options
		runs     [2]string
		params   map[string]float64
		text     []string
		variantF func(t *testing.T, run map[string]float64)
	}{
		{"warm pool", Options{Pool: PoolOptions{Size: 2}}, [2]string{"without", "with"},
			map[string]float64{"warm_pool": 2, "start_delay_seconds": 15},
			[]string{"warm pool of 2, start 15s", "of which pool h", "added by the pool"},
			func(t *testing.T, run map[string]float64) {
				if run["pool_hours"] <= 0 {
					t.Errorf("no pool hours with a pool of 2: %v", run)
				}
			}},
		{"spot", Options{Spot: spot}, [2]string{"on_demand", "spot"},
			map[string]float64{"on_demand_base": 1, "spot_discount": 0.7, "reclaim_rate_per_instance_hour": 0.5, "replace_delay_seconds": 30},
			[]string{"on spot, 1 on demand, the rest spot at 70% off", "reclaims", "added by reclaims"},
			func(t *testing.T, run map[string]float64) {
				if run["cost_on_demand_instance_hours"] >= run["instance_hours"] {
					t.Errorf("spot billed %v of %v instance-hours, want less", run["cost_on_demand_instance_hours"], run["instance_hours"])
				}
			}},
	}
	keys := []string{"cost_on_demand_instance_hours", "cost_ratio_to_oracle", "instance_hours", "pool_hours", "slo_violation_minutes", "spot_reclaims"}
	policies := []Policy{PolicyStaticPeak, PolicyOracle}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(context.Background(), handMade(), policies, Options{}, tc.variant)
			if err != nil {
				t.Fatal(err)
			}
			var js bytes.Buffer
			if err := c.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Trace    string                       `json:"trace"`
				Feature  string                       `json:"feature"`
				Runs     [2]string                    `json:"runs"`
				Policies []map[string]json.RawMessage `json:"policies"`
			}
			var top map[string]any
			if err := json.Unmarshal(js.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(js.Bytes(), &top); err != nil {
				t.Fatal(err)
			}
			if got.Trace != handMade().Name || got.Feature != tc.name || got.Runs != tc.runs || len(got.Policies) != len(policies) {
				t.Fatalf("trace %q, feature %q, runs %v, %d policies:\n%s", got.Trace, got.Feature, got.Runs, len(got.Policies), js.String())
			}
			for k, v := range tc.params {
				if top[k] != v {
					t.Errorf("%s is %v, want %v", k, top[k], v)
				}
			}
			for i, p := range got.Policies {
				var runs [2]map[string]float64
				for j, label := range tc.runs {
					if err := json.Unmarshal(p[label], &runs[j]); err != nil {
						t.Fatalf("policy %d run %q: %v in %s", i, label, err, js.String())
					}
					if k := slices.Sorted(maps.Keys(runs[j])); !slices.Equal(k, keys) {
						t.Errorf("run %q has keys %v, want %v", label, k, keys)
					}
				}
				var saved float64
				if err := json.Unmarshal(p["cost_saved_on_demand_instance_hours"], &saved); err != nil {
					t.Fatal(err)
				}
				if want := runs[0]["cost_on_demand_instance_hours"] - runs[1]["cost_on_demand_instance_hours"]; math.Abs(saved-want) > 1e-9 {
					t.Errorf("saved %v, want the base's bill minus the variant's, %v", saved, want)
				}
				if runs[0]["pool_hours"] != 0 || runs[0]["spot_reclaims"] != 0 {
					t.Errorf("the base run has the feature's figures: %v", runs[0])
				}
				tc.variantF(t, runs[1])
			}
			var text bytes.Buffer
			if err := c.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, s := range append(tc.text, "static-peak", "oracle", "cost/oracle") {
				if !strings.Contains(text.String(), s) {
					t.Errorf("text lacks %q:\n%s", s, text.String())
				}
			}
		})
	}
}
