package collector

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// Cloud Eye namespaces and the metrics the exporter reads per instance.
const (
	nsSYSECS = "SYS.ECS"
	nsAGTECS = "AGT.ECS"
	dimInst  = "instance_id"
	dimGPU   = "gpu"
	dimNPU   = "npu"
)

// seriesKey names one Cloud Eye series: namespace, metric and its dimensions
// in canonical form (name=value pairs sorted by name).
type seriesKey struct {
	namespace, metric, dims string
}

// point is the newest datapoint of a series.
type point struct {
	value float64
	at    time.Time
}

func canonicalDims(dims []hwcloud.Dim) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = d.Name + "=" + d.Value
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func keyOf(ns, metric string, dims ...hwcloud.Dim) seriesKey {
	return seriesKey{namespace: ns, metric: metric, dims: canonicalDims(dims)}
}

func instanceKey(ns, metric, instance string) seriesKey {
	return seriesKey{namespace: ns, metric: metric, dims: dimInst + "=" + instance}
}

func deviceKey(metric, instance, dimName, hash string) seriesKey {
	return keyOf(nsAGTECS, metric, hwcloud.Dim{Name: dimInst, Value: instance}, hwcloud.Dim{Name: dimName, Value: hash})
}

// query is one series to ask Cloud Eye for.
type query struct {
	metric hwcloud.Metric
	key    seriesKey
}

func newQuery(ns, metric string, dims ...hwcloud.Dim) query {
	return query{metric: hwcloud.Metric{Namespace: ns, Name: metric, Dims: dims}, key: keyOf(ns, metric, dims...)}
}

func metricsOf(qs []query) []hwcloud.Metric {
	out := make([]hwcloud.Metric, len(qs))
	for i, q := range qs {
		out[i] = q.metric
	}
	return out
}

// cloudEye is Cloud Eye within the collector's request budget: each call
// takes a token (the wait is counted), at most concurrency are in flight,
// series go metricsPerRequest to a call; calls counts the calls made.
func (c *Collector) cloudEye(calls *atomic.Int64) hwcloud.CloudEye {
	ce := c.cfg.CloudEye
	return hwcloud.Throttle(c.clients.CES, hwcloud.Budget{
		Limiter: c.limiter, Concurrency: ce.Concurrency, MetricsPerCall: ce.MetricsPerRequest,
		Waited: c.addBudgetWait, Called: func() { calls.Add(1) },
	})
}

// fetchBatches asks Cloud Eye for the newest datapoint of every query. The
// window ends delay before now, because Cloud Eye publishes late. Partial
// failures return what came back with the joined errors.
func (c *Collector) fetchBatches(ctx context.Context, now time.Time, qs []query) (map[seriesKey]point, int, error) {
	cfg := c.cfg.CloudEye
	to := now.Add(-cfg.Delay)
	from := to.Add(-c.lookback())
	var calls atomic.Int64
	series, err := c.cloudEye(&calls).Series(ctx, metricsOf(qs), cfg.Period, from, to)
	out := make(map[seriesKey]point, len(qs))
	for _, s := range series {
		if k, p, ok := newest(s); ok {
			if old, seen := out[k]; !seen || p.at.After(old.at) {
				out[k] = p
			}
		}
	}
	return out, int(calls.Load()), err
}

// lookback is how far before the window's end datapoints still count: data
// older than stale_after would not be published anyway.
// It stays within the widest window Cloud Eye accepts at the period.
func (c *Collector) lookback() time.Duration {
	widest := 4 * time.Hour // raw data
	if c.cfg.CloudEye.Period != "1" {
		widest = 24 * time.Hour
	}
	return min(max(c.cfg.Exporter.StaleAfter, 2*c.cfg.Exporter.Interval), widest)
}

// newest picks the newest datapoint of a returned series.
func newest(s hwcloud.Series) (seriesKey, point, bool) {
	if len(s.Points) == 0 {
		return seriesKey{}, point{}, false
	}
	p := s.Points[len(s.Points)-1]
	return keyOf(s.Namespace, s.Name, s.Dims...), point{value: p.Value, at: p.At}, true
}
