package hwcloud

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// counterValue reads one service and API's value of a counter, failing when
// the series does not exist.
func counterValue(t *testing.T, reg *prometheus.Registry, name, service, api string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["service"] == service && labels["api"] == api {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s{service=%q, api=%q} is not published", name, service, api)
	return 0
}

func TestRetryAndThrottleCountersStartAtZeroForEveryAPIWeCall(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg)
	for _, name := range []string{"flexus_cloud_retries_total", "flexus_cloud_throttled_requests_total"} {
		if n := testutil.CollectAndCount(reg, name); n != len(routes) {
			t.Errorf("%s has %d series before any call, want one per API (%d)", name, n, len(routes))
		}
	}
	want := `# HELP flexus_cloud_retries_total Retries of Huawei Cloud API calls after 429, 5xx or connection failures.
# TYPE flexus_cloud_retries_total counter
`
	var b strings.Builder
	b.WriteString(want)
	for _, r := range routes {
		b.WriteString(`flexus_cloud_retries_total{api="` + r.api + `",service="` + r.service + `"} 0` + "\n")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(b.String()), "flexus_cloud_retries_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
