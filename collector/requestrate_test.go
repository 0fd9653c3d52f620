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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/metricnames"
)

func TestRateSourceReadings(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	counter := func(ok, bad float64) string {
		return fmt.Sprintf("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} %v\nhttp_requests_total{code=\"503\"} %v\n", ok, bad)
	}
	histogram := func(n float64) string {
		return fmt.Sprintf("# TYPE http_request_duration_seconds histogram\nhttp_request_duration_seconds_bucket{le=\"+Inf\"} %[1]v\nhttp_request_duration_seconds_sum 3\nhttp_request_duration_seconds_count %[1]v\n", n)
	}
	const none = -1.0
	for _, tc := range []struct {
		name    string
		typ     string
		metric  string
		bodies  []string
		every   time.Duration
		want    []float64 // the rate of each scrape; none = no rate
		wantErr string    // of the last scrape
	}{
		{name: "a counter's first scrape has no rate, later ones the delta over the time between", typ: config.RateCounter, metric: "http_requests_total",
			bodies: []string{counter(900, 100), counter(2700, 300), counter(4500, 500)}, every: 10 * time.Second,
			want: []float64{none, 200, 200}},
		{name: "a counter reset gives no rate for that pair, never a negative one, and the next pair counts again", typ: config.RateCounter, metric: "http_requests_total",
			bodies: []string{counter(900, 100), counter(30, 0), counter(630, 0)}, every: 60 * time.Second,
			want: []float64{none, none, 10}},
		{name: "a histogram's _count is a counter of requests", typ: config.RateCounter, metric: "http_request_duration_seconds_count",
			bodies: []string{histogram(100), histogram(400)}, every: 30 * time.Second,
			want: []float64{none, 10}},
		{name: "a gauge is the rate itself, summed over its series", typ: config.RateGauge, metric: "app_requests_per_second",
			bodies: []string{"# TYPE app_requests_per_second gauge\napp_requests_per_second{instance=\"a\"} 120\napp_requests_per_second{instance=\"b\"} 80\n"},
			want:   []float64{200}},
		{name: "a missing metric names the setting to fix", typ: config.RateCounter, metric: "nope",
			bodies: []string{counter(1, 0)}, wantErr: `has no metric "nope": set request_rate.metric`},
		{name: "a gauge read as a counter names the type to set", typ: config.RateCounter, metric: "app_requests_per_second",
			bodies: []string{"# TYPE app_requests_per_second gauge\napp_requests_per_second 5\n"}, wantErr: "is a gauge: set request_rate.type: gauge"},
		{name: "a counter read as a gauge names the type to set", typ: config.RateGauge, metric: "http_requests_total",
			bodies: []string{counter(1, 0)}, wantErr: "is a counter: set request_rate.type: counter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newRateSource(config.HTTPSource{URL: serve(t, tc.bodies...), Metric: tc.metric, Type: tc.typ, Timeout: 2 * time.Second}, http.DefaultClient)
			for i := range tc.bodies {
				rate, ok, err := src.read(context.Background(), t0.Add(time.Duration(i)*tc.every))
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				switch want := tc.want[i]; {
				case want == none && ok:
					t.Errorf("scrape %d: rate %v, want none", i, rate)
				case want != none && (!ok || math.Abs(rate-want) > 1e-9):
					t.Errorf("scrape %d: rate %v (ok %v), want %v", i, rate, ok, want)
				}
			}
		})
	}
}

// requestCounter is a service's http_requests_total on 127.0.0.1 that grows
// at a set rate of the fake clock's seconds, split over two status codes.
type requestCounter struct {
	clk    *clock.Fake
	mu     sync.Mutex
	total  float64
	last   time.Time
	rate   float64
	status int // answered instead of the metrics when not 200
	url    string
}

func newRequestCounter(t *testing.T, clk *clock.Fake, perSecond float64) *requestCounter {
	t.Helper()
	c := &requestCounter{clk: clk, last: clk.Now(), rate: perSecond, status: http.StatusOK}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.advance()
		if c.status != http.StatusOK {
			http.Error(w, "unavailable", c.status)
			return
		}
		fmt.Fprintf(w, "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} %v\nhttp_requests_total{code=\"500\"} %v\n", c.total*0.9, c.total*0.1)
	}))
	t.Cleanup(hs.Close)
	c.url = hs.URL + "/metrics"
	return c
}

// advance counts the requests served since the last look; c.mu is held.
func (c *requestCounter) advance() {
	now := c.clk.Now()
	c.total += c.rate * now.Sub(c.last).Seconds()
	c.last = now
}

func (c *requestCounter) set(f func(c *requestCounter)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance()
	f(c)
}

// gaugeValue is the value of the series of name with the given labels.
func gaugeValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// rateConfig is unitConfig's group with the service rate, and request_rate
// at url when url is not empty.
func rateConfig(url string) string {
	y := unitConfig + "    instance_capacity: 100\n"
	if url != "" {
		y += "    request_rate: {url: \"" + url + "\"}\n"
	}
	return y
}

