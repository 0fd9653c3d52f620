package collector

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// serve answers each scrape with the next body.
func serve(t *testing.T, bodies ...string) string {
	t.Helper()
	var mu sync.Mutex
	i := 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprint(w, bodies[min(i, len(bodies)-1)])
		i++
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestHTTPSourceReadings(t *testing.T) {
	histogram := func(ok, okSum, bad, badSum float64) string {
		return fmt.Sprintf(`# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{code="200",le="+Inf"} %[1]v
http_request_duration_seconds_sum{code="200"} %[2]v
http_request_duration_seconds_count{code="200"} %[1]v
http_request_duration_seconds_bucket{code="503",le="+Inf"} %[3]v
http_request_duration_seconds_sum{code="503"} %[4]v
http_request_duration_seconds_count{code="503"} %[3]v
`, ok, okSum, bad, badSum)
	}
	tests := []struct {
		name           string
		metric         string
		bodies         []string
		wantRT, wantER float64 // of the last scrape; NaN = absent
		wantErr        string
	}{
		{name: "a gauge is the response time, an error_ratio gauge the error rate", metric: "app_latency_seconds",
			bodies: []string{"# TYPE app_latency_seconds gauge\napp_latency_seconds 0.25\n# TYPE app_error_ratio gauge\napp_error_ratio 0.02\n"},
			wantRT: 0.25, wantER: 0.02},
		{name: "a histogram's first scrape is its lifetime mean", bodies: []string{histogram(90, 9, 10, 5)},
			wantRT: 14.0 / 100, wantER: 0.1},
		{name: "later scrapes describe the interval since the previous one", bodies: []string{histogram(90, 9, 10, 5), histogram(190, 29, 10, 5)},
			wantRT: 20.0 / 100, wantER: 0},
		{name: "a counter reset starts over from the new totals", bodies: []string{histogram(90, 9, 10, 5), histogram(4, 2, 0, 0)},
			wantRT: 0.5, wantER: 0},
		{name: "a missing metric names the setting to fix", metric: "nope", bodies: []string{histogram(1, 1, 0, 0)},
			wantErr: `has no metric "nope": set response_time.metric`},
		{name: "a counter is refused", metric: "reqs_total", bodies: []string{"# TYPE reqs_total counter\nreqs_total 5\n"},
			wantErr: "is a counter: use a gauge, summary or histogram"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newHTTPSource(config.HTTPSource{URL: serve(t, tc.bodies...), Metric: tc.metric, Timeout: 2 * time.Second}, http.DefaultClient)
			var r httpReading
			var err error
			for range tc.bodies {
				r, err = src.read(context.Background())
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.responseTimeOK || math.Abs(r.responseTime-tc.wantRT) > 1e-9 {
				t.Errorf("response time %v (ok %v), want %v", r.responseTime, r.responseTimeOK, tc.wantRT)
			}
			if !r.errorRateOK || math.Abs(r.errorRate-tc.wantER) > 1e-9 {
				t.Errorf("error rate %v (ok %v), want %v", r.errorRate, r.errorRateOK, tc.wantER)
			}
		})
	}
}

func TestInstanceStates(t *testing.T) {
	for _, tc := range []struct{ as, ecs, want string }{
		{"INSERVICE", "ACTIVE", StateInService},
		{"PENDING", "BUILD", StatePending},
		{"PENDING_WAIT", "REBOOT", StatePending},
		{"REMOVING", "DELETED", StateRemoving},
		{"STANDBY", "SHUTOFF", StateRemoving},
	} {
		if got := asState(hwcloud.Member{State: tc.as}); got != tc.want {
			t.Errorf("AS %s → %s, want %s", tc.as, got, tc.want)
		}
		if got := ecsState(tc.ecs); got != tc.want {
			t.Errorf("ECS %s → %s, want %s", tc.ecs, got, tc.want)
		}
	}
}
