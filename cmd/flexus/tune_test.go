package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

func TestTuneJSONHasDefaultRecommendedAndFrontierAndWritesTheConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	written := filepath.Join(t.TempDir(), "flexus.yml")
	code := run([]string{"tune", "--trace", "../../backtest/testdata/elb_2days.csv", "--rules", "../../rules", "--window", "1d",
		"--budget", "24", "--format", "json", "--write", written}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	type outcome struct {
		Settings      map[string]float64 `json:"settings"`
		InstanceHours float64            `json:"instance_hours"`
		Ratio         float64            `json:"cost_ratio_to_oracle"`
		Violations    *int               `json:"slo_violation_minutes"`
	}
	var got struct {
		Default     outcome `json:"default"`
		Recommended struct {
			outcome
			Changed bool   `json:"changed"`
			Config  string `json:"config"`
		} `json:"recommended"`
		Frontier []outcome `json:"frontier"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	for name, o := range map[string]outcome{"default": got.Default, "recommended": got.Recommended.outcome} {
		if o.InstanceHours <= 0 || o.Ratio <= 0 || o.Violations == nil || len(o.Settings) == 0 {
			t.Errorf("%s: %+v", name, o)
		}
	}
	if len(got.Frontier) == 0 || !strings.Contains(got.Recommended.Config, "signals:") {
		t.Errorf("frontier %d entries, config fragment %q", len(got.Frontier), got.Recommended.Config)
	}
	rec, def := got.Recommended, got.Default
	if *rec.Violations > *def.Violations || rec.InstanceHours > def.InstanceHours+1e-9 {
		t.Errorf("recommended (%g h, %d min) is worse than the default (%g h, %d min)", rec.InstanceHours, *rec.Violations, def.InstanceHours, *def.Violations)
	}
	c, err := config.Load(written)
	if err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	if v := c.Groups[0].Signals["cpu"].Target; v != rec.Settings["cpu.target"] {
		t.Errorf("written cpu target %g, recommended %g", v, rec.Settings["cpu.target"])
	}
	if v := c.Groups[0].Risk; v != rec.Settings["risk"] {
		t.Errorf("written risk %g, recommended %g", v, rec.Settings["risk"])
	}
	if v := c.Groups[0].Scaling.ScaleInStabilization.Seconds(); v != rec.Settings["scaling.scale_in_stabilization"] {
		t.Errorf("written scale_in_stabilization %gs, recommended %gs", v, rec.Settings["scaling.scale_in_stabilization"])
	}
}

func TestTuneWindow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"14d", 14 * 24 * time.Hour, false},
		{"72h", 72 * time.Hour, false},
		{"0", 0, false},
		{"1.5d", 36 * time.Hour, false},
		{"fortnight", 0, true},
		{"-1h", 0, true},
	} {
		got, err := parseWindow(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseWindow(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	tr := trace.Series{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Step: time.Hour, Values: make([]float64, 48)}
	last := lastOf(tr, 24*time.Hour)
	if len(last.Values) != 25 || !last.End().Equal(tr.End()) {
		t.Errorf("the last day of two is %d samples ending %v, want 25 ending %v", len(last.Values), last.End(), tr.End())
	}
	if all := lastOf(tr, 0); len(all.Values) != 48 {
		t.Errorf("window 0 kept %d samples, want all 48", len(all.Values))
	}
}

func TestTuneRefusesAMissingConfigFile(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"tune", "--trace", "../../backtest/testdata/elb_2days.csv", "--config.file", filepath.Join(os.TempDir(), "no-such-flexus.yml")},
		&out, &errOut, func(string) string { return "" })
	if code == 0 || !strings.Contains(errOut.String(), "no-such-flexus.yml") {
		t.Fatalf("exit %d, stderr %q: want a failure naming the file", code, errOut.String())
	}
}
