package world

import (
	"math"
	"sort"
	"strings"
	"time"
)

// Dimension is a Cloud Eye metric dimension.
type Dimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MetricID names one Cloud Eye metric series.
type MetricID struct {
	Namespace  string
	Name       string
	Dimensions []Dimension
}

// Point is one datapoint with every aggregation Cloud Eye offers.
type Point struct {
	Time                             time.Time
	Average, Max, Min, Sum, Variance float64
}

// Series is the answer for one MetricID.
type Series struct {
	Unit   string
	Points []Point
}

// MetricInfo is one ListMetrics entry.
type MetricInfo struct {
	MetricID
	Unit string
}

type metricKind int

const (
	kindInstance metricKind = iota
	kindGPU
	kindNPU
	kindKafka
	kindRabbit
	kindELB
	kindMount
)

type metricDef struct {
	ns, name, unit string
	kind           metricKind
	// idx tells instance-level metrics apart for noise and value.
	idx int
}

// Namespaces and the dimension names simcloud publishes.
const (
	NamespaceECS      = "SYS.ECS"
	NamespaceAgent    = "AGT.ECS"
	NamespaceDMS      = "SYS.DMS"
	NamespaceELB      = "SYS.ELB"
	DimInstanceID     = "instance_id"
	DimGPU            = "gpu"
	DimNPU            = "npu"
	DimKafkaInstance  = "kafka_instance_id"
	DimRabbitInstance = "rabbitmq_instance_id"
	DimELB            = "lbaas_instance_id"
	DimMountPoint     = "mount_point"
)

const (
	mCPUUtil = iota
	mCPUUsage
	mMem
	mGPUUtil
	mGPUMemPct
	mGPUUsed
	mGPUFree
	mGPUPower
	mGPUTemp
	mNPUCore
	mNPUMem
	mQueue
	mRT
	mQPS
	m5xx
	mDisk
)

func metricCatalogue() map[string]metricDef {
	defs := []metricDef{
		{NamespaceECS, "cpu_util", "%", kindInstance, mCPUUtil},
		{NamespaceAgent, "cpu_usage", "%", kindInstance, mCPUUsage},
		{NamespaceAgent, "mem_usedPercent", "%", kindInstance, mMem},
		{NamespaceAgent, "gpu_usage_gpu", "%", kindGPU, mGPUUtil},
		{NamespaceAgent, "gpu_usage_mem", "%", kindGPU, mGPUMemPct},
		{NamespaceAgent, "gpu_used_mem", "MiB", kindGPU, mGPUUsed},
		{NamespaceAgent, "gpu_free_mem", "MiB", kindGPU, mGPUFree},
		{NamespaceAgent, "gpu_power_draw", "W", kindGPU, mGPUPower},
		{NamespaceAgent, "gpu_temperature", "°C", kindGPU, mGPUTemp},
		{NamespaceAgent, "npu_util_rate_ai_core", "%", kindNPU, mNPUCore},
		{NamespaceAgent, "npu_util_rate_mem", "%", kindNPU, mNPUMem},
		{NamespaceAgent, "disk_usedPercent", "%", kindMount, mDisk},
		// DMS publishes backlogs per instance, not per consumer group or queue
		// ("Kafka Metrics" and "RabbitMQ Metrics", instance metrics).
		{NamespaceDMS, "group_msgs", "Count", kindKafka, mQueue},
		{NamespaceDMS, "messages_ready", "Count", kindRabbit, mQueue},
		{NamespaceELB, "m14_l7_rt", "ms", kindELB, mRT},
		{NamespaceELB, "mb_l7_qps", "Count/s", kindELB, mQPS},
		{NamespaceELB, "m16_l7_upstream_5xx", "Count/s", kindELB, m5xx},
	}
	m := make(map[string]metricDef, len(defs))
	for _, d := range defs {
		m[d.ns+"|"+d.name] = d
	}
	return m
}

func dim(dims []Dimension, name string) (string, bool) {
	for _, d := range dims {
		if d.Name == name {
			return d.Value, true
		}
	}
	return "", false
}

// series is what a query resolves to: a group, and for per-instance metrics
// the instance and device index.
type series struct {
	def metricDef
	g   *group
	// queues are the groups whose queues a DMS instance metric sums.
	queues []*group
	in     *Instance
	dev    int
	okay   bool
}

