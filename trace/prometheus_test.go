package trace

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// countingTransport counts the requests that reach the server.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// prometheusWithHistory starts a real prometheus on a free loopback port over a
// TSDB backfilled by promtool with two gauges, one sample a minute for three
// hours ending an hour ago: flexus_test_requests = i%17 and
// flexus_test_other = 1. It returns the server URL and the first sample's time.
func prometheusWithHistory(t *testing.T) (string, time.Time) {
	t.Helper()
	prom := testenv.Binary(t, "prometheus", "prometheus")
	promtool := testenv.Binary(t, "promtool", "prometheus")
	dir := t.TempDir()
	first := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	var om strings.Builder
	om.WriteString("# TYPE flexus_test_requests gauge\n")
	for i := 0; i <= 180; i++ {
		fmt.Fprintf(&om, "flexus_test_requests %d %d\n", i%17, first.Add(time.Duration(i)*time.Minute).Unix())
	}
	om.WriteString("# TYPE flexus_test_other gauge\n")
	for i := 0; i <= 180; i++ {
		fmt.Fprintf(&om, "flexus_test_other 1 %d\n", first.Add(time.Duration(i)*time.Minute).Unix())
	}
	om.WriteString("# EOF\n")
	omPath := filepath.Join(dir, "history.om")
	if err := os.WriteFile(omPath, []byte(om.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", omPath, data).CombinedOutput(); err != nil {
		t.Fatalf("promtool backfill: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreePort(t)
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prom, "--config.file="+cfg, "--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=30d", "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
	})
	base := "http://" + addr
	// Ready means the TSDB, backfilled blocks included, is open.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus did not become ready%s", testenv.Tail(logPath, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return base, first
}

func TestReadPrometheusPagesThroughTheRange(t *testing.T) {
	base, first := prometheusWithHistory(t)
	ctx := context.Background()

	t.Run("the series is read whole, in pages of at most PagePoints samples", func(t *testing.T) {
		counter := &countingTransport{}
		client := &http.Client{Transport: counter}
		q := PrometheusQuery{URL: base, Query: "flexus_test_requests", Start: first, End: first.Add(180 * time.Minute), Step: time.Minute, PagePoints: 50}
		s, err := ReadPrometheus(ctx, client, q, "web")
		if err != nil {
			t.Fatal(err)
		}
		if !s.Start.Equal(first) || s.Step != time.Minute || s.Len() != 181 || s.Name != "web" {
			t.Fatalf("start %v step %v len %d name %q, want %v 1m 181 web", s.Start, s.Step, s.Len(), s.Name, first)
		}
		for i, v := range s.Values {
			if v != float64(i%17) {
				t.Fatalf("sample %d = %v, want %d (what was backfilled)", i, v, i%17)
			}
		}
		// 181 samples in pages of 50.
		if n := counter.n.Load(); n != 4 {
			t.Errorf("%d requests, want 4", n)
		}
	})

	t.Run("a coarser step reads the sample at each step", func(t *testing.T) {
		q := PrometheusQuery{URL: base, Query: "flexus_test_requests", Start: first, End: first.Add(60 * time.Minute), Step: 5 * time.Minute}
		s, err := ReadPrometheus(ctx, http.DefaultClient, q, "web")
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 13 || s.Values[1] != 5 || s.Values[4] != float64(20%17) {
			t.Errorf("values %v, want every fifth sample", s.Values)
		}
	})

	for _, tc := range []struct {
		name string
		q    PrometheusQuery
		want string
	}{
		{"a query matching two series asks for an aggregation",
			PrometheusQuery{Query: `{__name__=~"flexus_test_.*"}`}, "returned 2 series"},
		{"a query matching nothing says so",
			PrometheusQuery{Query: "flexus_test_absent"}, "returned no samples"},
		{"a query Prometheus refuses carries its error",
			PrometheusQuery{Query: "sum(("}, "bad_data"},
		{"a range needing more requests than allowed is refused before any request",
			PrometheusQuery{Query: "flexus_test_requests", PagePoints: 10, MaxRequests: 3}, "more than the 3 allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := &countingTransport{}
			q := tc.q
			q.URL, q.Start, q.End = base, first, first.Add(180*time.Minute)
			_, err := ReadPrometheus(ctx, &http.Client{Transport: counter}, q, "web")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.q.MaxRequests > 0 && counter.n.Load() != 0 {
				t.Errorf("%d requests made, want none", counter.n.Load())
			}
		})
	}
}

func TestPrometheusQueryIsValidated(t *testing.T) {
	start := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	good := PrometheusQuery{URL: "http://127.0.0.1:1", Query: "up", Start: start, End: start.Add(time.Hour)}
	for _, tc := range []struct {
		name   string
		modify func(*PrometheusQuery)
		want   string
	}{
		{"the URL is required", func(q *PrometheusQuery) { q.URL = "" }, "--prometheus.url"},
		{"the query is required", func(q *PrometheusQuery) { q.Query = "" }, "--query"},
		{"the end must follow the start", func(q *PrometheusQuery) { q.End = q.Start }, "is not after start"},
		{"steps are whole seconds", func(q *PrometheusQuery) { q.Step = 1500 * time.Millisecond }, "whole seconds"},
		{"a page cannot exceed Prometheus's 11,000 points", func(q *PrometheusQuery) { q.PagePoints = 11001 }, "outside 1..11000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := good
			tc.modify(&q)
			_, err := ReadPrometheus(context.Background(), http.DefaultClient, q, "x")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
