package collector

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// benchGroupSize is the largest group config allows (max_instances 1000).
const benchGroupSize = 1000

// benchWorld is a simcloud world of n Flexus X instances in AS groups of
// 1,000, and the exporter config that reads it with the default Cloud Eye
// budget (7.5 requests/s, burst 50, 4 in flight, 500 metrics per call). Each
// instance has 6 series: cpu_util, cpu_usage, mem_usedPercent and 3 extra
// SYS.ECS metrics that simcloud does not publish (empty answers, same cost).
func benchWorld(b *testing.B, n int) (*simcloudtest.Env, *clock.Fake, string) {
	b.Helper()
	cfg := simcloudtest.Config()
	cfg.World.Groups = nil
	for i := 0; i*benchGroupSize < n; i++ {
		size := min(benchGroupSize, n-i*benchGroupSize)
		cfg.World.Groups = append(cfg.World.Groups, world.GroupConfig{
			Name: fmt.Sprintf("pool-%02d", i), ManagedBy: world.ManagedByAS, Flavor: "x1.2u.4g",
			MinInstances: 1, MaxInstances: size, DesiredInstances: size,
			Demand: world.DemandConfig{Scenario: world.ScenarioConstant, PeakInstances: float64(size), Level: 0.5},
		})
	}
	cfg.MaxBodyBytes = 8 << 20
	clk := clock.NewFake(simStart)
	env := simcloudtest.Start(b, cfg, clk)
	clk.Advance(5 * time.Minute)
	if err := env.Server.Step(context.Background()); err != nil {
		b.Fatal(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, `cloud:
  endpoint: %s
  project_id: %s
  access_key: %s
  secret_key: %s
cloudeye:
  delay: 60s
  warm_start: 1m
groups:
`, env.URL, simcloudtest.ProjectID, simcloudtest.AccessKey, simcloudtest.SecretKey)
	for _, g := range env.World.Groups() {
		fmt.Fprintf(&y, `  - name: %s
    discovery: {as_group_id: %s}
    min_instances: 1
    max_instances: 1000
    extra_metrics:
      - {namespace: SYS.ECS, metric: disk_util_inband}
      - {namespace: SYS.ECS, metric: network_incoming_bytes_rate_inband}
      - {namespace: SYS.ECS, metric: network_outgoing_bytes_rate_inband}
`, g.Name, g.ID)
	}
	return env, clk, y.String()
}

func rssMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

// BenchmarkExporterCycle measures one collection of a steady world (devices
// and scorers already warm) and one /metrics scrape of its result. Run:
//
//	go test ./collector -run '^$' -bench BenchmarkExporterCycle -benchtime 3x -timeout 40m
func BenchmarkExporterCycle(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			env, clk, y := benchWorld(b, n)
			rssWorld := rssMiB()
			path := filepath.Join(b.TempDir(), "flexus.yml")
			if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
				b.Fatal(err)
			}
			srv, err := NewServer(ServerOptions{ConfigFile: path, Clock: clk, Logger: promslog.NewNopLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.coll.Close()
			h, err := srv.Handler()
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(h)
			defer hs.Close()
			ctx := context.Background()
			// The first cycle warms the scorers and the device cache; it is not
			// timed with the others. It serves CPU and memory before the rest:
			// the time to that snapshot is the time to the first CPU data.
			first, err := srv.Loop().Step(ctx)
			if err != nil {
				b.Fatal(err)
			}
			// Let the budget refill, as a 60 s interval would: burst / rate.
			ce := srv.coll.cfg.CloudEye
			refill := time.Duration(float64(ce.Burst)/ce.RequestsPerSecond*float64(time.Second)) + time.Second
			time.Sleep(refill)

			requests := func() float64 { return counterSum(b, srv.Registry(), "flexus_cloud_requests_total", "service", "ces") }
			discovery := func() float64 {
				return counterSum(b, srv.Registry(), "flexus_cloud_requests_total", "service", "as") +
					counterSum(b, srv.Registry(), "flexus_cloud_requests_total", "service", "ecs")
			}
			var cycle, scrape time.Duration
			var ces, disc float64
			var series, bytes int
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clk.Advance(time.Minute)
				if err := env.Server.Step(ctx); err != nil {
					b.Fatal(err)
				}
				c0, d0 := requests(), discovery()
				st, err := srv.Loop().Step(ctx)
				if err != nil {
					b.Fatal(err)
				}
				cycle += st.Duration
				ces += requests() - c0
				disc += discovery() - d0
				series = st.Series
				// The median of 5 scrapes, so one GC pause does not make the figure.
				var times []time.Duration
				for k := 0; k < 5; k++ {
					t0 := time.Now()
					req, _ := http.NewRequest(http.MethodGet, hs.URL+"/metrics", nil)
					req.Header.Set("Accept-Encoding", "gzip")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					nb, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					times = append(times, time.Since(t0))
					bytes = int(nb)
				}
				slices.Sort(times)
				scrape += times[len(times)/2]
				// A 60 s interval would refill the burst too.
				b.StopTimer()
				time.Sleep(refill)
				b.StartTimer()
			}
			perInstance := 6.0
			floor := math.Ceil(float64(n)*perInstance/500) + 2 // + the two ListMetrics device probes
			b.ReportMetric(ces/float64(b.N), "ces_calls/cycle")
			b.ReportMetric(floor, "ces_floor/cycle")
			b.ReportMetric(disc/float64(b.N), "discovery_calls/cycle")
			b.ReportMetric(cycle.Seconds()/float64(b.N), "cycle_s")
			b.ReportMetric(first.Duration.Seconds(), "first_cycle_s")
			b.ReportMetric(first.FirstData.Seconds(), "first_cpu_s")
			b.ReportMetric(scrape.Seconds()*1000/float64(b.N), "scrape_ms")
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(bytes)/1024, "scrape_gzip_KiB")
			b.ReportMetric(rssMiB()-rssWorld, "exporter_rss_MiB")
			b.ReportMetric(rssMiB(), "process_rss_MiB")
		})
	}
}

// counterSum adds the values of a counter family's series with label=value.
func counterSum(tb testing.TB, g prometheus.Gatherer, name, label, value string) float64 {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
