package collector

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// dmsQuery is the Cloud Eye series holding a DMS backlog, as configured
// (a preset or an explicit namespace, metric and dimensions). It rides in the same BatchListMetricData calls as
// the instance metrics, so it costs no extra request.
func dmsQuery(d *config.DMSQueue) query {
	names := make([]string, 0, len(d.Dimensions))
	for n := range d.Dimensions {
		names = append(names, n)
	}
	sort.Strings(names)
	dims := make([]hwcloud.Dim, len(names))
	for i, n := range names {
		dims[i] = hwcloud.Dim{Name: n, Value: d.Dimensions[n]}
	}
	return newQuery(d.Namespace, d.Metric, dims...)
}

// dmsSource is the flexus_queue_depth source label of a DMS queue.
func dmsSource(d *config.DMSQueue) string { return "dms_" + d.Kind }

// checkQueueSeries confirms with ListMetrics that each group's DMS series
// exists, once per queue config: Cloud Eye answers a series that does not
// exist with no datapoints and no error, so a wrong metric or dimension
// would otherwise read as "no data" for ever. A failed check is repeated
// next cycle.
func (c *Collector) checkQueueSeries(ctx context.Context) (int, []error) {
	var calls atomic.Int64
	var errs []error
	for _, name := range c.groupNames() {
		st := c.groups[name]
		q := st.cfg.Queue
		if q == nil || q.DMS == nil || st.dmsChecked {
			continue
		}
		d := q.DMS
		listed, err := c.cloudEye(&calls).Metrics(ctx, d.Namespace, d.Metric)
		if err != nil {
			errs = append(errs, fmt.Errorf("group %q: queue.dms: listing %s %s: %w", name, d.Namespace, d.Metric, err))
			continue
		}
		want := dmsQuery(d).key
		var seen []string
		for _, m := range listed {
			if keyOf(m.Namespace, m.Name, m.Dims...) == want {
				st.dmsChecked = true
				break
			}
			if len(seen) < 5 {
				seen = append(seen, "{"+canonicalDims(m.Dims)+"}")
			}
		}
		switch {
		case st.dmsChecked:
		case len(listed) == 0:
			errs = append(errs, fmt.Errorf("group %q: queue.dms: Cloud Eye lists no %s %s at all: check queue.dms.namespace and queue.dms.metric against the service's metric page, or use a preset (%s)", name, d.Namespace, d.Metric, presetNames()))
		default:
			errs = append(errs, fmt.Errorf("group %q: queue.dms.dimensions {%s}: Cloud Eye has no %s %s with these dimensions; it lists %s: use those dimension names (or a preset: %s)", name, want.dims, d.Namespace, d.Metric, strings.Join(seen, ", "), presetNames()))
		}
	}
	return int(calls.Load()), errs
}

func presetNames() string {
	names := make([]string, 0, len(config.DMSPresets))
	for n := range config.DMSPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
