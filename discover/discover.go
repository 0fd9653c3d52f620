// Package discover answers "what does the cloud show for my config?" before
// the exporter runs: per group, the instances found, the Cloud Eye metrics
// that exist for them (devices, queue, load balancer), and every configured
// signal that will have no data, with the reason and the fix. It only reads.
package discover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// Instance is a member of a group as the cloud lists it.
type Instance struct {
	ID, Name, Flavor, State string
}

// Series is a Cloud Eye metric found for a group: how many of its instances
// publish it (for per-instance metrics) and whether it had data lately.
type Series struct {
	Namespace, Metric string
	Dims              string // the series' dimensions, name=value, for group-level series
	Instances         int
	HasData           bool
}

// Device is a GPU or NPU: ID is the PCI id (GPU) or the npu dimension value.
type Device struct {
	Instance, Kind, ID string
}

// Gap is a configured signal that will have no data, and why.
type Gap struct {
	Signal, Reason string
}

// Group is what the cloud shows for one configured group.
type Group struct {
	Name      string
	Instances []Instance
	Metrics   []Series
	Devices   []Device
	Queue     *Series // the DMS series, when configured and found
	ELB       *Series // the ELB response-time series, when configured and found
	Gaps      []Gap
}

// Report is the whole discovery.
type Report struct {
	Groups []Group
}

// perInstance are the Cloud Eye metrics discover looks for per instance.
var perInstance = []struct{ ns, metric string }{
	{"SYS.ECS", "cpu_util"}, {"AGT.ECS", "cpu_usage"}, {"AGT.ECS", "mem_usedPercent"},
	{"AGT.ECS", "gpu_usage_gpu"}, {"AGT.ECS", "npu_util_rate_ai_core"},
}

// dataWindow is how far back a listed series must have a datapoint to count as live.
const dataWindow = 15 * time.Minute

// Run discovers every group of cfg with the cloud's clients, at now.
func Run(ctx context.Context, cfg *config.Config, cl *hwcloud.Clients, now time.Time) Report {
	var r Report
	listed := map[string][]hwcloud.Metric{} // namespace|metric → listing, shared by groups
	listErr := map[string]error{}
	list := func(ns, metric string) ([]hwcloud.Metric, error) {
		k := ns + "|" + metric
		if _, done := listed[k]; !done && listErr[k] == nil {
			ms, err := cl.CES.Metrics(ctx, ns, metric)
			listed[k], listErr[k] = ms, err
		}
		return listed[k], listErr[k]
	}
	for i := range cfg.Groups {
		r.Groups = append(r.Groups, group(ctx, &cfg.Groups[i], cl, list, now))
	}
	return r
}

