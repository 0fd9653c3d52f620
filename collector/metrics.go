package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// descs are every series the collection publishes; names and labels follow
// docs/metrics.md.
type descs struct {
	groupDesired, groupCurrent, groupMin, groupMax, groupInstances *prometheus.Desc

	cpu, memory, gpu, gpuMemory, gpuMemUsed, gpuMemFree, gpuPower, gpuTemp, npu, npuMemory *prometheus.Desc
	cloudeyeValue, sampleAge                                                               *prometheus.Desc

	signalAge, queueDepth, requestRate *prometheus.Desc

	weight, score, trend, scalingScore, forecastModel, forecastError *prometheus.Desc
	recommended, policyInfo, leadTime, bootTime                      *prometheus.Desc

	// The value families, one per unit (metricnames.UnitOf): a name never
	// mixes units. forecastQuantile shares its unit's forecast name: the point
	// forecast has no quantile label, so `flexus_forecast_ratio{quantile=""}`
	// selects it alone.
	signal, threshold, forecast, forecastQuantile map[metricnames.Unit]*prometheus.Desc

	budgetWait, duration, success, lastSuccess, exportedSeries, discoveryLag *prometheus.Desc

	// info holds each desc's name and help, for encoding snapshots.
	info map[*prometheus.Desc][2]string
	// instanceInfos are flexus_instance_info by its configured tag labels.
	instanceInfos map[string]*prometheus.Desc
}

// instanceInfoHelp is flexus_instance_info's help.
const instanceInfoHelp = "1 for every discovered instance of the group, with its name, private IP, flavour, state and the configured server tags (tag_<key>)."

// instanceInfoFor is flexus_instance_info with a tag_<key> label per
// configured tag key. Only the collection cycle calls it.
func (d *descs) instanceInfoFor(tagKeys []string) *prometheus.Desc {
	k := strings.Join(tagKeys, "\x00")
	if desc, ok := d.instanceInfos[k]; ok {
		return desc
	}
	labels := []string{"group", "instance_id", "name", "private_ip", "flavor", "state"}
	for _, t := range tagKeys {
		labels = append(labels, config.TagLabel(t))
	}
	desc := prometheus.NewDesc("flexus_instance_info", instanceInfoHelp, labels, nil)
	d.info[desc] = [2]string{"flexus_instance_info", instanceInfoHelp}
	d.instanceInfos[k] = desc
	return desc
}

const forecastHelp = "Forecast of the signal at horizon by model (auto = the model chosen for this series); " +
	"without a quantile label the point forecast, with one the quantile from the model's own recent errors at that horizon."

