package hwcloud

import (
	"testing"
	"time"
)

// Every call planSeries makes stays within Cloud Eye's per-call limits, the
// calls cover every metric over the whole window exactly once, and metrics
// go as many to a call as the window allows.
func TestPlanSeriesKeepsEveryCallWithinTheLimits(t *testing.T) {
	to := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		metrics    int
		period     string
		window     time.Duration
		wantCalls  int
		wantSlices int // time slices per metric
	}{
		{"500 metrics over 6 raw minutes fit one call", 500, "1", 6 * time.Minute, 1, 1},
		{"1000 metrics over 5 raw minutes are two calls of 500", 1000, "1", 5 * time.Minute, 2, 1},
		{"201 metrics over 30 raw minutes go 100 to a call", 201, "1", 30 * time.Minute, 3, 1},
		{"201 metrics over 150 minutes at 300 go 100 to a call", 201, "300", 150 * time.Minute, 3, 1},
		{"one metric over 5 raw hours is cut at the 4-hour window", 1, "1", 5 * time.Hour, 2, 2},
		{"one metric over 11 days at 3600 is cut at the 10-day window", 1, "3600", 11 * 24 * time.Hour, 2, 2},
		{"500 metrics over 2 raw hours go 25 to a call", 500, "1", 2 * time.Hour, 20, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			from := to.Add(-tc.window)
			calls := planSeries(tc.metrics, MaxMetricsPerCall, tc.period, from, to)
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d calls, want %d: %+v", len(calls), tc.wantCalls, calls)
			}
			covered := map[int][]seriesCall{}
			for _, c := range calls {
				n := c.hi - c.lo
				span := c.to.Sub(c.from)
				if n < 1 || n > MaxMetricsPerCall {
					t.Fatalf("a call of %d metrics", n)
				}
				if pts := int64(n) * span.Milliseconds() / pointInterval(tc.period).Milliseconds(); pts > MaxPointsPerCall {
					t.Fatalf("a call of %d metrics over %s is %d points, above %d", n, span, pts, MaxPointsPerCall)
				}
				if w, ok := periodWindow[tc.period]; ok && span > w {
					t.Fatalf("a window of %s is above the period's %s", span, w)
				}
				for i := c.lo; i < c.hi; i++ {
					covered[i] = append(covered[i], c)
				}
			}
			for i := 0; i < tc.metrics; i++ {
				slices := covered[i]
				if len(slices) != tc.wantSlices {
					t.Fatalf("metric %d asked in %d slices, want %d", i, len(slices), tc.wantSlices)
				}
				// Newest first, touching at a millisecond, from to back to from.
				if !slices[0].to.Equal(to) || !slices[len(slices)-1].from.Equal(from) {
					t.Fatalf("metric %d: slices span %s..%s, want %s..%s", i, slices[len(slices)-1].from, slices[0].to, from, to)
				}
				for j := 1; j < len(slices); j++ {
					if !slices[j].to.Equal(slices[j-1].from.Add(-time.Millisecond)) {
						t.Fatalf("metric %d: slice %d ends %s, the next begins %s", i, j, slices[j].to, slices[j-1].from)
					}
				}
			}
		})
	}
}

func TestMergeSeriesJoinsSlicesOldestFirst(t *testing.T) {
	at := func(m int) time.Time { return time.Unix(int64(m*60), 0) }
	cpu := Metric{Namespace: "SYS.ECS", Name: "cpu_util", Dims: []Dim{{"instance_id", "a"}}}
	mem := Metric{Namespace: "AGT.ECS", Name: "mem_usedPercent", Dims: []Dim{{"instance_id", "a"}}}
	got := mergeSeries([]Series{
		{Metric: cpu, Points: []Point{{at(3), 3}, {at(4), 4}}},
		{Metric: mem, Points: []Point{{at(1), 10}}},
		{Metric: cpu, Points: []Point{{at(1), 1}, {at(2), 2}, {at(3), 3}}},
	})
	if len(got) != 2 || got[0].Name != "cpu_util" || len(got[0].Points) != 4 || len(got[1].Points) != 1 {
		t.Fatalf("merged: %+v", got)
	}
	for i, p := range got[0].Points {
		if p.Value != float64(i+1) {
			t.Fatalf("cpu_util point %d is %g: points must be oldest first, each once", i, p.Value)
		}
	}
}
