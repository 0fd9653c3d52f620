package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBacktestComparesSpotWithOnDemandWhenGivenAReclaimRate(t *testing.T) {
	code, out, errOut := backtestElb("--policy", "static-peak,oracle", "--format", "json", "--spot.reclaim-rate", "0.05", "--spot.on-demand-base", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Base     int `json:"on_demand_base"`
		Policies []struct {
			Policy string  `json:"policy"`
			Saved  float64 `json:"cost_saved_ratio"`
			Spot   struct {
				Reclaims int `json:"spot_reclaims"`
			} `json:"spot"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if got.Base != 2 || len(got.Policies) != 2 {
		t.Fatalf("base %d, %d policies: %s", got.Base, len(got.Policies), out)
	}
	for _, p := range got.Policies {
		if p.Saved <= 0 {
			t.Errorf("%s saved %.3f on spot", p.Policy, p.Saved)
		}
		// static-peak holds 8 spot instances for two days: about 19 reclaims expected.
		if p.Policy == "static-peak" && p.Spot.Reclaims == 0 {
			t.Errorf("static-peak: no reclaim over two days at 0.05 an instance-hour")
		}
	}

	if code, _, errOut := backtestElb("--policy", "oracle", "--spot.reclaim-rate", "0.05", "--spot.discount", "1.5"); code == 0 ||
		!strings.Contains(errOut, "--spot.discount 1.5 is outside (0, 1)") {
		t.Fatalf("a discount above 1: exit %d, %s", code, errOut)
	}
}
