// Package config is the one configuration file shared by the exporter and the
// actuator: the cloud, the scaling groups with their signals and guards, and
// each component's settings. Parsing sets defaults, refuses unknown keys and
// validates, so an error always names the field and the fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/cost"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// Signal names, shared with the metric contract (docs/metrics.md); the
// signals themselves and their defaults are scoring.SignalTable.
const (
	SignalCPU          = string(scoring.CPU)
	SignalMemory       = string(scoring.Memory)
	SignalGPU          = string(scoring.GPU)
	SignalGPUMemory    = string(scoring.GPUMemory)
	SignalNPU          = string(scoring.NPU)
	SignalQueue        = string(scoring.Queue)
	SignalResponseTime = string(scoring.ResponseTime)
	SignalErrorRate    = string(scoring.ErrorRate)
)

// Signals lists every known signal in the table's order.
func Signals() []string {
	var out []string
	for _, s := range scoring.Signals() {
		out = append(out, string(s))
	}
	return out
}

// Backends and policies.
const (
	BackendAS  = "as"
	BackendECS = "ecs"

	PolicySeed       = "seed"
	PolicyTarget     = "target"
	PolicyPredictive = "predictive"
)

// Config is the whole file.
type Config struct {
	Cloud    hwcloud.Config `yaml:"cloud"`
	CloudEye CloudEye       `yaml:"cloudeye"`
	Exporter Exporter       `yaml:"exporter"`
	Actuator Actuator       `yaml:"actuator"`
	// Pricing overrides or adjusts the prices BSS gives (docs/cost.md).
	Pricing cost.Pricing `yaml:"pricing"`
	// Advisor is decoded by the advisor package; kept raw here so this package
	// does not depend on it.
	Advisor yaml.Node `yaml:"advisor"`
	Groups  []Group   `yaml:"groups"`
}

// CloudEye tunes how Cloud Eye is queried.
type CloudEye struct {
	// Delay is how late Cloud Eye publishes datapoints; queries end this far back.
	Delay time.Duration `yaml:"delay"`
	// Period is the raw datapoint period to query ("1" in CES terms means raw).
	Period string `yaml:"period"`
	// RequestsPerSecond and Burst form the request budget (token bucket).
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
	// Concurrency bounds the CES calls in flight.
	Concurrency int `yaml:"concurrency"`
	// MetricsPerRequest is at most 500, the API's limit.
	MetricsPerRequest int `yaml:"metrics_per_request"`
	// WarmStart is how much history is loaded at start for the forecasters.
	WarmStart time.Duration `yaml:"warm_start"`
}

// Exporter holds the exporter's settings.
type Exporter struct {
	// Interval between collections; collections never overlap.
	Interval time.Duration `yaml:"interval"`
	// StaleAfter hides a series whose newest datapoint is older than this.
	StaleAfter time.Duration `yaml:"stale_after"`
	// ForecastHorizons are published as the horizon label.
	ForecastHorizons []time.Duration `yaml:"forecast_horizons"`
	// InstanceTagLabels are server tag keys flexus_instance_info carries as
	// tag_<key> labels (characters other than letters, digits and _ become _).
	InstanceTagLabels []string `yaml:"instance_tag_labels"`
}