func (w *World) resolve(id MetricID) series {
	def, ok := w.metrics[id.Namespace+"|"+id.Name]
	if !ok {
		return series{}
	}
	s := series{def: def}
	switch def.kind {
	case kindMount:
		v, _ := dim(id.Dimensions, DimInstanceID)
		mp, _ := dim(id.Dimensions, DimMountPoint)
		if in, ok := w.byInst[v]; ok && mp == dimHash(in.ID, DimMountPoint, "/") {
			s.in, s.g, s.okay = in, in.g, true
		}
		return s
	case kindInstance, kindGPU, kindNPU:
		v, _ := dim(id.Dimensions, DimInstanceID)
		in, ok := w.byInst[v]
		if !ok {
			return s
		}
		s.in, s.g = in, in.g
		if def.kind == kindInstance {
			s.okay = true
			return s
		}
		f := in.flavor
		want := AcceleratorGPU
		if def.kind == kindNPU {
			want = AcceleratorNPU
		}
		h, _ := dim(id.Dimensions, string(want))
		if f.Accelerator != want {
			return s
		}
		for i, d := range in.Devices {
			if d.Hash == h {
				s.dev, s.okay = i, true
			}
		}
		return s
	case kindKafka, kindRabbit:
		// Instance metrics have exactly one dimension: any other is another series, which has no data.
		name, idOf := DimKafkaInstance, func(g *group) string { return g.kafkaID }
		if def.kind == kindRabbit {
			name, idOf = DimRabbitInstance, func(g *group) string { return g.rabbitID }
		}
		inst, _ := dim(id.Dimensions, name)
		if len(id.Dimensions) != 1 {
			return s
		}
		for _, g := range w.groups {
			if idOf(g) == inst {
				s.queues = append(s.queues, g)
			}
		}
		if len(s.queues) > 0 {
			s.g, s.okay = s.queues[0], true
		}
	case kindELB:
		v, _ := dim(id.Dimensions, DimELB)
		for _, g := range w.groups {
			if g.elbID == v {
				s.g, s.okay = g, true
			}
		}
	}
	return s
}

// KnownMetric tells whether simcloud publishes this namespace and metric name.
func (w *World) KnownMetric(namespace, name string) bool {
	_, ok := w.metrics[namespace+"|"+name]
	return ok
}

// Datapoints answers a Cloud Eye query for each id: the datapoints with
// timestamps in [from, to] that have been published by now (raw samples older
// than the publication delay). period 0 or below RawPeriod returns raw samples;
// a longer period aggregates the raw samples of each aligned bucket, and a
// bucket is published only once complete. Unknown series get no points, as in
// Cloud Eye.
func (w *World) Datapoints(ids []MetricID, from, to time.Time, period time.Duration) []Series {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Series, len(ids))
	raw := int64(w.cfg.RawPeriod / time.Second)
	published := w.now.Add(-w.cfg.PublicationDelay).Unix()
	lo := from.Unix()
	hi := min(to.Unix(), published)
	if oldest := w.now.Add(-w.cfg.Retention).Unix(); lo < oldest {
		lo = oldest
	}
	var buf []float64
	for i, id := range ids {
		s := w.resolve(id)
		if s.def.name != "" {
			out[i].Unit = s.def.unit
		}
		if !s.okay || hi < lo {
			continue
		}
		if period <= w.cfg.RawPeriod {
			first := (lo + raw - 1) / raw * raw
			for t := first; t <= hi; t += raw {
				if v, ok := w.value(s, t); ok {
					out[i].Points = append(out[i].Points, Point{Time: time.Unix(t, 0).UTC(), Average: v, Max: v, Min: v, Sum: v})
				}
			}
			continue
		}
		p := int64(period / time.Second)
		first := from.Unix() / p * p
		if oldest := lo / p * p; first < oldest {
			first = oldest
		}
		// A raw sample at t covers (t-raw, t], so bucket [b, b+p) holds the samples in (b, b+p].
		for b := first; b <= to.Unix() && b+p <= published; b += p {
			buf = buf[:0]
			for t := b/raw*raw + raw; t <= b+p; t += raw {
				if v, ok := w.value(s, t); ok {
					buf = append(buf, v)
				}
			}
			if len(buf) > 0 {
				out[i].Points = append(out[i].Points, aggregate(time.Unix(b, 0).UTC(), buf))
			}
		}
	}
	return out
}

