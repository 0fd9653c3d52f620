package collector

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/scoring"
)

const mib = 1 << 20

// ceSeries maps a Cloud Eye metric to its published family and the factor
// that turns the Cloud Eye unit into the base unit.
type ceSeries struct {
	metric string
	desc   func(*descs) *prometheus.Desc
	scale  float64
}

func gpuSeries() []ceSeries {
	return []ceSeries{
		{"gpu_usage_gpu", func(d *descs) *prometheus.Desc { return d.gpu }, 0.01},
		{"gpu_usage_mem", func(d *descs) *prometheus.Desc { return d.gpuMemory }, 0.01},
		{"gpu_used_mem", func(d *descs) *prometheus.Desc { return d.gpuMemUsed }, mib},
		{"gpu_free_mem", func(d *descs) *prometheus.Desc { return d.gpuMemFree }, mib},
		{"gpu_power_draw", func(d *descs) *prometheus.Desc { return d.gpuPower }, 1},
		{"gpu_temperature", func(d *descs) *prometheus.Desc { return d.gpuTemp }, 1},
	}
}

func npuSeries() []ceSeries {
	return []ceSeries{
		{"npu_util_rate_ai_core", func(d *descs) *prometheus.Desc { return d.npu }, 0.01},
		{"npu_util_rate_mem", func(d *descs) *prometheus.Desc { return d.npuMemory }, 0.01},
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

// build turns the collector's state into the snapshot served until the next
// collection. A series is published only while its newest datapoint is younger
// than stale_after, so stale data disappears instead of freezing.
func (c *Collector) build(now time.Time) *Snapshot {
	b := newBuilder()
	d := c.descs
	staleAfter := c.cfg.Exporter.StaleAfter
	age := func(p point) time.Duration { return max(0, now.Sub(p.at)) }
	fresh := func(p point) bool { return age(p) < staleAfter }
	sample := func(k seriesKey) (point, bool) {
		p, ok := c.samples[k]
		if !ok || !fresh(p) {
			return point{}, false
		}
		return p, true
	}

	scoringStart := time.Now()
	scoringOK := true
	for _, name := range c.groupNames() {
		st := c.groups[name]
		g := &st.cfg
		m := st.members
		counts := map[string]int{}
		inService := 0
		for _, in := range m.instances {
			counts[in.State]++
			if in.State == StateInService {
				inService++
			}
		}
		lo, hi := g.MinInstances, g.MaxInstances
		if m.cloudMin >= 0 {
			lo = max(lo, m.cloudMin)
		}
		if m.cloudMax >= 0 {
			hi = min(hi, m.cloudMax)
		}
		desired := m.desired
		if desired < 0 {
			desired = len(m.instances) - counts[StateRemoving]
		}
		if st.discovered {
			b.group(d.groupDesired, float64(desired), name)
			b.group(d.groupCurrent, float64(len(m.instances)), name)
			b.group(d.groupMin, float64(lo), name)
			b.group(d.groupMax, float64(hi), name)
			for _, s := range instanceStates() {
				b.group(d.groupInstances, float64(counts[s]), name, s)
			}
			for _, in := range m.instances {
				b.group(d.instanceInfo, 1, name, in.ID, in.Flavor, in.State)
			}
		}

		// Per-instance series, and the means behind the group's signals.
		var cpu, memory, gpu, gpuMem, npu mean
		ages := map[[2]string]time.Duration{}
		noteAge := func(k seriesKey) {
			if p, ok := c.samples[k]; ok {
				a := [2]string{k.namespace, k.metric}
				ages[a] = max(ages[a], age(p))
			}
		}
		c.mu.Lock()
		for _, in := range m.instances {
			serving := in.State == StateInService
			var best point
			var haveCPU bool
			for _, ns := range []string{nsSYSECS, nsAGTECS} {
				metric := "cpu_util"
				if ns == nsAGTECS {
					metric = "cpu_usage"
				}
				k := instanceKey(ns, metric, in.ID)
				noteAge(k)
				if p, ok := sample(k); ok {
					b.group(d.cpu, scaled(p.value, 0.01), name, in.ID, ns)
					// The agent's figure is the guest's own view: prefer it.
					best, haveCPU = point{value: scaled(p.value, 0.01), at: p.at}, true
				}
			}
			if haveCPU && serving {
				cpu.add(best)
			}
			k := instanceKey(nsAGTECS, "mem_usedPercent", in.ID)
			noteAge(k)
			if p, ok := sample(k); ok {
				b.group(d.memory, scaled(p.value, 0.01), name, in.ID)
				if serving {
					memory.add(point{value: scaled(p.value, 0.01), at: p.at})
				}
			}
			for _, dev := range c.devicesOf(in.ID, dimGPU) {
				for _, s := range gpuSeries() {
					k := deviceKey(s.metric, in.ID, dimGPU, dev.hash)
					noteAge(k)
					p, ok := sample(k)
					if !ok {
						continue
					}
					v := point{value: scaled(p.value, s.scale), at: p.at}
					b.group(s.desc(d), v.value, name, in.ID, dev.id)
					switch {
					case !serving:
					case s.metric == "gpu_usage_gpu":
						gpu.add(v)
					case s.metric == "gpu_usage_mem":
						gpuMem.add(v)
					}
				}
			}
			for _, dev := range c.devicesOf(in.ID, dimNPU) {
				for _, s := range npuSeries() {
					k := deviceKey(s.metric, in.ID, dimNPU, dev.hash)
					noteAge(k)
					p, ok := sample(k)
					if !ok {
						continue
					}
					v := point{value: scaled(p.value, s.scale), at: p.at}
					b.group(s.desc(d), v.value, name, in.ID, dev.id)
					if serving && s.metric == "npu_util_rate_ai_core" {
						npu.add(v)
					}
				}
			}
			for _, x := range g.ExtraMetrics {
				k := instanceKey(x.Namespace, x.Metric, in.ID)
				noteAge(k)
				if p, ok := sample(k); ok {
					b.group(d.cloudeyeValue, p.value, name, in.ID, x.Namespace, x.Metric)
				}
			}
		}
		c.mu.Unlock()
		ageKeys := make([][2]string, 0, len(ages))
		for k := range ages {
			ageKeys = append(ageKeys, k)
		}
		sort.Slice(ageKeys, func(i, j int) bool {
			return ageKeys[i][0] < ageKeys[j][0] || ageKeys[i][0] == ageKeys[j][0] && ageKeys[i][1] < ageKeys[j][1]
		})
		for _, k := range ageKeys {
			b.group(d.sampleAge, ages[k].Seconds(), name, k[0], k[1])
		}

		// Group signals.
		sigs := map[string]point{}
		for sig, mm := range map[string]*mean{config.SignalCPU: &cpu, config.SignalMemory: &memory, config.SignalGPU: &gpu, config.SignalGPUMemory: &gpuMem, config.SignalNPU: &npu} {
			if p, ok := mm.point(); ok {
				sigs[sig] = p
			}
		}
		if q := g.Queue; q != nil {
			var p point
			ok := false
			source := "redis"
			if q.Redis != nil {
				p, ok = st.queue, st.queueOK && fresh(st.queue)
			} else if q.DMS != nil {
				source = dmsSource(q.DMS)
				p, ok = sample(dmsQuery(q.DMS).key)
			}
			if ok {
				b.group(d.queueDepth, p.value, name, source)
				sigs[config.SignalQueue] = p
			}
		}
		if st.elb != nil {
			st.rt, st.er, st.rtOK, st.erOK = st.elb.read(sample)
		}
		if st.rtOK && fresh(st.rt) {
			sigs[config.SignalResponseTime] = st.rt
		}
		if st.erOK && fresh(st.er) {
			sigs[config.SignalErrorRate] = st.er
		}
		for _, sig := range config.Signals() {
			if p, ok := sigs[sig]; ok {
				b.group(d.signal, p.value, name, sig)
				b.group(d.signalAge, age(p).Seconds(), name, sig)
			}
		}

		// Computed series.
		b.publishConfigured(d, g)
		if st.scorer != nil {
			res := st.evaluate(now, sigs, scoring.GroupState{Current: inService, Desired: desired, Min: lo, Max: hi})
			b.publishComputed(d, name, g, st.params, res)
			c.history.record(now, name, sigs, inService, desired, settingsOf(st.params))
		} else {
			scoringOK = false
			b.publishThresholds(d, name, g)
		}

		if st.discovered {
			b.group(d.discoveryLag, age(point{at: m.at}).Seconds(), name)
		}
		b.group(d.exportedSeries, float64(b.snap.series[name]+1), name)
	}
	c.record(SourceScoring, time.Since(scoringStart), scoringOK, now)

	c.mu.Lock()
	b.add(d.budgetWait, prometheus.CounterValue, c.budgetWait.Seconds())
	c.mu.Unlock()
	names := make([]string, 0, len(c.sources))
	for s := range c.sources {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		src := c.sources[s]
		ok, last := 0.0, 0.0
		if src.ok {
			ok = 1
		}
		if !src.lastSuccess.IsZero() {
			last = float64(src.lastSuccess.UnixMilli()) / 1e3
		}
		b.add(d.duration, prometheus.GaugeValue, src.duration.Seconds(), s)
		b.add(d.success, prometheus.GaugeValue, ok, s)
		b.add(d.lastSuccess, prometheus.GaugeValue, last, s)
	}
	return b.snap
}
