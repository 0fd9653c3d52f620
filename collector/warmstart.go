package collector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// warmInstances bounds how many instances stand for the group's history: the
// mean of a hundred is as good as the mean of all, at a bounded cost.
const warmInstances = 100

// warmSegment is one stretch of history at one Cloud Eye period: older data at
// coarser periods keeps each request small.
type warmSegment struct {
	from, to time.Duration // before the window's end
	period   string
	step     time.Duration
}

// Cloud Eye's longest window per period: 10 days at 3600, a day at 300, 4 hours raw.
func warmSegments(total time.Duration) []warmSegment {
	total = min(total, 10*24*time.Hour)
	segs := []warmSegment{
		{from: total, to: 3 * time.Hour, period: "3600", step: time.Hour},
		{from: 3 * time.Hour, to: 30 * time.Minute, period: "300", step: 5 * time.Minute},
		{from: 30 * time.Minute, to: 0, period: "1", step: time.Minute},
	}
	var out []warmSegment
	for _, s := range segs {
		s.from = min(s.from, total)
		if s.from > s.to {
			out = append(out, s)
		}
	}
	return out
}

// warmStart loads the group's recent CPU, memory and DMS queue history from
// Cloud Eye into its scorer, so forecasts are useful from the first cycle.
func (c *Collector) warmStart(ctx context.Context, now time.Time, st *groupState) (int, error) {
	total := c.cfg.CloudEye.WarmStart
	if total <= 0 || st.scorer == nil {
		return 0, nil
	}
	var ids []string
	for _, in := range st.members.instances {
		if in.State == StateInService && len(ids) < warmInstances {
			ids = append(ids, in.ID)
		}
	}
	// Per signal, the series whose per-timestamp mean is the signal; the CPU
	// of an instance is its agent's figure when it has one.
	type want struct {
		signal string
		q      query
		alt    *query // SYS.ECS cpu_util, used when the agent series is empty
		scale  float64
		inst   string
	}
	var wants []want
	for _, id := range ids {
		dim := hwcloud.Dim{Name: dimInst, Value: id}
		alt := newQuery(nsSYSECS, "cpu_util", dim)
		wants = append(wants,
			want{signal: config.SignalCPU, q: newQuery(nsAGTECS, "cpu_usage", dim), alt: &alt, scale: 0.01, inst: id},
			want{signal: config.SignalMemory, q: newQuery(nsAGTECS, "mem_usedPercent", dim), scale: 0.01, inst: id})
	}
	if q := st.cfg.Queue; q != nil && q.DMS != nil {
		wants = append(wants, want{signal: config.SignalQueue, q: dmsQuery(q.DMS), scale: 1})
	}
	if len(wants) == 0 {
		return 0, nil
	}
	var qs []query
	for _, w := range wants {
		qs = append(qs, w.q)
		if w.alt != nil {
			qs = append(qs, *w.alt)
		}
	}
	end := now.Add(-c.cfg.CloudEye.Delay)
	calls := 0
	var errs []error
	for _, seg := range warmSegments(total) {
		from, to := end.Add(-seg.from), end.Add(-seg.to)
		series, n, err := c.fetchHistory(ctx, from, to, seg.period, qs)
		calls += n
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Mean across instances per timestamp, per signal.
		sums := map[string]map[int64]*mean{}
		for _, w := range wants {
			pts := series[w.q.key]
			if len(pts) == 0 && w.alt != nil {
				pts = series[w.alt.key]
			}
			if sums[w.signal] == nil {
				sums[w.signal] = map[int64]*mean{}
			}
			for _, p := range pts {
				m := sums[w.signal][p.at.UnixMilli()]
				if m == nil {
					m = &mean{}
					sums[w.signal][p.at.UnixMilli()] = m
				}
				m.add(point{value: p.value * w.scale, at: p.at})
			}
		}
		for _, sig := range config.Signals() {
			byTime := sums[sig]
			if len(byTime) == 0 {
				continue
			}
			stamps := make([]int64, 0, len(byTime))
			for t := range byTime {
				stamps = append(stamps, t)
			}
			sort.Slice(stamps, func(i, j int) bool { return stamps[i] < stamps[j] })
			times := make([]time.Time, len(stamps))
			values := make([]float64, len(stamps))
			for i, t := range stamps {
				times[i] = time.UnixMilli(t)
				values[i] = byTime[t].sum / float64(byTime[t].n)
			}
			if err := st.scorer.WarmStart(scoring.Signal(sig), times, values, seg.step); err != nil {
				errs = append(errs, fmt.Errorf("warm start of group %q: %w", st.cfg.Name, err))
			}
		}
	}
	return calls, errors.Join(errs...)
}

// fetchHistory returns every datapoint of the queries in [from, to] at period,
// oldest first, within the budget.
func (c *Collector) fetchHistory(ctx context.Context, from, to time.Time, period string, qs []query) (map[seriesKey][]point, int, error) {
	var calls atomic.Int64
	series, err := c.cloudEye(&calls).Series(ctx, metricsOf(qs), period, from, to)
	if err != nil {
		return nil, int(calls.Load()), fmt.Errorf("warm start: %w", err)
	}
	out := map[seriesKey][]point{}
	for _, s := range series {
		k, _, ok := newest(s)
		if !ok {
			continue
		}
		pts := make([]point, len(s.Points))
		for i, p := range s.Points {
			pts[i] = point{value: p.Value, at: p.At}
		}
		out[k] = pts
	}
	return out, int(calls.Load()), nil
}
