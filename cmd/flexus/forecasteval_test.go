package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedTraces is /work/shared/traces seen from this package (the repository is /work/main).
const sharedTraces = "../../../shared/traces"

func sharedTrace(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(sharedTraces, name)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("trace %s: %v", path, err)
		}
		t.Skipf("trace %s not present next to the repository: %v", path, err)
	}
	return path
}

func TestForecastEvalJSONIsKeyedByHorizonThenModel(t *testing.T) {
	var out, errOut bytes.Buffer
	path := sharedTrace(t, "ec2_cpu_utilization_5f5533.csv")
	code := run([]string{"forecast-eval", "--trace", path, "--horizon", "15m", "--horizon", "1h", "--format", "json"}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got map[string]map[string]struct {
		SMAPE              float64 `json:"smape"`
		MASE               float64 `json:"mase"`
		Origins            int     `json:"origins"`
		Pinball            float64 `json:"pinball"`
		IntervalCoverage90 float64 `json:"interval_coverage_90"`
		QuantileOrigins    int     `json:"quantile_origins"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	for _, h := range []string{"15m", "1h"} {
		for _, m := range []string{"linear", "holt", "holt_winters", "seasonal_naive", "auto"} {
			s, ok := got[h][m]
			if !ok || s.Origins < 4000 || s.SMAPE <= 0 || s.SMAPE > 2 || s.MASE <= 0 {
				t.Errorf("%s %s: %+v (present %v)", h, m, s, ok)
			}
			// The goal for calibrated intervals on every shared trace.
			if s.QuantileOrigins < 3500 || s.IntervalCoverage90 < 0.87 || s.IntervalCoverage90 > 0.93 || s.Pinball <= 0 {
				t.Errorf("%s %s: 90%% interval coverage %.3f over %d origins, pinball %v: want 0.87..0.93",
					h, m, s.IntervalCoverage90, s.QuantileOrigins, s.Pinball)
			}
		}
		if got[h]["auto"].SMAPE >= got[h]["linear"].SMAPE {
			t.Errorf("%s: auto sMAPE %v is not below predict_linear's %v", h, got[h]["auto"].SMAPE, got[h]["linear"].SMAPE)
		}
	}
}

func TestForecastEvalBoundsScoreWhatSeesTheFuture(t *testing.T) {
	var out, errOut bytes.Buffer
	path := sharedTrace(t, "elb_request_count_8c0756.csv")
	code := run([]string{"forecast-eval", "--trace", path, "--horizon", "15m", "--bounds", "--format", "json"}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got map[string]map[string]struct {
		SMAPE      float64 `json:"smape"`
		Origins    int     `json:"origins"`
		WorstShare float64 `json:"worst_1pct_share"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	for _, m := range []string{"ensemble", "auto", "bound_hindsight_lags", "bound_centered_median"} {
		s, ok := got["15m"][m]
		if !ok || s.Origins < 2000 || s.SMAPE <= 0 || s.SMAPE > 2 || s.WorstShare <= 0.01 || s.WorstShare >= 1 {
			t.Errorf("15m %s: %+v (present %v), want scored over 2000 origins with the worst 1%% carrying more than 1%%", m, s, ok)
		}
	}
}

func TestForecastEvalTextNamesSkippedHorizons(t *testing.T) {
	var out, errOut bytes.Buffer
	path := sharedTrace(t, "nyc_taxi.csv")
	code := run([]string{"forecast-eval", "--trace", path, "--horizon", "15m", "--horizon", "1h"}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"trace nyc_taxi: 10320 samples every 30m0s", "seasonal_naive", "auto vs linear", "cover90", "15m skipped: not a multiple of the trace step 30m0s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestForecastEvalReportsBadTraces(t *testing.T) {
	var out, errOut bytes.Buffer
	path := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(path, []byte("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code := run([]string{"forecast-eval", "--trace", path}, &out, &errOut, func(string) string { return "" })
	if code != 1 || !strings.Contains(errOut.String(), `line 3: value \"x\" is not a finite number`) {
		t.Errorf("exit %d, stderr %s", code, errOut.String())
	}
}