// TagLabel is the label name of a server tag key on flexus_instance_info.
func TagLabel(key string) string {
	b := []byte("tag_" + key)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Actuator holds the actuator's settings.
type Actuator struct {
	// BearerTokenFile holds the token Alertmanager sends (http_config.authorization).
	BearerTokenFile string           `yaml:"bearer_token_file"`
	BearerToken     commoncfg.Secret `yaml:"bearer_token"`
	// InsecureNoAuth must be set to run the webhook without a token.
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// StateFile persists idempotency keys, cooldown stamps and recent targets.
	StateFile string `yaml:"state_file"`
	// DryRun decides and records but calls no write API, for every group.
	DryRun bool `yaml:"dry_run"`
	// IdempotencyTTL is how long a notification's key is remembered.
	IdempotencyTTL time.Duration `yaml:"idempotency_ttl"`
	// MaxBodyBytes bounds a webhook request body.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// DecisionLogSize is how many recent decisions /api/v1/decisions keeps.
	DecisionLogSize int `yaml:"decision_log_size"`
	// Etcd keeps the state in etcd instead of state_file, so that several
	// replicas share locks, keys and cooldowns (docs/ha.md).
	Etcd *Etcd `yaml:"etcd"`
	// JobTimeout bounds how long an ECS create or delete job is followed in
	// the background after the webhook was answered.
	JobTimeout time.Duration `yaml:"job_timeout"`
	// Grading grades applied decisions in hindsight; nil leaves them ungraded.
	Grading *Grading `yaml:"grading"`
}

// Etcd is the state store shared by actuator replicas.
type Etcd struct {
	Endpoints []string `yaml:"endpoints"`
	// Prefix holds every key the actuator writes; it ends with "/".
	Prefix string   `yaml:"prefix"`
	TLS    *EtcdTLS `yaml:"tls"`
	// Username and PasswordFile enable etcd's authentication.
	Username     string           `yaml:"username"`
	PasswordFile string           `yaml:"password_file"`
	Password     commoncfg.Secret `yaml:"-"`
	DialTimeout  time.Duration    `yaml:"dial_timeout"`
	// LeaseTTL is how long a replica that stopped answering keeps its group
	// locks: the failover time after a crash.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// EtcdTLS is the client's TLS: the CA to trust, and a client certificate.
type EtcdTLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Group is one scaling group.
type Group struct {
	Name         string    `yaml:"name"`
	Discovery    Discovery `yaml:"discovery"`
	Backend      string    `yaml:"backend"`
	MinInstances int       `yaml:"min_instances"`
	MaxInstances int       `yaml:"max_instances"`
	// Policy is the recommendation that drives scaling: seed, target or predictive.
	Policy string `yaml:"policy"`
	// Risk is the quantile of demand over the lead time that the predictive
	// policy provisions for (0.5..0.999): higher costs more, violates less.
	Risk float64 `yaml:"risk"`
	// Headroom is the predictive policy's calibrated headroom (headroom.go).
	Headroom Headroom          `yaml:"headroom"`
	Signals  map[string]Signal `yaml:"signals"`
	// InstanceCapacity is requests per second one instance serves at 100%; used
	// to turn queue length and the request rate into an instance count.
	InstanceCapacity float64     `yaml:"instance_capacity"`
	Queue            *Queue      `yaml:"queue"`
	ResponseTime     *HTTPSource `yaml:"response_time"`
	// RequestRate is the service's request rate, scraped from its own
	// endpoint: fresher than Cloud Eye's CPU, the predictive policy sizes on
	// it (requestrate.go).
	RequestRate  *HTTPSource   `yaml:"request_rate"`
	ExtraMetrics []ExtraMetric `yaml:"extra_metrics"`
	Scaling      Scaling       `yaml:"scaling"`
	ECS          *ECSTemplate  `yaml:"ecs"`
	// Spot keeps an on-demand base and runs the rest on spot (ecs backend).
	Spot *Spot `yaml:"spot"`
	// WarmPool keeps stopped servers to start first (pool.go).
	WarmPool *WarmPool `yaml:"warm_pool"`

	// disabled names the signals the file disabled, so that an accelerator
	// it turned off is not added back by ScoringParams.
	disabled map[string]bool
	// capacityDefaulted is set when the file has request_rate but did not
	// write instance_capacity: its default of 100 is no measure of the
	// service, and the rate is divided by it.
	capacityDefaulted bool
	// cooldownOutDefaulted is set when the file did not write
	// scaling.cooldown_out: the value is the policy's default
	// (DefaultCooldownOutFor), and ForPolicy gives another policy its own.
	cooldownOutDefaulted bool
}

// Discovery says how a group's instances are found.
type Discovery struct {
	// ASGroupID finds the members of an Auto Scaling group.
	ASGroupID string `yaml:"as_group_id"`
	// Tag finds ECS servers carrying this tag (key=value).
	Tag *Tag `yaml:"tag"`
}

// Tag is an ECS tag.
type Tag struct {
	Key   string `yaml:"key"`
	Value string `yaml:"value"`
}

// Signal is one scaling signal's thresholds, in base units (ratios 0..1,
// seconds, items).
type Signal struct {
	ScaleOut float64 `yaml:"scale_out"`
	ScaleIn  float64 `yaml:"scale_in"`
	// Hold is how long a threshold must be crossed before its alert fires. It is
	// not read from the file: the rule files are generated from scoring.SignalTable.
	Hold   time.Duration `yaml:"-"`
	Weight float64       `yaml:"weight"`
	// Target is the level target tracking aims for (per instance for queue).
	Target float64 `yaml:"target"`
	// Disabled removes a default signal from the group.
	Disabled bool `yaml:"disabled"`
}

// Queue says where a group's queue depth comes from: exactly one source.
type Queue struct {
	Redis *RedisQueue `yaml:"redis"`
	DMS   *DMSQueue   `yaml:"dms"`
}

// RedisQueue reads a key's length.
type RedisQueue struct {
	Address      string           `yaml:"address"`
	Username     string           `yaml:"username"`
	Password     commoncfg.Secret `yaml:"password"`
	PasswordFile string           `yaml:"password_file"`
	DB           int              `yaml:"db"`
	Key          string           `yaml:"key"`
	// Type is list (LLEN), stream (XLEN, or pending of ConsumerGroup) or zset (ZCARD).
	Type          string        `yaml:"type"`
	ConsumerGroup string        `yaml:"consumer_group"`
	Timeout       time.Duration `yaml:"timeout"`
}

// DMSQueue reads a DMS Kafka or RabbitMQ backlog through Cloud Eye. The
// series is explicit: namespace, metric and dimensions, or a preset that
// names a documented series (DMSPresets) and needs only its dimension values.
type DMSQueue struct {
	// Kind is kafka or rabbitmq: the source label (dms_kafka, dms_rabbitmq); a preset sets it.
	Kind       string            `yaml:"kind"`
	Preset     string            `yaml:"preset"`
	Namespace  string            `yaml:"namespace"`
	Metric     string            `yaml:"metric"`
	Dimensions map[string]string `yaml:"dimensions"`
}

// DMSPreset is a queue series Huawei documents, with the page it is on.
type DMSPreset struct {
	Kind, Namespace, Metric string
	// Dimensions are the dimension names the series has, all of them.
	Dimensions []string
	Doc        string
}

// DMSPresets are the documented queue series (docs/cloud-api.md). DMS
// publishes backlogs per instance only: there is no per-consumer-group or
// per-queue series. A Redis list is read with queue.redis instead.
var DMSPresets = map[string]DMSPreset{
	"kafka_backlog": {Kind: "kafka", Namespace: "SYS.DMS", Metric: "group_msgs", Dimensions: []string{"kafka_instance_id"},
		Doc: `DMS for Kafka "Kafka Metrics", instance metrics: messages accumulated in all consumer groups of the instance`},
	"rabbitmq_ready": {Kind: "rabbitmq", Namespace: "SYS.DMS", Metric: "messages_ready", Dimensions: []string{"rabbitmq_instance_id"},
		Doc: `DMS for RabbitMQ "RabbitMQ Metrics", instance metrics: messages ready for consumption in the instance`},
}

// presetList names the presets and their series, for errors.
func presetList() string {
	names := make([]string, 0, len(DMSPresets))
	for n := range DMSPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		p := DMSPresets[n]
		parts[i] = fmt.Sprintf("%s (%s %s by %s)", n, p.Namespace, p.Metric, strings.Join(p.Dimensions, ", "))
	}
	return strings.Join(parts, ", ")
}

// HTTPSource reads a value from a Prometheus-format endpoint of the service.
type HTTPSource struct {
	URL string `yaml:"url"`
	// Metric is the sample to read; for response time a summary/gauge in
	// seconds, for the request rate a counter of requests or a gauge in
	// requests per second.
	Metric string `yaml:"metric"`
	// Type is request_rate's only: counter (the default) or gauge, since a
	// service's endpoint does not always say which it serves.
	Type    string        `yaml:"type"`
	Timeout time.Duration `yaml:"timeout"`
}

// ExtraMetric is any further Cloud Eye metric published per instance. A
// metric with a second dimension (AGT.ECS disk_usedPercent has mount_point)
// names it: Dimension is the agent dimension ListAgentDimensionInfo resolves
// (mount_point or disk) and Origin the real value to read ("/", "vda").
type ExtraMetric struct {
	Namespace string `yaml:"namespace"`
	Metric    string `yaml:"metric"`
	Dimension string `yaml:"dimension"`
	Origin    string `yaml:"origin"`
}

// Scaling holds the actuator's guards for a group.
type Scaling struct {
	// CooldownOut defaults by policy: 60 s for predictive, 300 s for target
	// and seed (DefaultCooldownOutFor says why).
	CooldownOut time.Duration `yaml:"cooldown_out"`
	CooldownIn  time.Duration `yaml:"cooldown_in"`
	// MaxStepOut/In bound one action in instances; the percent forms bound it
	// relative to the current count. The smaller bound wins.
	MaxStepOut        int     `yaml:"max_step_out"`
	MaxStepIn         int     `yaml:"max_step_in"`
	MaxStepOutPercent float64 `yaml:"max_step_out_percent"`
	MaxStepInPercent  float64 `yaml:"max_step_in_percent"`
	// ScaleInStabilization: scale in only to the highest target seen in this window.
	ScaleInStabilization time.Duration `yaml:"scale_in_stabilization"`
	// BootTime is how long a new instance takes to boot.
	BootTime time.Duration `yaml:"boot_time"`
	// WarmUp is how long a booted instance warms up (caches, JIT) before it
	// serves; part of the lead time.
	WarmUp time.Duration `yaml:"warm_up"`
	// DrainWindow is how soon a queue backlog is to be worked off: the queue
	// asks for (arrival rate + backlog/drain_window) / instance_capacity.
	DrainWindow time.Duration `yaml:"drain_window"`
	// PipelineDelay is scrape + rule hold + Alertmanager wait, for the lead time.
	PipelineDelay time.Duration `yaml:"pipeline_delay"`
	Paused        bool          `yaml:"paused"`
	DryRun        bool          `yaml:"dry_run"`
}

// ECSTemplate is how the ecs backend creates Flexus X servers.
type ECSTemplate struct {
	Flavor           string            `yaml:"flavor"`
	ImageID          string            `yaml:"image_id"`
	VPCID            string            `yaml:"vpc_id"`
	SubnetID         string            `yaml:"subnet_id"`
	SecurityGroupID  string            `yaml:"security_group_id"`
	AvailabilityZone string            `yaml:"availability_zone"`
	NamePrefix       string            `yaml:"name_prefix"`
	RootVolumeType   string            `yaml:"root_volume_type"`
	RootVolumeSizeGB int               `yaml:"root_volume_size_gb"`
	Spot             bool              `yaml:"spot"`
	Tags             map[string]string `yaml:"tags"`
	// TerminationPolicy picks which managed servers go first: newest or oldest.
	TerminationPolicy string `yaml:"termination_policy"`
}

// ManagedTagKey marks servers the ecs backend created; it never touches others.
const ManagedTagKey = "flexus.managed"

// Load reads and validates a file. Its problems come back as an *Error
// naming the file, each field's path and line, and the fix.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = path
			return nil, e
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes, defaults and validates a file's content. Credentials are not
// resolved here (see hwcloud.Config.Resolve): check-config must work without them.
// Decoding and validation problems are an *Error whose paths are the file's
// (groups[1].scaling.cooldown_in) with the line of each.
func Parse(b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "tab character") {
			msg += ": indent with spaces"
		}
		return nil, &Error{Problems: []Problem{{Msg: msg}}}
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.Is(err, io.EOF):
			return nil, &Error{Problems: []Problem{{Msg: "the file is empty: at least one group is needed under groups:"}}}
		case errors.As(err, &te):
			return nil, decodeProblems(te, &root)
		}
		return nil, &Error{Problems: []Problem{{Msg: err.Error()}}}
	}
	c.fillDerived()
	if err := c.validate(); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return nil, err
		}
		nodes := locate(&root)
		for i := range e.Problems {
			e.Problems[i].Line = lineOf(nodes, e.Problems[i].Path)
		}
		return nil, e
	}
	return &c, nil
}

