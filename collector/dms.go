package collector

import (
	"sort"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// dmsQuery is the Cloud Eye series holding a DMS Kafka consumer-group backlog
// or a RabbitMQ queue length. It rides in the same BatchListMetricData calls as
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
