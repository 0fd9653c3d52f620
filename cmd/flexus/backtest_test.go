package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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
		{"a bound under the oracle's cost", []string{"--trace", "../../backtest/testdata/elb_2days.csv", "--bound", "0.9"}, "must be at least 1"},
		{"a bound with a sweep", []string{"--trace", "../../backtest/testdata/elb_2days.csv", "--bound", "1.3", "--sweep"}, "drop --sweep"},
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

// The command's flags reach Prometheus's range query API as given; the reader
// itself is tested against a real prometheus in package trace.
func TestBacktestReadsTheWorkloadFromPrometheus(t *testing.T) {
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.URL.Path != "/api/v1/query_range" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		forms = append(forms, r.Form)
		mu.Unlock()
		from, _ := strconv.ParseInt(r.Form.Get("start"), 10, 64)
		to, _ := strconv.ParseInt(r.Form.Get("end"), 10, 64)
		var vals []string
		for ts := from; ts <= to; ts += 60 {
			vals = append(vals, fmt.Sprintf(`[%d,"%d"]`, ts, 50+ts/60%30))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[%s]}]}}`, strings.Join(vals, ","))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run([]string{"backtest", "--rules", "../../rules", "--policy", "seed", "--format", "json",
		"--prometheus.url", srv.URL, "--query", `sum(rate(http_requests_total{job="web"}[5m]))`,
		"--start", start.Format(time.RFC3339), "--end", start.Add(6 * time.Hour).Format(time.RFC3339)}, &out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if len(forms) != 1 {
		t.Fatalf("%d requests, want 1 for 361 samples", len(forms))
	}
	f := forms[0]
	if f.Get("query") != `sum(rate(http_requests_total{job="web"}[5m]))` || f.Get("step") != "60" ||
		f.Get("start") != strconv.FormatInt(start.Unix(), 10) || f.Get("end") != strconv.FormatInt(start.Add(6*time.Hour).Unix(), 10) {
		t.Errorf("Prometheus was asked %v", f)
	}
	if !strings.Contains(out.String(), `"seed"`) {
		t.Errorf("no seed result in %s", out.String())
	}
}

func TestBacktestComparesAWarmPoolWithNone(t *testing.T) {
	code, out, errOut := backtestElb("--policy", "static-peak,oracle", "--format", "json", "--warm-pool", "2", "--warm-pool.start-delay", "20s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	type figures struct {
		PoolHours *float64 `json:"pool_hours"`
	}
	var got struct {
		Size     int     `json:"warm_pool"`
		Start    float64 `json:"start_delay_seconds"`
		Policies []struct {
			Policy  string  `json:"policy"`
			Without figures `json:"without"`
			With    figures `json:"with"`
		} `json:"policies"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if got.Size != 2 || got.Start != 20 || len(got.Policies) != 2 {
		t.Fatalf("pool %d, start %vs, %d policies: %s", got.Size, got.Start, len(got.Policies), out)
	}
	for _, p := range got.Policies {
		if p.Without.PoolHours == nil || *p.Without.PoolHours != 0 || p.With.PoolHours == nil || *p.With.PoolHours <= 0 {
			t.Errorf("%s: pool hours %v without, %v with: only the pooled run keeps stopped instances", p.Policy, p.Without.PoolHours, p.With.PoolHours)
		}
	}

	if code, _, errOut := backtestElb("--policy", "oracle", "--warm-pool", "2", "--warm-pool.stopped-cost", "1.5"); code == 0 ||
		!strings.Contains(errOut, "--warm-pool.stopped-cost 1.5 must be a fraction") {
		t.Fatalf("a stopped cost above 1: exit %d, %s", code, errOut)
	}
}

// backtestElb runs the backtest command on the two-day ELB trace with the
// project's rules and args, and returns its exit code, stdout and stderr.
func backtestElb(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"backtest", "--trace", "../../backtest/testdata/elb_2days.csv", "--rules", "../../rules"}, args...),
		&out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestBacktestBoundPrintsEachLag(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"backtest", "--trace", "../../backtest/testdata/elb_2days.csv", "--rules", "../../rules", "--bound", "1.3", "--bound.scale-in-hold", "15m"},
		&out, &errOut, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"within 1.300× the oracle, scaling in after 15 min", "lag min", "headroom k"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if rows := strings.Count(out.String(), "\n"); rows != 7 {
		t.Errorf("%d lines, want a title, a header and lags 0..4:\n%s", rows, out.String())
	}
}