var groupName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)

func (c *Config) validate() error {
	if err := c.Cloud.Validate(); err != nil {
		return &Error{Problems: []Problem{{Msg: err.Error()}}}
	}
	if err := c.Pricing.Validate(); err != nil {
		var fe *cost.FieldError
		if errors.As(err, &fe) {
			return fieldError("pricing."+fe.Field, "%s", fe.Msg)
		}
		return fieldError("pricing", "%v", err)
	}
	ce := c.CloudEye
	switch {
	case ce.Delay < 0:
		return fieldError("cloudeye.delay", "%s is negative", ce.Delay)
	case !contains([]string{"1", "300", "1200", "3600", "14400", "86400"}, ce.Period):
		return fieldError("cloudeye.period", "%q is not a Cloud Eye period: use 1 (raw), 300, 1200, 3600, 14400 or 86400", ce.Period)
	case !(ce.RequestsPerSecond > 0) || math.IsInf(ce.RequestsPerSecond, 0):
		return fieldError("cloudeye.requests_per_second", "%v must be positive", ce.RequestsPerSecond)
	case ce.Burst < 1:
		return fieldError("cloudeye.burst", "%d must be at least 1", ce.Burst)
	case ce.Concurrency < 1 || ce.Concurrency > 64:
		return fieldError("cloudeye.concurrency", "%d is outside 1..64", ce.Concurrency)
	case ce.MetricsPerRequest < 1 || ce.MetricsPerRequest > 500:
		return fieldError("cloudeye.metrics_per_request", "%d is outside 1..500 (the API's limit)", ce.MetricsPerRequest)
	case ce.WarmStart < 0:
		return fieldError("cloudeye.warm_start", "%s is negative: use 0 for no warm start", ce.WarmStart)
	}
	e := c.Exporter
	switch {
	case e.Interval < time.Second:
		return fieldError("exporter.interval", "%s is below 1s", e.Interval)
	case e.StaleAfter <= 0:
		return fieldError("exporter.stale_after", "%s must be positive", e.StaleAfter)
	case len(e.ForecastHorizons) == 0:
		return fieldError("exporter.forecast_horizons", "is empty: give at least one horizon, e.g. [5m, 15m, 1h]")
	}
	labels := map[string]string{}
	for i, k := range e.InstanceTagLabels {
		l := TagLabel(k)
		if k == "" {
			return fieldError(fmt.Sprintf("exporter.instance_tag_labels[%d]", i), "is empty: name a server tag key")
		}
		if prev, dup := labels[l]; dup {
			return fieldError("exporter.instance_tag_labels", "%q and %q are both the label %s: keep one", prev, k, l)
		}
		labels[l] = k
	}
	for i, h := range e.ForecastHorizons {
		if h <= 0 {
			return fieldError(fmt.Sprintf("exporter.forecast_horizons[%d]", i), "%s must be positive", h)
		}
	}
	a := c.Actuator
	switch {
	case a.BearerTokenFile != "" && a.BearerToken != "":
		return fieldError("actuator", "set bearer_token or bearer_token_file, not both")
	case a.InsecureNoAuth && (a.BearerTokenFile != "" || a.BearerToken != ""):
		return fieldError("actuator.insecure_no_auth", "is set together with a bearer token: remove one")
	case a.StateFile == "" && a.Etcd == nil:
		return fieldError("actuator.state_file", "is empty: name the file that keeps cooldowns and idempotency keys, or configure actuator.etcd")
	case a.IdempotencyTTL < time.Minute:
		return fieldError("actuator.idempotency_ttl", "%s is below 1m: Alertmanager retries would act twice", a.IdempotencyTTL)
	case a.MaxBodyBytes < 1024:
		return fieldError("actuator.max_body_bytes", "%d is below 1024", a.MaxBodyBytes)
	case a.DecisionLogSize < 1:
		return fieldError("actuator.decision_log_size", "%d must be at least 1", a.DecisionLogSize)
	case a.JobTimeout < time.Minute:
		return fieldError("actuator.job_timeout", "%s is below 1m: ECS jobs take minutes", a.JobTimeout)
	}
	if err := a.validateEtcd(); err != nil {
		return err
	}
	if err := a.Grading.validate(); err != nil {
		return err
	}

	if len(c.Groups) == 0 {
		return fieldError("groups", "is empty: configure at least one scaling group")
	}
	seen := map[string]int{}
	for i := range c.Groups {
		g := &c.Groups[i]
		at := fmt.Sprintf("groups[%d]", i)
		if !groupName.MatchString(g.Name) {
			return fieldError(at+".name", "%q must be 1-64 lowercase letters, digits or dashes", g.Name)
		}
		if err := g.validate(); err != nil {
			return within(at, err)
		}
		if first, ok := seen[g.Name]; ok {
			return fieldError(at+".name", "%q is already the name of groups[%d]: group names must be unique", g.Name, first)
		}
		seen[g.Name] = i
	}
	return nil
}

