package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
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

func canonicalDims(dims []cesmodel.MetricsDimension) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = d.Name + "=" + d.Value
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func keyOf(ns, metric string, dims ...cesmodel.MetricsDimension) seriesKey {
	return seriesKey{namespace: ns, metric: metric, dims: canonicalDims(dims)}
}

func instanceKey(ns, metric, instance string) seriesKey {
	return seriesKey{namespace: ns, metric: metric, dims: dimInst + "=" + instance}
}

func deviceKey(metric, instance, dimName, hash string) seriesKey {
	return keyOf(nsAGTECS, metric, cesmodel.MetricsDimension{Name: dimInst, Value: instance}, cesmodel.MetricsDimension{Name: dimName, Value: hash})
}

// query is one series to ask Cloud Eye for.
type query struct {
	info cesmodel.MetricInfo
	key  seriesKey
}

func newQuery(ns, metric string, dims ...cesmodel.MetricsDimension) query {
	return query{info: cesmodel.MetricInfo{Namespace: ns, MetricName: metric, Dimensions: dims}, key: keyOf(ns, metric, dims...)}
}

// cesWait takes one token from the request budget, counting the time spent waiting.
func (c *Collector) cesWait(ctx context.Context) error {
	start := time.Now()
	err := c.limiter.Wait(ctx)
	c.addBudgetWait(time.Since(start))
	if err != nil {
		return fmt.Errorf("cloudeye: waiting for the request budget: %w", err)
	}
	return nil
}

// fetchBatches asks Cloud Eye for the newest datapoint of every query, in
// batches of metricsPerRequest, with at most concurrency calls in flight, each
// call taking a token from the request budget. The window ends delay before
// now, because Cloud Eye publishes late. Partial failures return what came back
// with the joined errors.
func (c *Collector) fetchBatches(ctx context.Context, now time.Time, qs []query) (map[seriesKey]point, int, error) {
	cfg := c.cfg.CloudEye
	period, err := batchPeriod(cfg.Period)
	if err != nil {
		return nil, 0, err
	}
	to := now.Add(-cfg.Delay)
	from := to.Add(-c.lookback())
	filter := cesmodel.GetFilterEnum().AVERAGE

	var batches [][]query
	for i := 0; i < len(qs); i += cfg.MetricsPerRequest {
		batches = append(batches, qs[i:min(i+cfg.MetricsPerRequest, len(qs))])
	}
	out := make(map[seriesKey]point, len(qs))
	var (
		mu    sync.Mutex
		errs  []error
		calls int
	)
	work := make(chan []query)
	var wg sync.WaitGroup
	for w := 0; w < min(cfg.Concurrency, len(batches)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				if err := c.cesWait(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				infos := make([]cesmodel.MetricInfo, len(batch))
				for i, q := range batch {
					infos[i] = q.info
				}
				resp, err := c.clients.CES.BatchListMetricData(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
					Metrics: infos, Period: &period, Filter: &filter, From: from.UnixMilli(), To: to.UnixMilli(),
				}})
				mu.Lock()
				calls++
				if err != nil {
					errs = append(errs, fmt.Errorf("cloudeye: %w", err))
					mu.Unlock()
					continue
				}
				if resp.Metrics != nil {
					for _, md := range *resp.Metrics {
						k, p, ok := newest(md)
						if ok {
							if old, seen := out[k]; !seen || p.at.After(old.at) {
								out[k] = p
							}
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("cloudeye: %w", ctx.Err()))
	}
	return out, calls, errors.Join(errs...)
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
func newest(md cesmodel.BatchMetricData) (seriesKey, point, bool) {
	var dims []cesmodel.MetricsDimension
	if md.Dimensions != nil {
		for _, d := range *md.Dimensions {
			dims = append(dims, cesmodel.MetricsDimension{Name: strOr(d.Name), Value: strOr(d.Value)})
		}
	}
	ns := strOr(md.Namespace)
	var best *cesmodel.DatapointForBatchMetric
	for i := range md.Datapoints {
		dp := &md.Datapoints[i]
		if dp.Average == nil {
			continue
		}
		if best == nil || dp.Timestamp > best.Timestamp {
			best = dp
		}
	}
	if best == nil {
		return seriesKey{}, point{}, false
	}
	return keyOf(ns, md.MetricName, dims...), point{value: *best.Average, at: time.UnixMilli(best.Timestamp)}, true
}

func batchPeriod(p string) (cesmodel.BatchPeriod, error) {
	var bp cesmodel.BatchPeriod
	if err := json.Unmarshal([]byte(`"`+p+`"`), &bp); err != nil {
		return bp, fmt.Errorf("cloudeye: period %q: %w", p, err)
	}
	return bp, nil
}
