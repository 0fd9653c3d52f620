package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBacktestJSONIsKeyedByPolicyAndWritesTheReport(t *testing.T) {
	var out, errOut bytes.Buffer
	report := filepath.Join(t.TempDir(), "report.html")
	code := run([]string{"backtest", "--trace", "../../backtest/testdata/elb_2days.csv", "--rules", "../../rules",
		"--policy", "seed,predictive,static-peak,oracle", "--format", "json", "--report", report}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got map[string]struct {
		InstanceHours float64 `json:"instance_hours"`
		Violations    *int    `json:"slo_violation_minutes"`
		Ratio         float64 `json:"cost_ratio_to_oracle"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	for _, p := range []string{"seed", "predictive", "static-peak", "oracle"} {
		f, ok := got[p]
		if !ok || f.InstanceHours <= 0 || f.Violations == nil || f.Ratio <= 0 {
			t.Errorf("policy %s: %+v (present %v)", p, f, ok)
		}
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("predictive")) {
		t.Errorf("the report has no plot or no policy:\n%.500s", html)
	}
}

func TestBacktestRefusesABadTraceWithTheLine(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"backtest", "--trace", "../../backtest/testdata/bad/unsorted.csv", "--rules", "../../rules"}, &out, &errOut, func(string) string { return "" })
	if code == 0 || !strings.Contains(errOut.String(), "line 4") {
		t.Fatalf("exit %d, stderr %q: want a failure naming line 4", code, errOut.String())
	}
}

func TestBacktestWorkloadSourceErrorsNameTheFix(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no source", nil, "give --trace FILE or --prometheus.url"},
		{"two sources", []string{"--trace", "x.csv", "--prometheus.url", "http://127.0.0.1:1"}, "use one source"},
		{"Prometheus without a range", []string{"--prometheus.url", "http://127.0.0.1:1", "--query", "up"}, "needs --start and --end"},
		{"an unreadable --start", []string{"--prometheus.url", "http://127.0.0.1:1", "--query", "up", "--start", "yesterday", "--end", "2024-03-01 00:00"}, "--start: time"},
		{"a value column the file lacks", []string{"--trace", "../../trace/testdata/period_count.csv", "--value-column", "latency"}, "has no value column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"backtest", "--rules", "../../rules"}, tc.args...)
			if code := run(args, &out, &errOut, func(string) string { return "" }); code != 1 || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q: want exit 1 naming %q", code, errOut.String(), tc.want)
			}
		})
	}
}