func (a Actuator) validateEtcd() error {
	e := a.Etcd
	if e == nil {
		return nil
	}
	switch {
	case a.StateFile != "":
		return fieldError("actuator", "state_file and etcd are mutually exclusive: etcd holds the state every replica shares; remove state_file")
	case len(e.Endpoints) == 0:
		return fieldError("actuator.etcd.endpoints", "is empty: list the etcd members (e.g. [127.0.0.1:2379])")
	case !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/"):
		return fieldError("actuator.etcd.prefix", "%q must start and end with / (e.g. /flexus/)", e.Prefix)
	case (e.Username == "") != (e.PasswordFile == ""):
		return fieldError("actuator.etcd", "set username and password_file together")
	case e.DialTimeout <= 0:
		return fieldError("actuator.etcd.dial_timeout", "%s must be positive", e.DialTimeout)
	case e.LeaseTTL < 5*time.Second:
		return fieldError("actuator.etcd.lease_ttl", "%s is below 5s, etcd's shortest lease", e.LeaseTTL)
	case e.TLS != nil && (e.TLS.CertFile == "") != (e.TLS.KeyFile == ""):
		return fieldError("actuator.etcd.tls", "set cert_file and key_file together")
	}
	for i, ep := range e.Endpoints {
		if strings.TrimSpace(ep) == "" {
			return fieldError(fmt.Sprintf("actuator.etcd.endpoints[%d]", i), "is empty")
		}
	}
	return nil
}