// TestRequestRateFeedsPredictiveBeforeCloudEye: the service's requests jump
// from 50/s (what its one in-service instance's 50% CPU stands for) to
// 400/s. Cloud Eye's CPU still says 50%; the scraped rate says 4 instances
// at 100% now, and the predictive recommendation follows it in the first
// cycle after the jump, while an exporter without request_rate holds.
func TestRequestRateFeedsPredictiveBeforeCloudEye(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	svc := newRequestCounter(t, clk, 50)
	withRate := newHarnessOn(t, clk, rateConfig(svc.url))
	without := newHarnessOn(t, clk, rateConfig(""))
	group := map[string]string{"group": "gpu-pool"}
	predictive := map[string]string{"group": "gpu-pool", "policy": "predictive"}
	cycle := func() {
		t.Helper()
		for _, h := range []*harness{withRate, without} {
			h.data(clk.Now().Add(-90*time.Second), 50) // Cloud Eye: 50% on i-1, 90s late
			if err := h.step(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range []*harness{withRate, without} {
		h.seed()
	}
	for range 10 {
		clk.Advance(time.Minute)
		cycle()
	}
	if got, ok := gaugeValue(t, withRate.reg, metricnames.GroupRequestRate, group); !ok || math.Abs(got-50) > 1e-9 {
		t.Fatalf("request rate %v (published %v), want 50/s", got, ok)
	}
	if _, ok := gaugeValue(t, without.reg, metricnames.GroupRequestRate, group); ok {
		t.Error("a group without request_rate publishes a request rate")
	}
	before, _ := gaugeValue(t, withRate.reg, metricnames.Recommended, predictive)
	control, _ := gaugeValue(t, without.reg, metricnames.Recommended, predictive)
	if before != control {
		t.Fatalf("at a steady 50/s predictive recommends %v with the request rate and %v without: they stand for the same demand", before, control)
	}

	svc.set(func(c *requestCounter) { c.rate = 400 })
	clk.Advance(time.Minute)
	cycle()
	if got, ok := gaugeValue(t, withRate.reg, metricnames.GroupRequestRate, group); !ok || math.Abs(got-400) > 1e-9 {
		t.Fatalf("request rate %v (published %v) after the jump, want 400/s", got, ok)
	}
	after, _ := gaugeValue(t, withRate.reg, metricnames.Recommended, predictive)
	held, _ := gaugeValue(t, without.reg, metricnames.Recommended, predictive)
	// 4 instances of demand held at the CPU's scale-out threshold (0.7) is 6.
	if after < 6 {
		t.Errorf("predictive recommends %v one cycle after requests jumped to 4 instances' worth, want at least 6 (it was %v)", after, before)
	}
	if held != control {
		t.Errorf("without request_rate predictive moved from %v to %v on Cloud Eye's unchanged CPU", control, held)
	}
}

func TestRequestRateResetAndScrapeErrorsAreNeverFatal(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	svc := newRequestCounter(t, clk, 50)
	h := newHarnessOn(t, clk, rateConfig(svc.url))
	h.seed()
	group := map[string]string{"group": "gpu-pool"}
	source := map[string]string{"source": SourceRequestRate}
	step := func() error {
		clk.Advance(time.Minute)
		h.data(clk.Now().Add(-90*time.Second), 50)
		return h.step()
	}
	for range 3 {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}

	// The service restarts: its counter starts over below the last value.
	svc.set(func(c *requestCounter) { c.total = 0 })
	if err := step(); err != nil {
		t.Fatalf("a counter reset failed the collection: %v", err)
	}
	if got, ok := gaugeValue(t, h.reg, metricnames.GroupRequestRate, group); !ok || math.Abs(got-50) > 1e-9 {
		t.Errorf("after a reset the rate is %v (published %v), want the last rate, 50/s, kept until stale, never a negative one", got, ok)
	}
	svc.set(func(c *requestCounter) { c.rate = 120 })
	if err := step(); err != nil {
		t.Fatal(err)
	}
	if got, _ := gaugeValue(t, h.reg, metricnames.GroupRequestRate, group); math.Abs(got-120) > 1e-9 {
		t.Errorf("the pair after a reset gives %v, want 120/s", got)
	}

	// The endpoint fails: the collection reports it and goes on.
	svc.set(func(c *requestCounter) { c.status = http.StatusServiceUnavailable })
	err := step()
	if err == nil || !strings.Contains(err.Error(), "request_rate") {
		t.Errorf("a failed scrape gave error %v, want one naming request_rate", err)
	}
	if ok, _ := gaugeValue(t, h.reg, "flexus_collection_success", source); ok != 0 {
		t.Errorf("flexus_collection_success{source=request_rate} = %v after a failed scrape, want 0", ok)
	}
	if _, ok := gaugeValue(t, h.reg, metricnames.Recommended, map[string]string{"group": "gpu-pool", "policy": "predictive"}); !ok {
		t.Error("the group was not scored while its request rate failed")
	}
	svc.set(func(c *requestCounter) { c.status = http.StatusOK })
	if err := step(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := gaugeValue(t, h.reg, "flexus_collection_success", source); ok != 1 {
		t.Errorf("flexus_collection_success{source=request_rate} = %v once the endpoint answers, want 1", ok)
	}
	// The rate across the failed scrape spans both minutes.
	if got, _ := gaugeValue(t, h.reg, metricnames.GroupRequestRate, group); math.Abs(got-120) > 1e-9 {
		t.Errorf("after the endpoint returned the rate is %v, want 120/s", got)
	}
}

// newHarnessOn is newHarness on a clock shared with the test's service.
func newHarnessOn(t *testing.T, clk *clock.Fake, y string) *harness {
	t.Helper()
	f := newCloud(clk)
	c, err := New(Options{Config: mustParse(t, y), Clients: f.Clients()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	loop := NewLoop(c, clk)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(loop)
	return &harness{t: t, cloud: f, clk: clk, c: c, loop: loop, reg: reg}
}