func newDescs() *descs {
	info := map[*prometheus.Desc][2]string{}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		desc := prometheus.NewDesc(name, help, labels, nil)
		info[desc] = [2]string{name, help}
		return desc
	}
	ds := &descs{
		info:           info,
		groupDesired:   d(metricnames.GroupDesired, "Desired instance count of the group (AS desired count, or the managed ECS server count).", "group"),
		groupCurrent:   d(metricnames.GroupCurrent, "Instances of the group that exist, in any state.", "group"),
		groupMin:       d(metricnames.GroupMin, "Lower bound in force: the tighter of config and cloud.", "group"),
		groupMax:       d(metricnames.GroupMax, "Upper bound in force: the tighter of config and cloud.", "group"),
		groupInstances: d(metricnames.GroupInstances, "Instances of the group by state (in_service, pending, removing).", "group", "state"),
		instanceInfos:  map[string]*prometheus.Desc{},

		cpu:           d("flexus_cpu_utilization_ratio", "CPU utilisation of the instance (0..1), from SYS.ECS cpu_util or AGT.ECS cpu_usage.", "group", "instance_id", "namespace"),
		memory:        d("flexus_memory_utilization_ratio", "Memory utilisation of the instance (0..1), from AGT.ECS mem_usedPercent.", "group", "instance_id"),
		gpu:           d("flexus_gpu_utilization_ratio", "GPU utilisation (0..1), from AGT.ECS gpu_usage_gpu.", "group", "instance_id", "device"),
		gpuMemory:     d("flexus_gpu_memory_utilization_ratio", "GPU memory utilisation (0..1), from AGT.ECS gpu_usage_mem.", "group", "instance_id", "device"),
		gpuMemUsed:    d("flexus_gpu_memory_used_bytes", "GPU memory in use, from AGT.ECS gpu_used_mem.", "group", "instance_id", "device"),
		gpuMemFree:    d("flexus_gpu_memory_free_bytes", "GPU memory free, from AGT.ECS gpu_free_mem.", "group", "instance_id", "device"),
		gpuPower:      d("flexus_gpu_power_watts", "GPU power draw, from AGT.ECS gpu_power_draw.", "group", "instance_id", "device"),
		gpuTemp:       d("flexus_gpu_temperature_celsius", "GPU temperature, from AGT.ECS gpu_temperature.", "group", "instance_id", "device"),
		npu:           d("flexus_npu_utilization_ratio", "NPU AI core utilisation (0..1), from AGT.ECS npu_util_rate_ai_core.", "group", "instance_id", "device"),
		npuMemory:     d("flexus_npu_memory_utilization_ratio", "NPU memory utilisation (0..1), from AGT.ECS npu_util_rate_mem.", "group", "instance_id", "device"),
		cloudeyeValue: d("flexus_cloudeye_value", "Extra Cloud Eye metric named in config, in its raw Cloud Eye unit.", "group", "instance_id", "namespace", "metric"),
		sampleAge:     d("flexus_cloudeye_sample_age_seconds", "Age of the oldest newest datapoint across the group's instances.", "group", "namespace", "metric"),

		signalAge:  d(metricnames.SignalAge, "Age of the data behind the signal's value (flexus_signal_ratio, _seconds or _items).", "group", "signal"),
		queueDepth: d("flexus_queue_depth", "Raw queue depth of the group by source.", "group", "source"),
		requestRate: d(metricnames.GroupRequestRate, "Requests per second the service reports on its own endpoint (request_rate), "+
			"the demand the predictive policy sizes the CPU on while it is fresher than Cloud Eye's CPU. Absent while stale.", "group"),

		weight:        d(metricnames.Weight, "Weight of the signal in the composite score.", "group", "signal"),
		score:         d(metricnames.Score, "Per-signal score in [-1, 1] (seed formula).", "group", "signal"),
		trend:         d(metricnames.Trend, "tanh(slope/10) of the signal's last 10 samples.", "group", "signal"),
		scalingScore:  d(metricnames.ScalingScore, "Composite weighted score in [-1, 1].", "group"),
		forecastModel: d(metricnames.ForecastModel, "1 for the model the auto forecast stands for.", "group", "signal", "model"),
		forecastError: d(metricnames.ForecastError, "Running sMAPE (0..2) of the auto forecast against what happened.", "group", "signal", "horizon"),
		recommended:   d(metricnames.Recommended, "Recommended instance count by policy.", "group", "policy"),
		policyInfo:    d(metricnames.PolicyInfo, "1 for the policy that drives scaling (config).", "group", "policy"),
		leadTime:      d(metricnames.LeadTime, "Boot delay + warm-up + alerting pipeline delay of the group; the boot is the measured one (flexus_boot_seconds) once the group has booted 3 instances.", "group"),
		bootTime:      d(metricnames.BootTime, "0.9 quantile of the group's last 20 boots, from the first listing showing an instance pending to the first showing it in service; absent before 3.", "group"),

		signal:           map[metricnames.Unit]*prometheus.Desc{},
		threshold:        map[metricnames.Unit]*prometheus.Desc{},
		forecast:         map[metricnames.Unit]*prometheus.Desc{},
		forecastQuantile: map[metricnames.Unit]*prometheus.Desc{},

		budgetWait:     d("flexus_cloudeye_budget_wait_seconds_total", "Time spent waiting on the Cloud Eye request budget."),
		duration:       d("flexus_collection_duration_seconds", "Duration of the last collection by source.", "source"),
		success:        d("flexus_collection_success", "1 when the last collection of the source succeeded.", "source"),
		lastSuccess:    d("flexus_collection_last_success_timestamp_seconds", "Time of the last successful collection of the source.", "source"),
		exportedSeries: d("flexus_exported_series", "Series published for the group in the last collection.", "group"),
		discoveryLag:   d("flexus_discovery_lag_seconds", "Age of the group's membership list at the end of the collection.", "group"),
	}
	for _, u := range metricnames.Units() {
		ds.signal[u] = d(metricnames.SignalIn(u), signalHelp[u], "group", "signal")
		ds.threshold[u] = d(metricnames.ThresholdIn(u), "Scale-out (out) and scale-in (in) threshold in force, "+unitHelp[u]+".", "group", "signal", "direction")
		ds.forecast[u] = d(metricnames.ForecastIn(u), forecastHelp+" Values "+unitHelp[u]+".", "group", "signal", "horizon", "model")
		// Published for auto only: five levels for each of five models would
		// add 25 series per signal and horizon.
		ds.forecastQuantile[u] = d(metricnames.ForecastIn(u), forecastHelp+" Values "+unitHelp[u]+".", "group", "signal", "horizon", "model", "quantile")
	}
	return ds
}

