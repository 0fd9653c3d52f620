package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBacktestComparesSpotWithOnDemandWhenGivenAReclaimRate(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"backtest", "--trace", "../../backtest/testdata/elb_2days.csv", "--rules", "../../rules",
		"--policy", "static-peak,oracle", "--format", "json", "--spot.reclaim-rate", "0.05", "--spot.on-demand-base", "2"}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
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
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if got.Base != 2 || len(got.Policies) != 2 {
		t.Fatalf("base %d, %d policies: %s", got.Base, len(got.Policies), out.String())
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

	out.Reset()
	if code := run([]string{"backtest", "--trace", "../../backtest/testdata/elb_2days.csv", "--rules", "../../rules",
		"--policy", "oracle", "--spot.reclaim-rate", "0.05", "--spot.discount", "1.5"}, &out, &errOut, func(string) string { return "" }); code == 0 ||
		!strings.Contains(errOut.String(), "--spot.discount 1.5 is outside (0, 1)") {
		t.Fatalf("a discount above 1: exit %d, %s", code, errOut.String())
	}
}
