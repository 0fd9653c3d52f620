package simcloud

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// worldCollector publishes the world's state at scrape time. With only set
// it publishes one group; with app set, only what the group's application
// itself would expose.
type worldCollector struct {
	w    *world.World
	only string
	app  bool
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var _ prometheus.Collector = (*worldCollector)(nil)

func (c *worldCollector) descs() map[string]*prometheus.Desc {
	return map[string]*prometheus.Desc{
		"desired":  desc("flexus_simcloud_group_desired_instances", "Desired instance count (AS), or servers not being removed (ECS groups).", "group"),
		"inst":     desc("flexus_simcloud_group_instances", "Instances by state.", "group", "state"),
		"demand":   desc("flexus_simcloud_demand", "Incoming requests per second.", "group"),
		"cost":     desc("flexus_simcloud_cost_instance_seconds_total", "Instance-seconds billed so far.", "group"),
		"money":    desc("flexus_simcloud_cost_total", "Cost billed so far, in CNY at list price.", "group"),
		"capacity": desc("flexus_simcloud_capacity", "Requests per second the in-service instances can serve.", "group"),
		"util":     desc("flexus_simcloud_utilization_ratio", "Served load over capacity, 0..1.", "group"),
		"queue":    desc("flexus_simcloud_queue_length", "Requests waiting in the group's queue.", "group"),
		"rt":       desc("flexus_simcloud_response_time_seconds", "Mean response time over the last tick.", "group"),
		"err":      desc("flexus_simcloud_error_ratio", "Share of requests that failed over the last tick, 0..1.", "group"),
		"reclaims": desc("flexus_simcloud_spot_reclaims_total", "Spot instances reclaimed by the cloud.", "group"),
	}
}

func (c *worldCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *worldCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.descs()
	gauge := func(k string, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d[k], prometheus.GaugeValue, v, l...)
	}
	counter := func(k string, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d[k], prometheus.CounterValue, v, l...)
	}
	for _, g := range c.w.Groups() {
		if c.only != "" && g.Name != c.only {
			continue
		}
		gauge("demand", g.Demand, g.Name)
		gauge("queue", g.Queue, g.Name)
		gauge("rt", g.ResponseTimeSeconds, g.Name)
		gauge("err", g.ErrorRate, g.Name)
		if c.app {
			continue
		}
		gauge("desired", float64(g.Desired), g.Name)
		gauge("inst", float64(g.Pending), g.Name, "pending")
		gauge("inst", float64(g.InService), g.Name, "in_service")
		gauge("inst", float64(g.Removing), g.Name, "removing")
		counter("cost", g.CostInstanceSeconds, g.Name)
		counter("money", g.Cost, g.Name)
		gauge("capacity", g.Capacity, g.Name)
		gauge("util", g.Utilization, g.Name)
		counter("reclaims", float64(g.SpotReclaims), g.Name)
	}
}