func aggregate(t time.Time, vs []float64) Point {
	p := Point{Time: t, Max: math.Inf(-1), Min: math.Inf(1)}
	for _, v := range vs {
		p.Sum += v
		p.Max = max(p.Max, v)
		p.Min = min(p.Min, v)
	}
	p.Average = p.Sum / float64(len(vs))
	for _, v := range vs {
		p.Variance += (v - p.Average) * (v - p.Average)
	}
	p.Variance /= float64(len(vs))
	return p
}

// value is the series' raw value at sample time t (unix seconds).
func (w *World) value(s series, t int64) (float64, bool) {
	smp, ok := w.sampleAt(s.g, t)
	if !ok {
		return 0, false
	}
	switch s.def.kind {
	case kindKafka, kindRabbit:
		sum := 0.0
		for _, g := range s.queues {
			if q, ok := w.sampleAt(g, t); ok {
				sum += q.queue
			}
		}
		return math.Round(sum), true
	case kindELB:
		switch s.def.idx {
		case mRT:
			return round2(smp.rt * 1000), true
		case mQPS:
			return round2(smp.demand), true
		default:
			return round2(smp.demand * smp.errRate), true
		}
	}
	in := s.in
	at := time.Unix(t, 0)
	if !in.existsAt(at) || in.stopState(at) == StateStopped {
		return 0, false
	}
	noise := unit(in.seed, uint64(t), uint64(s.def.idx*16+s.dev))
	g := s.g
	var u float64
	switch in.StateAt(at) {
	case StatePending:
		// Booting: CPU busy with start-up, no load served yet.
		if s.def.idx == mCPUUtil || s.def.idx == mCPUUsage {
			return round2(clamp(55+10*noise, 0, 100)), true
		}
	case StateInService:
		u = clamp(smp.util*in.skew+0.02*noise, 0, 1)
	}
	f := in.flavor
	switch s.def.idx {
	case mCPUUtil, mCPUUsage:
		return round2(clamp(cpuPercent(g, u)+noise, 0, 100)), true
	case mDisk:
		// The root disk fills slowly with logs as the instance serves.
		return round2(clamp(22+3*u+0.2*noise, 0, 100)), true
	case mMem:
		return round2(clamp(memPercent(g, u)+0.5*noise, 0, 100)), true
	}
	du := clamp(u*in.Devices[s.dev].skew, 0, 1)
	switch s.def.idx {
	case mGPUUtil:
		return round2(clamp(97*du+noise, 0, 100)), true
	case mGPUMemPct:
		return round2(gpuMemPct(du)), true
	case mGPUUsed:
		return math.Round(float64(f.DeviceMemMiB) * gpuMemPct(du) / 100), true
	case mGPUFree:
		return float64(f.DeviceMemMiB) - math.Round(float64(f.DeviceMemMiB)*gpuMemPct(du)/100), true
	case mGPUPower:
		return round2(f.DeviceTDPWatts * (0.15 + 0.85*du)), true
	case mGPUTemp:
		return math.Round(35 + 45*du + noise), true
	case mNPUCore:
		return round2(clamp(95*du+noise, 0, 100)), true
	case mNPUMem:
		return round2(clamp(12+70*du, 0, 100)), true
	}
	return 0, false
}

func gpuMemPct(u float64) float64 { return clamp(10+75*u, 0, 100) }

// cpuPercent is the CPU an instance shows at utilisation u: accelerated
// flavours spend less CPU per request, the device does the work.
func cpuPercent(g *group, u float64) float64 {
	span := 92.0
	if g.flavor.Accelerator != AcceleratorNone {
		span = 45
	}
	idle := g.cfg.Service.IdleCPU
	return clamp(idle+(idle+span-idle)*u, 0, 100)
}

