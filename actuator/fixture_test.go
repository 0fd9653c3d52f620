package actuator

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/config"
)

var update = flag.Bool("update", false, "rewrite fixtures/metrics.txt from the actuator's /metrics")

const metricsFixture = "fixtures/metrics.txt"

// volatileFamilies are measured in wall time, or name the Go toolchain,
// and are left out of the fixture.
var volatileFamilies = map[string]bool{
	"flexus_cloud_request_duration_seconds": true,
	"flexus_build_info":                     true,
}

// TestMetricsFixture runs a fixed scenario against simcloud in virtual
// time and compares the actuator's flexus_* metrics with the golden file
// the rules' consistency test reads. Rewrite it with `go test ./actuator
// -run TestMetricsFixture -update`.
func TestMetricsFixture(t *testing.T) {
	// Grading reads a Prometheus that saw 4 instances at 60% after every decision.
	prom := httptest.NewServer(&fakePrometheus{inService: constant(4), cpu: constant(0.6)})
	defer prom.Close()
	h := newSimHarness(t, "grading: {prometheus_url: "+prom.URL+"}", "")
	h.reg.MustRegister(versioncollector.NewCollector("flexus"))
	// The process's reloader publishes the reload gauges beside the actuator's series.
	coord := config.NewCoordinator("flexus.yml", func(string) (*config.Config, error) { return h.cfg, nil }, "flexus", h.clock, promslog.NewNopLogger())
	if _, err := coord.Load(); err != nil || coord.Register(h.reg) != nil {
		t.Fatal("the reload coordinator does not start")
	}
	// gpu-pool is an ECS group: its job is followed in the background, and
	// each poll advances the shared fake clock. Wait for it before the next
	// decision, or a loaded machine lets the polls land inside web's and
	// its duration reads seconds.
	h.deliver(notification("gk1", alert("gpu-pool", ScaleOut, "4", "a")))
	h.a.WaitJobs()
	h.clock.Advance(time.Minute)
	h.deliver(notification("gk2", alert("gpu-pool", ScaleOut, "6", "b")))
	h.a.WaitJobs()
	h.deliver(notification("gk3", alert("web", ScaleOut, "3", "c")))
	h.deliver(notification("gk4", alert("nowhere", ScaleIn, "1", "d")))
	h.post(notification("gk5", alert("web", ScaleIn, "1", "e")), "wrong")
	// Grade once every lead time has passed, then return to the scenario's
	// end so the cooldown gauges keep their values.
	end := h.clock.Now()
	h.clock.Advance(time.Hour)
	if _, err := h.a.GradeDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(end)

	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "flexus_") || volatileFamilies[mf.GetName()] {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		if err := os.WriteFile(metricsFixture, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(metricsFixture)
	if err != nil {
		t.Fatalf("%v: run `go test ./actuator -run TestMetricsFixture -update`", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("the actuator's metrics differ from %s; if that is intended, rerun with -update.\n--- got:\n%s", metricsFixture, buf.String())
	}
}
