package config

import (
	"cmp"
	"time"

	"github.com/flexus-autoscaler/flexus/cost"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// Defaults are set before decoding (blackbox_exporter's way), so a value the
// file writes, zero included, is the value in force. Only what depends on
// other fields (a group's backend, a DMS preset's series, an ECS name
// prefix) is filled in after decoding, and only where empty means nothing.
// The decoders use the func form of UnmarshalYAML: it shares the caller's
// decoder, so KnownFields(true) still refuses unknown keys.

// UnmarshalYAML fills the defaults of every section, then decodes over them.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Config{
		// 7.5 requests a second with a burst of 50 stay within the 500
		// BatchListMetricData calls a minute Cloud Eye allows (50 + 7.5 × 60
		// in any minute); the large burst lets a first collection read every
		// CPU of 8,000 instances before it waits.
		CloudEye: CloudEye{
			Delay:             2 * time.Minute,
			Period:            "1",
			RequestsPerSecond: 7.5,
			Burst:             50,
			Concurrency:       4,
			MetricsPerRequest: 500,
			WarmStart:         24 * time.Hour,
		},
		Exporter: Exporter{
			Interval:         60 * time.Second,
			StaleAfter:       5 * time.Minute,
			ForecastHorizons: []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour},
		},
		Actuator: Actuator{
			StateFile:       "flexus-actuator-state.json",
			IdempotencyTTL:  24 * time.Hour,
			MaxBodyBytes:    1 << 20,
			DecisionLogSize: 1000,
			JobTimeout:      10 * time.Minute,
		},
		Pricing: cost.Pricing{Currency: cost.DefaultCurrency, Refresh: 24 * time.Hour},
	}
	type config Config // without methods, so decoding does not recurse
	return unmarshal((*config)(c))
}

// UnmarshalYAML decodes a group over its defaults. Signals start from the
// signal table (scoring.SignalTable); the file overrides them field by field,
// so the fields it writes are read a second time as pointers, which tell an
// explicit zero from an absent key.
func (g *Group) UnmarshalYAML(unmarshal func(any) error) error {
	*g = Group{
		MinInstances:     1,
		MaxInstances:     20,
		Policy:           PolicyPredictive,
		Risk:             scoring.DefaultRisk,
		Headroom:         defaultHeadroom(),
		InstanceCapacity: 100,
		Scaling: Scaling{
			// CooldownOut depends on the policy: resolved below.
			CooldownIn:           300 * time.Second,
			MaxStepOut:           10,
			MaxStepIn:            5,
			MaxStepOutPercent:    100,
			MaxStepInPercent:     50,
			ScaleInStabilization: 5 * time.Minute,
			BootTime:             60 * time.Second,
			PipelineDelay:        90 * time.Second,
			DrainWindow:          scoring.DefaultDrainWindow,
		},
	}
	type group Group
	if err := unmarshal((*group)(g)); err != nil {
		return err
	}
	var written struct {
		Signals          map[string]signalFields `yaml:"signals"`
		InstanceCapacity *float64                `yaml:"instance_capacity"`
		Scaling          struct {
			CooldownOut *time.Duration `yaml:"cooldown_out"`
			Rest        map[string]any `yaml:",inline"`
		} `yaml:"scaling"`
		Rest map[string]any `yaml:",inline"` // checked by the strict decode above
	}
	if err := unmarshal(&written); err != nil {
		return err
	}
	g.Signals, g.disabled = mergeSignals(written.Signals)
	// Only where it matters, so a valid group never carries it (configs compare equal).
	g.capacityDefaulted = written.InstanceCapacity == nil && g.RequestRate != nil
	if written.Scaling.CooldownOut == nil {
		g.Scaling.CooldownOut = DefaultCooldownOutFor(g.Policy)
		g.cooldownOutDefaulted = true
	}
	return nil
}

// The scale-out cooldown keeps a group from scaling out again on data that
// does not yet show its last scale-out's capacity; its default depends on
// what the policy sizes on (a file's scaling.cooldown_out always wins).
const (
	// DefaultCooldownOut (the seed article's 300 s) is for target and seed:
	// they size on utilisation, which Cloud Eye publishes minutes late, so
	// right after a scale-out it still shows the old capacity and a second
	// scale-out would count the same load twice. In the backtest a 60 s
	// cooldown raised target's cost on elb from 1.93 to 2.05× the oracle.
	DefaultCooldownOut = 300 * time.Second
	// DefaultCooldownOutPredictive is for predictive: it sizes on demand
	// (utilisation × the instances serving when it was sampled, or the
	// request rate), which the group's own scaling does not move, so its
	// recommendation is absolute and a second scale-out is no double count.
	// 300 s held a flash crowd at a doubled count while demand was 3-6×
	// (backtest, Twitter: 29 violation minutes, 23 with 60 s).
	DefaultCooldownOutPredictive = 60 * time.Second
)

// DefaultCooldownOutFor is the scale-out cooldown of a group under policy
// when the file does not write scaling.cooldown_out.
func DefaultCooldownOutFor(policy string) time.Duration {
	if policy == PolicyPredictive {
		return DefaultCooldownOutPredictive
	}
	return DefaultCooldownOut
}

