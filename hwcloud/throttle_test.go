package hwcloud_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/hwcloud/hwcloudtest"
)

func metrics(n int) []hwcloud.Metric {
	out := make([]hwcloud.Metric, n)
	for i := range out {
		out[i] = hwcloud.Metric{Namespace: "SYS.ECS", Name: "cpu_util", Dims: []hwcloud.Dim{{Name: "instance_id", Value: fmt.Sprintf("i-%d", i)}}}
	}
	return out
}

// Within a budget, Series is cut into calls of at most MetricsPerCall
// metrics (never above the API's own limit), each taking a token, and every
// metric is answered once.
func TestThrottleCutsSeriesIntoBudgetedCalls(t *testing.T) {
	tests := []struct {
		name           string
		metrics        int
		metricsPerCall int
		wantCalls      int
	}{
		{"no metric costs no call", 0, 100, 0},
		{"a batch that fits is one call", 100, 100, 1},
		{"one metric over the batch is a second call", 101, 100, 2},
		{"batches above the API's limit are cut to it", 1200, 5000, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := hwcloudtest.New(clock.NewFake(time.Unix(0, 0)))
			var called atomic.Int64
			lim := rate.NewLimiter(rate.Inf, 1)
			ce := hwcloud.Throttle(f.Clients().CES, hwcloud.Budget{Limiter: lim, Concurrency: 2, MetricsPerCall: tc.metricsPerCall,
				Called: func() { called.Add(1) }})
			series, err := ce.Series(context.Background(), metrics(tc.metrics), "1", time.Unix(0, 0), time.Unix(60, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(series) != tc.metrics {
				t.Errorf("%d series answered, want %d", len(series), tc.metrics)
			}
			if n := f.Calls("BatchListMetricData"); n != tc.wantCalls || int(called.Load()) != tc.wantCalls {
				t.Errorf("%d calls (%d counted), want %d", n, called.Load(), tc.wantCalls)
			}
		})
	}
}

// A budget that is spent makes calls wait for it, and a cancelled wait is
// an error of the call, not a silent empty answer.
func TestThrottleWaitEndsWithTheContext(t *testing.T) {
	f := hwcloudtest.New(clock.NewFake(time.Unix(0, 0)))
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	ce := hwcloud.Throttle(f.Clients().CES, hwcloud.Budget{Limiter: lim, Concurrency: 1})
	if _, err := ce.AgentDimensions(context.Background(), "i-1", "gpu"); err != nil {
		t.Fatalf("the first call has a token: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ce.AgentDimensions(ctx, "i-1", "gpu"); err == nil {
		t.Fatal("a call without a token and with its context ended succeeded")
	}
	if n := f.Calls("ListAgentDimensionInfo"); n != 1 {
		t.Fatalf("%d calls reached the cloud, want only the one with a token", n)
	}
}