// validate returns problems with paths relative to the group.
func (g *Group) validate() error {
	d := g.Discovery
	switch {
	case d.ASGroupID == "" && d.Tag == nil:
		return fieldError("discovery", "set as_group_id (an Auto Scaling group) or tag (ECS servers by tag)")
	case d.ASGroupID != "" && d.Tag != nil:
		return fieldError("discovery", "set as_group_id or tag, not both")
	case d.Tag != nil && (d.Tag.Key == "" || d.Tag.Value == ""):
		return fieldError("discovery.tag", "key and value are both required")
	}
	switch g.Backend {
	case BackendAS:
		if d.ASGroupID == "" {
			return fieldError("backend", "as needs discovery.as_group_id")
		}
	case BackendECS:
		if d.Tag == nil {
			return fieldError("backend", "ecs needs discovery.tag to find its servers")
		}
		if g.ECS == nil {
			return fieldError("ecs", "is missing: backend ecs needs a template (flavor, image_id, subnet_id, ...)")
		}
		if err := g.ECS.validate(); err != nil {
			return within("ecs", err)
		}
	default:
		return fieldError("backend", "%q is unknown: use as or ecs", g.Backend)
	}
	switch {
	case g.MinInstances < 0:
		return fieldError("min_instances", "%d is negative", g.MinInstances)
	case g.MaxInstances < g.MinInstances:
		return fieldError("max_instances", "%d is below min_instances %d", g.MaxInstances, g.MinInstances)
	case g.MaxInstances > 1000:
		return fieldError("max_instances", "%d is above 1000: raise it in code if you really mean it", g.MaxInstances)
	case g.InstanceCapacity <= 0:
		return fieldError("instance_capacity", "%v must be positive", g.InstanceCapacity)
	}
	if !contains([]string{PolicySeed, PolicyTarget, PolicyPredictive}, g.Policy) {
		return fieldError("policy", "%q is unknown: use seed, target or predictive", g.Policy)
	}
	names := make([]string, 0, len(g.Signals))
	for n := range g.Signals {
		names = append(names, n)
	}
	sort.Strings(names)
	weights := 0.0
	for _, n := range names {
		s := g.Signals[n]
		if !contains(Signals(), n) {
			return fieldError("signals."+n, "unknown signal%s", suggest(n, Signals()))
		}
		if err := s.validate(n); err != nil {
			return within("signals."+n, err)
		}
		if !scoring.IsAccelerator(scoring.Signal(n)) { // renormalised while present
			weights += s.Weight
		}
	}
	if weights > 1.0001 {
		return fieldError("signals", "weights add up to %.2f, above 1: lower them (the seed uses 0.95 plus 0.05 for the trend; gpu, gpu_memory and npu are not counted)", weights)
	}
	if g.Queue != nil {
		if err := g.Queue.validate(); err != nil {
			return within("queue", err)
		}
	}
	if g.ResponseTime != nil && g.ResponseTime.URL == "" {
		return fieldError("response_time.url", "is empty")
	}
	if g.ResponseTime != nil && g.ResponseTime.Type != "" {
		return fieldError("response_time.type", "is request_rate's: remove it (response_time reads the type the endpoint declares)")
	}
	if err := g.validateRequestRate(); err != nil {
		return err
	}
	for i, m := range g.ExtraMetrics {
		if m.Namespace == "" || m.Metric == "" {
			return fieldError(fmt.Sprintf("extra_metrics[%d]", i), "namespace and metric are both required")
		}
		if m.Dimension != "" && !contains([]string{"mount_point", "disk"}, m.Dimension) {
			return fieldError(fmt.Sprintf("extra_metrics[%d].dimension", i), "%q cannot be resolved: use mount_point or disk (the agent dimensions ListAgentDimensionInfo maps)", m.Dimension)
		}
		if m.Namespace == "AGT.ECS" && m.Metric == "disk_usedPercent" && m.Dimension != "mount_point" {
			return fieldError(fmt.Sprintf("extra_metrics[%d]", i), "AGT.ECS disk_usedPercent is published per mount point: set dimension: mount_point and origin (e.g. \"/\")")
		}
		if m.Dimension != "" && m.Origin == "" {
			return fieldError(fmt.Sprintf("extra_metrics[%d].origin", i), "is empty: name the %s to read (e.g. \"/\" or \"vda\")", m.Dimension)
		}
	}
	if g.WarmPool != nil {
		if err := g.WarmPool.validate(g); err != nil {
			return within("warm_pool", err)
		}
	}
	sc := g.Scaling
	switch {
	case sc.CooldownOut < 0:
		return fieldError("scaling.cooldown_out", "%s is negative", sc.CooldownOut)
	case sc.CooldownIn < 0:
		return fieldError("scaling.cooldown_in", "%s is negative", sc.CooldownIn)
	case sc.MaxStepOut < 1:
		return fieldError("scaling.max_step_out", "%d must be at least 1: a smaller step never scales out (pause the group with paused: true)", sc.MaxStepOut)
	case sc.MaxStepIn < 1:
		return fieldError("scaling.max_step_in", "%d must be at least 1: a smaller step never scales in (pause the group with paused: true)", sc.MaxStepIn)
	case sc.MaxStepOutPercent <= 0:
		return fieldError("scaling.max_step_out_percent", "%v must be positive", sc.MaxStepOutPercent)
	case sc.MaxStepInPercent <= 0 || sc.MaxStepInPercent > 100:
		return fieldError("scaling.max_step_in_percent", "%v is outside (0, 100]", sc.MaxStepInPercent)
	case sc.ScaleInStabilization < 0:
		return fieldError("scaling.scale_in_stabilization", "%s is negative", sc.ScaleInStabilization)
	case sc.BootTime < 0:
		return fieldError("scaling.boot_time", "%s is negative", sc.BootTime)
	case sc.PipelineDelay < 0:
		return fieldError("scaling.pipeline_delay", "%s is negative", sc.PipelineDelay)
	case sc.WarmUp < 0:
		return fieldError("scaling.warm_up", "%s is negative", sc.WarmUp)
	case sc.DrainWindow <= 0:
		return fieldError("scaling.drain_window", "%s must be positive, e.g. 2m", sc.DrainWindow)
	case !(g.Risk >= 0.5 && g.Risk <= 0.999):
		return fieldError("risk", "%v must be a quantile in [0.5, 0.999], e.g. 0.9", g.Risk)
	}
	if err := g.Headroom.validate(); err != nil {
		return err
	}
	return g.validateSpot()
}