func memPercent(g *group, u float64) float64 {
	idle := g.cfg.Service.IdleMemory
	return clamp(idle+(90-idle)*0.6*u, 0, 100)
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(hi, v)) }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// ListMetrics lists the metrics of live instances and of each group's queue
// and load balancer, sorted by namespace, name and dimensions.
func (w *World) ListMetrics() []MetricInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []MetricInfo
	add := func(def metricDef, dims ...Dimension) {
		out = append(out, MetricInfo{MetricID: MetricID{Namespace: def.ns, Name: def.name, Dimensions: dims}, Unit: def.unit})
	}
	defs := make([]metricDef, 0, len(w.metrics))
	for _, d := range w.metrics {
		defs = append(defs, d)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].ns+defs[i].name < defs[j].ns+defs[j].name })
	listed := map[string]bool{}
	once := func(def metricDef, d Dimension) {
		if k := def.name + "|" + d.Value; !listed[k] {
			listed[k] = true
			add(def, d)
		}
	}
	for _, g := range w.groups {
		for _, def := range defs {
			switch def.kind {
			case kindKafka:
				once(def, Dimension{DimKafkaInstance, g.kafkaID})
			case kindRabbit:
				once(def, Dimension{DimRabbitInstance, g.rabbitID})
			case kindELB:
				add(def, Dimension{DimELB, g.elbID})
			}
		}
		for _, in := range g.live {
			f := in.flavor
			for _, def := range defs {
				switch {
				case def.kind == kindInstance:
					add(def, Dimension{DimInstanceID, in.ID})
				case def.kind == kindMount:
					add(def, Dimension{DimInstanceID, in.ID}, Dimension{DimMountPoint, dimHash(in.ID, DimMountPoint, "/")})
				case def.kind == kindGPU && f.Accelerator == AcceleratorGPU, def.kind == kindNPU && f.Accelerator == AcceleratorNPU:
					for _, d := range in.Devices {
						add(def, Dimension{DimInstanceID, in.ID}, Dimension{string(f.Accelerator), d.Hash})
					}
				}
			}
		}
	}
	keys := make([]string, len(out))
	for i := range out {
		keys[i] = out[i].Key()
	}
	sort.Sort(byKey{keys, out})
	return out
}

// byKey sorts metrics by their precomputed paging keys.
type byKey struct {
	keys []string
	ms   []MetricInfo
}

func (b byKey) Len() int           { return len(b.keys) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
	b.ms[i], b.ms[j] = b.ms[j], b.ms[i]
}

// Key is the ListMetrics paging marker of a metric: namespace.metric_name.dim:value...
func (m MetricInfo) Key() string {
	var b strings.Builder
	b.WriteString(m.Namespace)
	b.WriteByte('.')
	b.WriteString(m.Name)
	for _, d := range m.Dimensions {
		b.WriteByte('.')
		b.WriteString(d.Name)
		b.WriteByte(':')
		b.WriteString(d.Value)
	}
	return b.String()
}

// AgentDimNames are the dim_name values ListAgentDimensionInfo accepts
// (ListAgentDimensionInfoRequest.dim_name in the SDK): npu is not one of them.
var AgentDimNames = []string{"mount_point", "disk", "proc", "gpu", "raid"}

// AgentDimension is one ListAgentDimensionInfo entry.
type AgentDimension struct {
	Name, Value, Origin string
}

// AgentDimensions lists an instance's agent dimensions of one kind: gpu
// devices (hashed value, real id in Origin), mount_point, disk, and nothing
// for proc and raid.
func (w *World) AgentDimensions(instanceID, dimName string) ([]AgentDimension, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	in, ok := w.byInst[instanceID]
	if !ok || !in.Gone.IsZero() {
		return nil, notFoundf("instance %q does not exist", instanceID)
	}
	f := in.flavor
	var out []AgentDimension
	switch dimName {
	case DimGPU:
		if string(f.Accelerator) == dimName {
			for _, d := range in.Devices {
				out = append(out, AgentDimension{Name: dimName, Value: d.Hash, Origin: d.Origin})
			}
		}
	case DimMountPoint:
		out = append(out, AgentDimension{Name: dimName, Value: dimHash(in.ID, dimName, "/"), Origin: "/"})
	case "disk":
		out = append(out, AgentDimension{Name: dimName, Value: dimHash(in.ID, dimName, "vda"), Origin: "vda"})
	case "proc", "raid":
	default:
		return nil, invalidf("dim_name %q must be one of %s: NPU devices are found in ListMetrics, by their npu dimension", dimName, strings.Join(AgentDimNames, ", "))
	}
	return out, nil
}
