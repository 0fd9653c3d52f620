package hwcloud

import (
	"sort"
	"strings"
	"time"
)

// MaxPointsPerCall bounds one BatchListMetricData answer: metrics × (to −
// from) / interval ≤ 3000, raw data (period "1") counted at 60 s. Cloud Eye
// does not refuse a longer window, it silently moves from forward, so a call
// planned past it loses history (docs/cloud-api.md, ces-batch-3000).
const MaxPointsPerCall = 3000

// periodWindow is the longest to − from Cloud Eye serves per period, whatever
// the metric count (docs/cloud-api.md, ces-batch-window).
var periodWindow = map[string]time.Duration{
	"1": 4 * time.Hour, "300": 24 * time.Hour, "1200": 3 * 24 * time.Hour, "3600": 10 * 24 * time.Hour,
	"14400": 30 * 24 * time.Hour, "86400": 180 * 24 * time.Hour,
}

// pointInterval is the interval Cloud Eye counts a period's points by.
func pointInterval(period string) time.Duration {
	switch period {
	case "1", "60", "":
		return time.Minute
	}
	d, err := time.ParseDuration(period + "s")
	if err != nil || d < time.Minute {
		return time.Minute
	}
	return d
}

// seriesCall is one BatchListMetricData: metrics[lo:hi] over [from, to].
type seriesCall struct {
	lo, hi   int
	from, to time.Time
}

// planSeries cuts n metrics over [from, to] into calls Cloud Eye answers
// whole: at most perCall metrics (and MaxMetricsPerCall), at most
// MaxPointsPerCall points and the period's widest window each. Metrics go as
// many to a call as the whole window allows; a window too long even for that
// is cut into consecutive slices, newest first, that do not overlap.
func planSeries(n, perCall int, period string, from, to time.Time) []seriesCall {
	if n <= 0 || !to.After(from) {
		return nil
	}
	if perCall <= 0 || perCall > MaxMetricsPerCall {
		perCall = MaxMetricsPerCall
	}
	iv := pointInterval(period).Milliseconds()
	span := to.Sub(from).Milliseconds()
	m := min(perCall, n)
	if fit := MaxPointsPerCall * iv / span; fit >= 1 {
		m = min(m, int(fit))
	}
	window := time.Duration(MaxPointsPerCall*iv/int64(m)) * time.Millisecond
	if w, ok := periodWindow[period]; ok {
		window = min(window, w)
	}
	var calls []seriesCall
	for lo := 0; lo < n; lo += m {
		hi := min(lo+m, n)
		for end := to; ; {
			start := end.Add(-window)
			if !start.After(from) {
				start = from
			}
			calls = append(calls, seriesCall{lo: lo, hi: hi, from: start, to: end})
			if start.Equal(from) {
				break
			}
			end = start.Add(-time.Millisecond)
		}
	}
	return calls
}

// mergeSeries joins the answers of the slices of one metric into one series,
// oldest first; the first answer of a metric decides its place.
func mergeSeries(in []Series) []Series {
	at := map[string]int{}
	var out []Series
	for _, s := range in {
		k := seriesID(s.Metric)
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, Series{Metric: s.Metric, Points: append([]Point(nil), s.Points...)})
			continue
		}
		out[i].Points = append(out[i].Points, s.Points...)
	}
	for i := range out {
		pts := out[i].Points
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].At.Before(pts[b].At) })
		kept := pts[:0]
		for j, p := range pts {
			if j == 0 || !p.At.Equal(pts[j-1].At) {
				kept = append(kept, p)
			}
		}
		out[i].Points = kept
	}
	return out
}

func seriesID(m Metric) string {
	parts := make([]string, len(m.Dims))
	for i, d := range m.Dims {
		parts[i] = d.Name + "=" + d.Value
	}
	sort.Strings(parts)
	return m.Namespace + "|" + m.Name + "|" + strings.Join(parts, ",")
}