func (s Signal) validate(name string) error {
	fields := []struct {
		name string
		v    float64
	}{{"scale_out", s.ScaleOut}, {"scale_in", s.ScaleIn}, {"weight", s.Weight}, {"target", s.Target}}
	for _, f := range fields {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fieldError(f.name, "%v must be a finite, non-negative number", f.v)
		}
	}
	// A percent where a ratio goes is checked first: 70 over a scale_in of
	// 0.3 is above it, and would otherwise pass for a threshold never reached.
	if scoring.KindOf(scoring.Signal(name)) == scoring.Ratio {
		for _, f := range fields[:2] {
			if f.v > 1 {
				return fieldError(f.name, "%v is above 1: %s is a ratio, write %s for %v%%", f.v, name, asRatio(f.v), f.v)
			}
		}
		if s.Target > 1 {
			return fieldError("target", "%v is above 1: %s is a ratio, write %s for %v%%", s.Target, name, asRatio(s.Target), s.Target)
		}
	}
	if s.ScaleOut <= s.ScaleIn {
		return fieldError("scale_out", "%v must be above scale_in %v", s.ScaleOut, s.ScaleIn)
	}
	return nil
}

// validate returns problems with paths relative to the queue.
func (q *Queue) validate() error {
	switch {
	case q.Redis == nil && q.DMS == nil:
		return fieldError("", "set redis or dms")
	case q.Redis != nil && q.DMS != nil:
		return fieldError("", "set redis or dms, not both")
	case q.Redis != nil:
		r := q.Redis
		if r.Address == "" || r.Key == "" {
			return fieldError("redis", "address and key are both required")
		}
		if !contains([]string{"list", "stream", "zset"}, r.Type) {
			return fieldError("redis.type", "%q is unknown: use list, stream or zset", r.Type)
		}
		if r.ConsumerGroup != "" && r.Type != "stream" {
			return fieldError("redis.consumer_group", "only applies to type stream")
		}
		if r.Password != "" && r.PasswordFile != "" {
			return fieldError("redis", "set password or password_file, not both")
		}
	case q.DMS != nil:
		d := q.DMS
		p, preset := DMSPresets[d.Preset]
		switch {
		case d.Preset != "" && !preset:
			return fieldError("dms.preset", "%q is unknown: use one of %s", d.Preset, presetList())
		case d.Namespace == "" || d.Metric == "":
			return fieldError("dms", "namespace and metric are empty: name the Cloud Eye series, or set a preset: %s", presetList())
		case !contains([]string{"kafka", "rabbitmq"}, d.Kind):
			return fieldError("dms.kind", "%q is unknown: use kafka or rabbitmq", d.Kind)
		case len(d.Dimensions) == 0:
			return fieldError("dms.dimensions", "is empty: name the DMS instance to read (e.g. kafka_instance_id)")
		}
		if preset && d.Namespace == p.Namespace && d.Metric == p.Metric {
			for name := range d.Dimensions {
				if !contains(p.Dimensions, name) {
					return fieldError("dms.dimensions."+name, "%s %s has only the dimension %s (%s): remove %s", p.Namespace, p.Metric, strings.Join(p.Dimensions, ", "), p.Doc, name)
				}
			}
			for _, name := range p.Dimensions {
				if d.Dimensions[name] == "" {
					return fieldError("dms.dimensions."+name, "is empty: preset %s needs it", d.Preset)
				}
			}
		}
	}
	return nil
}

