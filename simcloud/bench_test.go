package simcloud_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// bigConfig is a world of 10,000 instances: 5,000 Flexus X and 5,000 GPU.
func bigConfig() simcloud.Config {
	cfg := simcloudtest.Config()
	for i := range cfg.World.Groups {
		g := &cfg.World.Groups[i]
		g.MaxInstances, g.DesiredInstances = 5000, 5000
		g.Demand.PeakInstances = 4000
	}
	return cfg
}

// cpuTime is the process's user+system CPU time: under a shared, loaded
// machine it measures the work better than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkWorldMemory reports the heap a 10,000-instance world holds after
// an hour, with a day of Cloud Eye retention allocated.
func BenchmarkWorldMemory(b *testing.B) {
	start := time.Now().Truncate(time.Minute)
	var w *world.World
	for b.Loop() {
		before := heapInUse()
		var err error
		w, err = world.New(bigConfig().World, start)
		if err != nil {
			b.Fatal(err)
		}
		w.Advance(start.Add(time.Hour))
		b.ReportMetric(float64(heapInUse()-before)/(1<<20), "MiB/world")
	}
	runtime.KeepAlive(w)
}

// BenchmarkWorldAdvanceTick is the cost of one 10 s tick of a 10,000-instance world.
func BenchmarkWorldAdvanceTick(b *testing.B) {
	start := time.Now().Truncate(time.Minute)
	w, err := world.New(bigConfig().World, start)
	if err != nil {
		b.Fatal(err)
	}
	now := start
	for b.Loop() {
		now = now.Add(10 * time.Second)
		w.Advance(now)
	}
}

// BenchmarkBatchListMetricData500 is one 500-metric BatchListMetricData (raw
// period, last 10 minutes) through the real SDK against a 10,000-instance
// world: signing, HTTP on loopback, verification, the query, JSON both ways.
func BenchmarkBatchListMetricData500(b *testing.B) {
	start := time.Now().UTC().Truncate(time.Minute)
	clk := clock.NewFake(start)
	env := simcloudtest.Start(b, bigConfig(), clk)
	clk.Advance(time.Hour)
	env.World.Advance(clk.Now())
	web, _ := env.World.Instances("web")
	metrics := make([]cesmodel.MetricInfo, 500)
	for i := range metrics {
		metrics[i] = cesmodel.MetricInfo{Namespace: "SYS.ECS", MetricName: "cpu_util",
			Dimensions: []cesmodel.MetricsDimension{{Name: "instance_id", Value: web[i*7].ID}}}
	}
	var period cesmodel.BatchPeriod
	var filter cesmodel.Filter
	_ = json.Unmarshal([]byte(`"1"`), &period)
	_ = json.Unmarshal([]byte(`"average"`), &filter)
	req := &cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
		Metrics: metrics, Period: &period, Filter: &filter,
		From: clk.Now().Add(-10 * time.Minute).UnixMilli(), To: clk.Now().UnixMilli(),
	}}
	c := env.CES()
	points := 0
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		n++
		resp, err := c.BatchListMetricData(req)
		if err != nil {
			b.Fatal(err)
		}
		points = 0
		for _, m := range *resp.Metrics {
			points += len(m.Datapoints)
		}
	}
	if points != 500*10 {
		b.Fatalf("%d datapoints, want 500 x 10", points)
	}
	b.ReportMetric(float64(points), "datapoints/op")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e6, "cpu-ms/op")
}

// BenchmarkWorldDatapoints500 is the same query inside the world, without HTTP.
func BenchmarkWorldDatapoints500(b *testing.B) {
	start := time.Now().UTC().Truncate(time.Minute)
	w, err := world.New(bigConfig().World, start)
	if err != nil {
		b.Fatal(err)
	}
	now := start.Add(time.Hour)
	w.Advance(now)
	web, _ := w.Instances("web")
	ids := make([]world.MetricID, 500)
	for i := range ids {
		ids[i] = world.MetricID{Namespace: "SYS.ECS", Name: "cpu_util", Dimensions: []world.Dimension{{Name: "instance_id", Value: web[i*7].ID}}}
	}
	for b.Loop() {
		w.Datapoints(ids, now.Add(-10*time.Minute), now, 0)
	}
}

// BenchmarkBacktestDay steps a 10-instance world through a day in 1-minute
// steps, as the backtest does (30 days x 5 policies is 150 of these).
func BenchmarkBacktestDay(b *testing.B) {
	cfg := simcloudtest.Config().World
	cfg.Groups = cfg.Groups[:1]
	cfg.Groups[0].DesiredInstances = 10
	cfg.Groups[0].Demand = world.DemandConfig{Scenario: world.ScenarioDiurnal, PeakInstances: 8, Base: 0.2, Noise: 0.05}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		w, err := world.New(cfg, start)
		if err != nil {
			b.Fatal(err)
		}
		for m := 1; m <= 1440; m++ {
			w.Advance(start.Add(time.Duration(m) * time.Minute))
			if m%60 == 0 {
				_ = w.SetDesired("gpu-pool", 5+m/60%5)
			}
			_ = w.Groups()
		}
	}
}

// BenchmarkBatchListMetricData500Server is simcloud's share of the same call:
// signature check, decoding, the query and encoding, without the SDK client
// and the network.
func BenchmarkBatchListMetricData500Server(b *testing.B) {
	start := time.Now().UTC().Truncate(time.Minute)
	clk := clock.NewFake(start)
	srv, err := simcloud.NewServer(bigConfig(), clk, promslog.NewNopLogger())
	if err != nil {
		b.Fatal(err)
	}
	clk.Advance(time.Hour)
	srv.World().Advance(clk.Now())
	web, _ := srv.World().Instances("web")
	type metric struct {
		Namespace  string              `json:"namespace"`
		MetricName string              `json:"metric_name"`
		Dimensions []map[string]string `json:"dimensions"`
	}
	metrics := make([]metric, 500)
	for i := range metrics {
		metrics[i] = metric{"SYS.ECS", "cpu_util", []map[string]string{{"name": "instance_id", "value": web[i*7].ID}}}
	}
	body, _ := json.Marshal(map[string]any{"metrics": metrics, "period": "1", "filter": "average",
		"from": clk.Now().Add(-10 * time.Minute).UnixMilli(), "to": clk.Now().UnixMilli()})
	path := "/V1.0/" + simcloudtest.ProjectID + "/batch-query-metric-data"
	sreq := request.NewHttpRequestBuilder().WithEndpoint("http://127.0.0.1").WithPath(path).WithMethod("POST").
		AddHeaderParam("Content-Type", "application/json").WithBody("body", string(body)).Build()
	headers, err := signer.Sign(sreq, simcloudtest.AccessKey, simcloudtest.SecretKey)
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	cpu0, n := cpuTime(), 0
	for b.Loop() {
		n++
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n)/1e6, "cpu-ms/op")
}

// BenchmarkListMetrics10k lists every metric of the 10,000-instance world
// (the first page of 1,000, sorted), as a discovery pass would.
func BenchmarkListMetrics10k(b *testing.B) {
	start := time.Now().UTC().Truncate(time.Minute)
	clk := clock.NewFake(start)
	env := simcloudtest.Start(b, bigConfig(), clk)
	c := env.CES()
	for b.Loop() {
		if _, err := c.ListMetrics(&cesmodel.ListMetricsRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}