func group(ctx context.Context, g *config.Group, cl *hwcloud.Clients, list func(ns, metric string) ([]hwcloud.Metric, error), now time.Time) Group {
	out := Group{Name: g.Name}
	gap := func(signal, format string, a ...any) {
		out.Gaps = append(out.Gaps, Gap{Signal: signal, Reason: fmt.Sprintf(format, a...)})
	}
	ins, err := instances(ctx, g, cl)
	if err != nil {
		gap("*", "%s", Why(err, "listing the group's instances"))
		return out
	}
	out.Instances = ins
	ids := map[string]bool{}
	for _, in := range ins {
		ids[in.ID] = true
	}

	// Which per-instance metrics exist, and their device dimensions.
	has := map[string]map[string]bool{} // metric → instance → listed
	var query []hwcloud.Metric
	for _, m := range perInstance {
		ms, err := list(m.ns, m.metric)
		if err != nil {
			gap(signalOf(m.metric), "%s", Why(err, "listing "+m.ns+" "+m.metric))
			continue
		}
		has[m.metric] = map[string]bool{}
		for _, x := range ms {
			inst := dim(x, "instance_id")
			if !ids[inst] {
				continue
			}
			if !has[m.metric][inst] {
				query = append(query, x)
			}
			has[m.metric][inst] = true
			switch m.metric {
			case "gpu_usage_gpu":
				out.Devices = append(out.Devices, Device{Instance: inst, Kind: "gpu", ID: dim(x, "gpu")})
			case "npu_util_rate_ai_core":
				out.Devices = append(out.Devices, Device{Instance: inst, Kind: "npu", ID: dim(x, "npu")})
			}
		}
	}
	resolveGPUs(ctx, cl, out.Devices)

	// Group-level series: the DMS queue and the ELB.
	var queue, elb *hwcloud.Metric
	if q := g.Queue; q != nil && q.DMS != nil {
		want := hwcloud.Metric{Namespace: q.DMS.Namespace, Name: q.DMS.Metric}
		for n, v := range q.DMS.Dimensions {
			want.Dims = append(want.Dims, hwcloud.Dim{Name: n, Value: v})
		}
		if ms, err := list(want.Namespace, want.Name); err != nil {
			gap(config.SignalQueue, "%s", Why(err, "listing "+want.Namespace+" "+want.Name))
		} else if found, others := match(ms, want); found {
			queue = &want
		} else {
			gap(config.SignalQueue, "wrong dimension: Cloud Eye has no %s %s with {%s}; it lists %s: fix queue.dms.dimensions (presets: kafka_backlog, rabbitmq_ready)", want.Namespace, want.Name, dimsText(want.Dims), others)
		}
	}
	if rt := g.ResponseTime; rt != nil && strings.HasPrefix(rt.URL, "cloudeye:") {
		if want, err := elbMetric(rt.URL); err != nil {
			gap(config.SignalResponseTime, "response_time.url: %v", err)
		} else if ms, err := list(want.Namespace, want.Name); err != nil {
			gap(config.SignalResponseTime, "%s", Why(err, "listing "+want.Namespace+" "+want.Name))
		} else if found, others := match(ms, want); found {
			elb = &want
		} else {
			gap(config.SignalResponseTime, "wrong dimension: Cloud Eye has no %s %s with {%s}; it lists %s: fix response_time.url", want.Namespace, want.Name, dimsText(want.Dims), others)
		}
	}
	if queue != nil {
		query = append(query, *queue)
	}
	if elb != nil {
		query = append(query, *elb)
	}

	// One read of the last minutes says which listed series have data.
	live := map[string]bool{}
	if len(query) > 0 {
		series, err := cl.CES.Series(ctx, query, "1", now.Add(-dataWindow), now)
		if err != nil {
			gap("*", "%s", Why(err, "reading recent datapoints"))
		}
		for _, s := range series {
			if len(s.Points) > 0 {
				live[s.Name+"|"+dim(s.Metric, "instance_id")+"|"+dimsText(s.Dims)] = true
			}
		}
	}
	dataFor := func(m hwcloud.Metric) bool { return live[m.Name+"|"+dim(m, "instance_id")+"|"+dimsText(m.Dims)] }
	for _, m := range perInstance {
		if len(has[m.metric]) == 0 {
			continue
		}
		s := Series{Namespace: m.ns, Metric: m.metric, Instances: len(has[m.metric])}
		for _, x := range query {
			if x.Name == m.metric && dataFor(x) {
				s.HasData = true
			}
		}
		out.Metrics = append(out.Metrics, s)
	}
	if queue != nil {
		out.Queue = &Series{Namespace: queue.Namespace, Metric: queue.Name, Dims: dimsText(queue.Dims), HasData: dataFor(*queue)}
		if !out.Queue.HasData {
			gap(config.SignalQueue, "%s %s {%s} is listed but has no datapoint in the last %s", queue.Namespace, queue.Name, out.Queue.Dims, dataWindow)
		}
	}
	if elb != nil {
		out.ELB = &Series{Namespace: elb.Namespace, Metric: elb.Name, Dims: dimsText(elb.Dims), HasData: dataFor(*elb)}
	}

	// Configured signals without data.
	missing := func(metric string) []string {
		var names []string
		for _, in := range ins {
			if !has[metric][in.ID] {
				names = append(names, in.Name)
			}
		}
		return names
	}
	for _, sig := range g.SignalNames() {
		switch sig {
		case config.SignalCPU:
			if n := intersect(missing("cpu_util"), missing("cpu_usage")); len(n) > 0 {
				gap(sig, "no CPU metric for %s: SYS.ECS cpu_util appears a few minutes after a server starts; check the instances run", strings.Join(n, ", "))
			}
		case config.SignalMemory:
			if n := missing("mem_usedPercent"); len(n) > 0 {
				gap(sig, "no agent: AGT.ECS mem_usedPercent is missing for %s: install the Cloud Eye agent", strings.Join(n, ", "))
			}
		case config.SignalGPU, config.SignalGPUMemory:
			if len(has["gpu_usage_gpu"]) == 0 && len(ins) > 0 {
				gap(sig, "no agent or no GPU: no instance publishes AGT.ECS gpu_usage_gpu: install the Cloud Eye agent with its GPU plugin on a GPU flavour")
			}
		case config.SignalNPU:
			if len(has["npu_util_rate_ai_core"]) == 0 && len(ins) > 0 {
				gap(sig, "no agent or no NPU: no instance publishes AGT.ECS npu_util_rate_ai_core: install the Cloud Eye agent on an Ascend flavour")
			}
		}
	}
	return out
}