// validate returns problems with paths relative to the template.
func (t *ECSTemplate) validate() error {
	switch {
	case t.Flavor == "":
		return fieldError("flavor", "is empty (e.g. x1.2u.4g)")
	case t.ImageID == "":
		return fieldError("image_id", "is empty")
	case t.VPCID == "" || t.SubnetID == "":
		return fieldError("", "vpc_id and subnet_id are both required")
	case !contains([]string{"newest", "oldest"}, t.TerminationPolicy):
		return fieldError("termination_policy", "%q is unknown: use newest or oldest", t.TerminationPolicy)
	}
	// ECS limits (docs/cloud-api.md, ecs-create-name and ecs-create-tags):
	// a name of 1..59 characters when several servers are created at once
	// (ECS appends "-0001"), letters, digits, "_", "-" and "."; 10 tags a server.
	if n := utf8.RuneCountInString(t.NamePrefix); n < 1 || n > 59 {
		return fieldError("name_prefix", "%q has %d characters: ECS names servers created together with 1..59: set a shorter name_prefix", t.NamePrefix, n)
	}
	for _, r := range t.NamePrefix {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' {
			return fieldError("name_prefix", "%q holds %q: ECS server names take letters, digits, _, - and . only", t.NamePrefix, r)
		}
	}
	extra := 0
	for k := range t.Tags {
		if k != ManagedTagKey {
			extra++
		}
	}
	if extra+2 > 10 {
		return fieldError("tags", "%d tags plus %s and the discovery tag are %d: ECS takes at most 10 tags a server", extra, ManagedTagKey, extra+2)
	}
	return nil
}