// ForPolicy is a copy of the group run under policy p, as the backtest
// replays every policy on one group: a scale-out cooldown the file left out
// takes p's default, one it wrote is kept, and so is one changed since (tune
// sets it on the group). Under the group's own policy the copy is the group
// as it is. The copy shares the group's maps and sections: read them only.
func (g *Group) ForPolicy(p string) *Group {
	c := *g
	if p == g.Policy {
		return &c
	}
	c.Policy = p
	if g.cooldownOutDefaulted && g.Scaling.CooldownOut == DefaultCooldownOutFor(g.Policy) {
		c.Scaling.CooldownOut = DefaultCooldownOutFor(p)
	}
	return &c
}

// signalFields is a signal as the file writes it: nil is "not written".
type signalFields struct {
	ScaleOut *float64 `yaml:"scale_out"`
	ScaleIn  *float64 `yaml:"scale_in"`
	Weight   *float64 `yaml:"weight"`
	Target   *float64 `yaml:"target"`
	Disabled bool     `yaml:"disabled"`
}

// defaultSignals is the signal table as config signals: the article's five
// that every group has. Accelerators join a group's signals when the file
// names them; unnamed, they still count in its score while they have data
// (see ScoringParams), but their absence does not block scale-in.
func defaultSignals() map[string]Signal {
	out := map[string]Signal{}
	for _, r := range scoring.SignalTable() {
		if !r.Accelerator {
			out[string(r.Signal)] = tableSignal(r)
		}
	}
	return out
}

func tableSignal(r scoring.SignalSpec) Signal {
	return Signal{
		ScaleOut: r.Threshold.Out, ScaleIn: r.Threshold.In,
		Hold: r.HoldOut, Weight: r.Weight, Target: r.Target,
	}
}

// mergeSignals lays what the file writes over the table's defaults and drops
// disabled signals, returning their names. An unknown name is kept as
// written, for validate to name.
func mergeSignals(file map[string]signalFields) (map[string]Signal, map[string]bool) {
	merged := defaultSignals()
	disabled := map[string]bool{}
	for name, f := range file {
		s, ok := merged[name]
		if spec, known := scoring.Spec(scoring.Signal(name)); !ok && known {
			s = tableSignal(spec)
		}
		set := func(dst *float64, v *float64) {
			if v != nil {
				*dst = *v
			}
		}
		set(&s.ScaleOut, f.ScaleOut)
		set(&s.ScaleIn, f.ScaleIn)
		set(&s.Weight, f.Weight)
		set(&s.Target, f.Target)
		s.Disabled = f.Disabled
		merged[name] = s
	}
	for name, s := range merged {
		if s.Disabled {
			delete(merged, name)
			disabled[name] = true
		}
	}
	return merged, disabled
}

// UnmarshalYAML defaults a Redis queue to a list and a 2s timeout.
func (r *RedisQueue) UnmarshalYAML(unmarshal func(any) error) error {
	*r = RedisQueue{Type: "list", Timeout: 2 * time.Second}
	type redisQueue RedisQueue
	return unmarshal((*redisQueue)(r))
}

// UnmarshalYAML defaults an HTTP source's timeout to 5s.
func (h *HTTPSource) UnmarshalYAML(unmarshal func(any) error) error {
	*h = HTTPSource{Timeout: 5 * time.Second}
	type httpSource HTTPSource
	return unmarshal((*httpSource)(h))
}

// UnmarshalYAML defaults an ECS template's disk and termination policy.
func (t *ECSTemplate) UnmarshalYAML(unmarshal func(any) error) error {
	*t = ECSTemplate{TerminationPolicy: "newest", RootVolumeType: "GPSSD", RootVolumeSizeGB: 40}
	type ecsTemplate ECSTemplate
	return unmarshal((*ecsTemplate)(t))
}

// fillDerived sets the defaults that depend on other fields, after decoding.
func (c *Config) fillDerived() {
	c.Cloud.SetDefaults()
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Signals == nil { // a group decoded without UnmarshalYAML (built in code)
			g.Signals = defaultSignals()
		}
		if g.Backend == "" {
			g.Backend = BackendAS
			if g.Discovery.Tag != nil {
				g.Backend = BackendECS
			}
		}
		// A DMS series is explicit, or a documented preset (DMSPresets).
		if g.Queue != nil && g.Queue.DMS != nil {
			d := g.Queue.DMS
			if p, ok := DMSPresets[d.Preset]; ok {
				d.Kind = cmp.Or(d.Kind, p.Kind)
				d.Namespace = cmp.Or(d.Namespace, p.Namespace)
				d.Metric = cmp.Or(d.Metric, p.Metric)
			}
		}
		if g.RequestRate != nil {
			g.RequestRate.Type = cmp.Or(g.RequestRate.Type, RateCounter)
			if g.RequestRate.Type == RateCounter {
				g.RequestRate.Metric = cmp.Or(g.RequestRate.Metric, DefaultRequestRateMetric)
			}
		}
		if g.ECS != nil && g.ECS.NamePrefix == "" {
			g.ECS.NamePrefix = "flexus-" + g.Name
		}
	}
}
