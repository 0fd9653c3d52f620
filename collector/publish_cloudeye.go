package collector

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/config"
)

const mib = 1 << 20

// ceSeries maps a Cloud Eye metric to its published family, the factor that
// turns the Cloud Eye unit into the base unit, and the signal its mean over
// in-service instances feeds ("" for none).
type ceSeries struct {
	metric string
	desc   func(*descs) *prometheus.Desc
	scale  float64
	signal string
}

// accelerator is a device kind's Cloud Eye dimension and the series read per device.
type accelerator struct {
	dim    string
	series []ceSeries
}

func accelerators() []accelerator {
	return []accelerator{
		{dimGPU, []ceSeries{
			{"gpu_usage_gpu", func(d *descs) *prometheus.Desc { return d.gpu }, 0.01, config.SignalGPU},
			{"gpu_usage_mem", func(d *descs) *prometheus.Desc { return d.gpuMemory }, 0.01, config.SignalGPUMemory},
			{"gpu_used_mem", func(d *descs) *prometheus.Desc { return d.gpuMemUsed }, mib, ""},
			{"gpu_free_mem", func(d *descs) *prometheus.Desc { return d.gpuMemFree }, mib, ""},
			{"gpu_power_draw", func(d *descs) *prometheus.Desc { return d.gpuPower }, 1, ""},
			{"gpu_temperature", func(d *descs) *prometheus.Desc { return d.gpuTemp }, 1, ""},
		}},
		{dimNPU, []ceSeries{
			{"npu_util_rate_ai_core", func(d *descs) *prometheus.Desc { return d.npu }, 0.01, config.SignalNPU},
			{"npu_util_rate_mem", func(d *descs) *prometheus.Desc { return d.npuMemory }, 0.01, ""},
		}},
	}
}

// mean accumulates a group-level mean and the oldest datapoint behind it.
type mean struct {
	sum    float64
	n      int
	oldest time.Time
}

func (m *mean) add(p point) {
	m.sum += p.value
	m.n++
	if m.oldest.IsZero() || p.at.Before(m.oldest) {
		m.oldest = p.at
	}
}

func (m *mean) point() (point, bool) {
	if m.n == 0 {
		return point{}, false
	}
	return point{value: m.sum / float64(m.n), at: m.oldest}, true
}

// publishCloudEye publishes the group's per-instance Cloud Eye series (CPU,
// memory, each GPU and NPU, the extra metrics) while fresh, and the age of
// every metric, stale or not. It returns the utilisation signals: means over
// the in-service instances only, since pending and leaving ones serve no load,
// each dated by its oldest datapoint. devices lists an instance's resolved
// devices of a kind.
func (b *builder) publishCloudEye(d *descs, g *config.Group, instances []Instance, devices func(inst, dim string) []device, v cycleView) map[string]point {
	group := g.Name
	means := map[string]*mean{}
	ages := map[[2]string]time.Duration{}
	// read is v.sample that also notes the age of the series' datapoint, fresh
	// or not: the age is what tells a stale series from a missing one.
	read := func(k seriesKey) (point, bool) {
		if p, ok := v.points[k]; ok {
			a := [2]string{k.namespace, k.metric}
			ages[a] = max(ages[a], v.age(p))
		}
		return v.sample(k)
	}
	for _, in := range instances {
		serving := in.State == StateInService
		feed := func(sig string, p point) {
			if !serving || sig == "" {
				return
			}
			if means[sig] == nil {
				means[sig] = &mean{}
			}
			means[sig].add(p)
		}
		var cpu point
		haveCPU := false
		for _, s := range []struct{ ns, metric string }{{nsSYSECS, "cpu_util"}, {nsAGTECS, "cpu_usage"}} {
			if p, ok := read(instanceKey(s.ns, s.metric, in.ID)); ok {
				b.group(d.cpu, scaled(p.value, 0.01), group, in.ID, s.ns)
				// The agent's figure, read last, is the guest's own view: prefer it.
				cpu, haveCPU = point{value: scaled(p.value, 0.01), at: p.at}, true
			}
		}
		if haveCPU {
			feed(config.SignalCPU, cpu)
		}
		if p, ok := read(instanceKey(nsAGTECS, "mem_usedPercent", in.ID)); ok {
			b.group(d.memory, scaled(p.value, 0.01), group, in.ID)
			feed(config.SignalMemory, point{value: scaled(p.value, 0.01), at: p.at})
		}
		for _, acc := range accelerators() {
			for _, dev := range devices(in.ID, acc.dim) {
				for _, s := range acc.series {
					p, ok := read(deviceKey(s.metric, in.ID, acc.dim, dev.hash))
					if !ok {
						continue
					}
					p.value = scaled(p.value, s.scale)
					b.group(s.desc(d), p.value, group, in.ID, dev.id)
					feed(s.signal, p)
				}
			}
		}
		for _, x := range g.ExtraMetrics {
			dims, ok := extraMetricDims(in.ID, x, devices)
			if !ok {
				continue
			}
			if p, ok := read(keyOf(x.Namespace, x.Metric, dims...)); ok {
				b.group(d.cloudeyeValue, p.value, group, in.ID, x.Namespace, x.Metric)
			}
		}
	}
	b.publishSampleAges(d, group, ages)

	sigs := map[string]point{}
	for sig, m := range means {
		if p, ok := m.point(); ok {
			sigs[sig] = p
		}
	}
	return sigs
}

// publishSampleAges publishes, per namespace and metric, the age of the
// oldest newest datapoint across the group's instances.
func (b *builder) publishSampleAges(d *descs, group string, ages map[[2]string]time.Duration) {
	keys := make([][2]string, 0, len(ages))
	for k := range ages {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	for _, k := range keys {
		b.group(d.sampleAge, ages[k].Seconds(), group, k[0], k[1])
	}
}