// Group returns the group named name.
func (c *Config) Group(name string) (*Group, bool) {
	for i := range c.Groups {
		if c.Groups[i].Name == name {
			return &c.Groups[i], true
		}
	}
	return nil, false
}

// SignalNames returns the group's signals in a stable order.
func (g *Group) SignalNames() []string {
	var out []string
	for _, n := range Signals() {
		if _, ok := g.Signals[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// LeadTime is how far ahead a scale-out must be decided to land in time.
func (g *Group) LeadTime() time.Duration {
	return g.Scaling.BootTime + g.Scaling.WarmUp + g.Scaling.PipelineDelay
}

// LoadFor loads a file and reads the secrets the commands in f use, the way
// a process running them starts: another command's missing secret is no
// error, and the actuator needs a token or an explicit insecure_no_auth.
func LoadFor(path string, f For) (*Config, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := c.ResolveSecretsFor(f); err != nil {
		err.(*Error).File = path
		return nil, err
	}
	if f&ForActuator != 0 && c.Actuator.BearerToken == "" && !c.Actuator.InsecureNoAuth {
		return nil, &Error{File: path, Problems: []Problem{{Path: "actuator.bearer_token_file", Msg: errNoToken.Error()}}}
	}
	return c, nil
}

// ResolveSecrets reads the secret files of every command; a process running
// one command uses ResolveSecretsFor.
func (c *Config) ResolveSecrets() error { return c.ResolveSecretsFor(ForAll) }

// ResolveSecretsFor reads the secret files the commands in f use: the
// actuator's bearer token, the exporter's Redis passwords. The cloud's
// credentials go through hwcloud.Config.Resolve.
func (c *Config) ResolveSecretsFor(f For) error {
	if f&ForActuator != 0 && c.Actuator.BearerTokenFile != "" {
		s, err := readSecret(c.Actuator.BearerTokenFile)
		if err != nil {
			return &Error{Problems: []Problem{{Path: "actuator.bearer_token_file", Msg: err.Error()}}}
		}
		c.Actuator.BearerToken = s
	}
	if e := c.Actuator.Etcd; f&ForActuator != 0 && e != nil && e.PasswordFile != "" {
		s, err := readSecret(e.PasswordFile)
		if err != nil {
			return &Error{Problems: []Problem{{Path: "actuator.etcd.password_file", Msg: err.Error()}}}
		}
		e.Password = s
	}
	if f&ForExporter == 0 {
		return nil
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Queue != nil && g.Queue.Redis != nil && g.Queue.Redis.PasswordFile != "" {
			s, err := readSecret(g.Queue.Redis.PasswordFile)
			if err != nil {
				return &Error{Problems: []Problem{{Path: fmt.Sprintf("groups[%d].queue.redis.password_file", i), Msg: err.Error()}}}
			}
			g.Queue.Redis.Password = s
		}
	}
	return nil
}

func readSecret(path string) (commoncfg.Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return commoncfg.Secret(s), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