// instances lists the group's members with their flavours.
func instances(ctx context.Context, g *config.Group, cl *hwcloud.Clients) ([]Instance, error) {
	var out []Instance
	if id := g.Discovery.ASGroupID; id != "" {
		members, err := cl.AS.Members(ctx, id)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, m := range members {
			if m.ID != "" {
				ids = append(ids, m.ID)
				out = append(out, Instance{ID: m.ID, Name: m.Name, State: m.State})
			}
		}
		details, err := cl.ECS.Lookup(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].Flavor = details[out[i].ID].Flavor
		}
	} else if t := g.Discovery.Tag; t != nil {
		servers, err := cl.ECS.Tagged(ctx, t.Key, t.Value)
		if err != nil {
			return nil, err
		}
		for _, s := range servers {
			out = append(out, Instance{ID: s.ID, Name: s.Name, Flavor: s.Flavor, State: s.Status})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// resolveGPUs replaces GPU dimension hashes with PCI ids, one lookup per
// instance; an unresolved GPU keeps its hash.
func resolveGPUs(ctx context.Context, cl *hwcloud.Clients, devs []Device) {
	byInst := map[string]map[string]string{}
	for i, d := range devs {
		if d.Kind != "gpu" {
			continue
		}
		ids, ok := byInst[d.Instance]
		if !ok {
			ids, _ = cl.CES.AgentDimensions(ctx, d.Instance, "gpu")
			byInst[d.Instance] = ids
		}
		if id := ids[d.ID]; id != "" {
			devs[i].ID = id
		}
	}
}

// apiActions are the IAM actions discover's calls need, by API.
var apiActions = map[string]string{
	"listing the group's instances": "as:groups:get (Auto Scaling groups) or ecs:cloudServers:list (ECS tag groups)",
	"listing":                       "ces:metrics:list",
	"reading recent datapoints":     "ces:metricData:list",
}

// Why explains a failed call: a missing permission names the IAM action to
// grant (docs/cloud-api.md).
func Why(err error, doing string) string {
	if code := hwcloud.StatusCode(err); code == http.StatusForbidden || code == http.StatusUnauthorized {
		action := apiActions[doing]
		if action == "" && strings.HasPrefix(doing, "listing ") {
			action = apiActions["listing"]
		}
		return fmt.Sprintf("missing permission: %s was refused (%d %s): grant %s", doing, code, hwcloud.ErrorCode(err), action)
	}
	var unwrap interface{ Unwrap() []error }
	if errors.As(err, &unwrap) && len(unwrap.Unwrap()) > 0 {
		err = unwrap.Unwrap()[0]
	}
	return fmt.Sprintf("%s failed: %v", doing, err)
}

func signalOf(metric string) string {
	switch metric {
	case "cpu_util", "cpu_usage":
		return config.SignalCPU
	case "mem_usedPercent":
		return config.SignalMemory
	case "gpu_usage_gpu":
		return config.SignalGPU
	}
	return config.SignalNPU
}

func dim(m hwcloud.Metric, name string) string {
	for _, d := range m.Dims {
		if d.Name == name {
			return d.Value
		}
	}
	return ""
}

func dimsText(dims []hwcloud.Dim) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = d.Name + "=" + d.Value
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// match tells whether want is listed with exactly its dimensions, else
// describes (up to three of) the dimension sets that are.
func match(listed []hwcloud.Metric, want hwcloud.Metric) (bool, string) {
	var seen []string
	for _, m := range listed {
		if dimsText(m.Dims) == dimsText(want.Dims) {
			return true, ""
		}
		if len(seen) < 3 {
			seen = append(seen, "{"+dimsText(m.Dims)+"}")
		}
	}
	if len(seen) == 0 {
		return false, "none at all (check the namespace and metric)"
	}
	return false, strings.Join(seen, ", ")
}

// elbMetric is the ELB response-time series a cloudeye: URL names.
func elbMetric(raw string) (hwcloud.Metric, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return hwcloud.Metric{}, err
	}
	m := hwcloud.Metric{Namespace: u.Opaque, Name: "m14_l7_rt"}
	if m.Namespace == "" {
		m.Namespace = "SYS.ELB"
	}
	for n := range u.Query() {
		m.Dims = append(m.Dims, hwcloud.Dim{Name: n, Value: u.Query().Get(n)})
	}
	if len(m.Dims) == 0 {
		return m, fmt.Errorf("%q names no dimension: use cloudeye:SYS.ELB?lbaas_instance_id=<ELB id>", raw)
	}
	return m, nil
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if in[x] {
			out = append(out, x)
		}
	}
	return out
}

// WriteText prints the report for a person.
func (r Report) WriteText(w io.Writer) {
	for _, g := range r.Groups {
		fmt.Fprintf(w, "group %s: %d instances\n", g.Name, len(g.Instances))
		for _, in := range g.Instances {
			fmt.Fprintf(w, "  instance %s  %s  %s  %s\n", in.Name, in.Flavor, in.State, in.ID)
		}
		for _, m := range g.Metrics {
			data := "data"
			if !m.HasData {
				data = "no recent data"
			}
			fmt.Fprintf(w, "  metric %s %s: %d of %d instances (%s)\n", m.Namespace, m.Metric, m.Instances, len(g.Instances), data)
		}
		for _, d := range g.Devices {
			fmt.Fprintf(w, "  %s %s on %s\n", d.Kind, d.ID, d.Instance)
		}
		if q := g.Queue; q != nil {
			fmt.Fprintf(w, "  queue %s %s {%s}\n", q.Namespace, q.Metric, q.Dims)
		}
		if e := g.ELB; e != nil {
			fmt.Fprintf(w, "  elb %s %s {%s}\n", e.Namespace, e.Metric, e.Dims)
		}
		for _, gp := range g.Gaps {
			fmt.Fprintf(w, "  NO DATA %s: %s\n", gp.Signal, gp.Reason)
		}
	}
}

// LoadConfig reads a config file as the exporter does and resolves the
// cloud's credentials through getenv.
func LoadConfig(path string, getenv func(string) string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.Cloud.Resolve(getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