// unitHelp and signalHelp say what each unit's families hold.
var (
	unitHelp = map[metricnames.Unit]string{
		metricnames.Ratio:   "as a ratio (0..1)",
		metricnames.Seconds: "in seconds",
		metricnames.Items:   "in items (queue length)",
	}
	signalHelp = map[metricnames.Unit]string{
		metricnames.Ratio:   "Group-level value of a ratio signal (0..1): mean utilisation over in-service instances, or the error rate. Absent while stale.",
		metricnames.Seconds: "Group-level value of a signal in seconds: the response time. Absent while stale.",
		metricnames.Items:   "Group-level value of a signal in items: the queue length. Absent while stale.",
	}
)

// unitOf is the unit of a configured signal's families.
func unitOf(signal string) metricnames.Unit { return metricnames.UnitOf(scoring.Signal(signal)) }

// register adds a desc published outside this list (the cost series).
func (d *descs) register(name, help string, labels ...string) *prometheus.Desc {
	desc := prometheus.NewDesc(name, help, labels, nil)
	d.info[desc] = [2]string{name, help}
	return desc
}

// Snapshot is one completed collection, ready to serve.
type Snapshot struct {
	metrics []prometheus.Metric
	// series counts the published series per group.
	series map[string]int
	// text and gz are the snapshot rendered for /metrics.
	text, gz []byte
}

// Len is the number of series in the snapshot.
func (s *Snapshot) Len() int { return len(s.metrics) }

// builder accumulates a snapshot's const metrics.
type builder struct {
	snap *Snapshot
}

func newBuilder() *builder {
	return &builder{snap: &Snapshot{series: map[string]int{}}}
}

// group adds a per-group gauge: its first label value is the group's name.
func (b *builder) group(d *prometheus.Desc, v float64, group string, labels ...string) {
	b.add(d, prometheus.GaugeValue, v, append([]string{group}, labels...)...)
	b.snap.series[group]++
}

func (b *builder) add(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		// A label count mismatch is a programming error; it must not take /metrics down.
		m = prometheus.NewInvalidMetric(d, err)
	}
	b.snap.metrics = append(b.snap.metrics, m)
}

// encode renders the snapshot once, in the text exposition format, plain and
// gzipped, so a scrape copies bytes instead of encoding tens of thousands of
// series. Families are grouped and sorted as a registry would.
func (s *Snapshot) encode(info map[*prometheus.Desc][2]string) error {
	fams := map[string]*dto.MetricFamily{}
	for _, m := range s.metrics {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			return fmt.Errorf("collector: encoding %s: %w", m.Desc(), err)
		}
		nh, ok := info[m.Desc()]
		if !ok {
			return fmt.Errorf("collector: %s is not one of the exporter's series", m.Desc())
		}
		name, help := nh[0], nh[1]
		f := fams[name]
		if f == nil {
			t := dto.MetricType_GAUGE
			if pb.Counter != nil {
				t = dto.MetricType_COUNTER
			}
			f = &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: t.Enum()}
			fams[name] = f
		}
		f.Metric = append(f.Metric, &pb)
	}
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, n := range names {
		f := fams[n]
		sort.Slice(f.Metric, func(i, j int) bool { return labelsLess(f.Metric[i].Label, f.Metric[j].Label) })
		if err := enc.Encode(f); err != nil {
			return fmt.Errorf("collector: encoding %s: %w", n, err)
		}
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = zw.Write(text.Bytes())
	if err := zw.Close(); err != nil {
		return err
	}
	s.text, s.gz = text.Bytes(), gz.Bytes()
	return nil
}

func labelsLess(a, b []*dto.LabelPair) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].GetValue() != b[i].GetValue() {
			return a[i].GetValue() < b[i].GetValue()
		}
	}
	return len(a) < len(b)
}
