// Package backtest replays a recorded workload trace through the autoscaler
// in virtual time and compares scaling policies on cost and SLO violations.
//
// The live code runs; only the clock and the cloud are simulated:
//
//   - the simcloud world model (boot delay, capacity, queue, per-second
//     billing) is driven by the trace as demand;
//   - each scrape, the series the exporter publishes for the group are
//     computed by the scoring package from the world's state;
//   - the project's rule files are evaluated by Prometheus's PromQL engine
//     over a small in-memory store, with alerts' pending and firing state;
//   - Alertmanager's group_wait, group_interval and repeat_interval decide
//     when the actuator is notified;
//   - the actuator's own guard function (actuator.Decide) decides, with the
//     group's config as live, and the world scales.
//
// The `seed` policy is the seed article's loop as the article wrote it (a
// check every 60 s, a 300 s cooldown); `static-peak` and `oracle` need no
// pipeline.
package backtest

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flexus-autoscaler/flexus/actuator"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

// Policy names a policy compared by the backtest.
type Policy string

// The policies.
const (
	PolicySeed       Policy = "seed"
	PolicyTarget     Policy = "target"
	PolicyPredictive Policy = "predictive"
	PolicyStaticPeak Policy = "static-peak"
	PolicyOracle     Policy = "oracle"
)

// Policies lists every policy in report order.
func Policies() []Policy {
	return []Policy{PolicySeed, PolicyTarget, PolicyPredictive, PolicyStaticPeak, PolicyOracle}
}

// ParsePolicies reads a --policy value: one name, a comma-separated list, or all.
func ParsePolicies(s string) ([]Policy, error) {
	if s == "" || s == "all" {
		return Policies(), nil
	}
	var out []Policy
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		ok := false
		for _, known := range Policies() {
			if Policy(p) == known {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("backtest: policy %q is unknown: use seed, target, predictive, static-peak, oracle or all", p)
		}
		out = append(out, Policy(p))
	}
	return out, nil
}

// SLO is the one definition of a violation: a minute in which the offered
// load exceeds MaxUtilization of the in-service capacity, or requests wait
// in the queue longer than MaxQueueDelay.
type SLO struct {
	MaxUtilization float64
	MaxQueueDelay  time.Duration
}

// DefaultSLO is 90% of in-service capacity and 1 s of queueing.
func DefaultSLO() SLO { return SLO{MaxUtilization: 0.9, MaxQueueDelay: time.Second} }

// Options describe a backtest run.
type Options struct {
	// PeakInstances is how many instances the trace's peak needs at
	// TargetUtilization (default 10).
	PeakInstances int
	// TargetUtilization sizes the demand (default 0.6, the CPU target).
	TargetUtilization float64
	// Config holds the group the backtest scales (the same file as live);
	// Group names it. Nil means DefaultConfig().
	Config *config.Config
	Group  string
	// Rules are the loaded rule files, shared by every run (state is reset).
	Rules *Rules
	// Alertmanager is the flexus route's timing.
	Alertmanager AlertmanagerOptions
	// BootDelay is how long a new instance takes to serve (default 45 s, simcloud's).
	BootDelay time.Duration
	// WarmUp is how long a booted instance warms up before it serves
	// (default the group's scaling.warm_up).
	WarmUp time.Duration
	// CloudEyeDelay is how long after its period a Cloud Eye point (CPU,
	// memory) is published (default 60 s); Sources has the other delays.
	CloudEyeDelay time.Duration
	Sources       Sources
	// Tick is the world's integration step (default 15 s).
	Tick time.Duration
	SLO  SLO
	// SeedCheck and SeedCooldown are the article's loop (defaults 60 s and 300 s).
	SeedCheck    time.Duration
	SeedCooldown time.Duration
	// KeepSeries keeps per-step series for the report (otherwise only figures).
	KeepSeries bool
	// SeedLog, when set, records what the seed loop saw and did (tests).
	SeedLog *[]SeedCheck
	// Spot, when set, replays the group as a spot fleet (spot.go).
	Spot *SpotOptions
	// Pool is a warm pool of stopped instances (pool.go); none by default.
	Pool PoolOptions
}

func (o Options) withDefaults() (Options, error) {
	if o.PeakInstances == 0 {
		o.PeakInstances = 10
	}
	if o.PeakInstances < 1 {
		return o, fmt.Errorf("backtest: --peak-instances %d must be at least 1", o.PeakInstances)
	}
	if o.TargetUtilization == 0 {
		o.TargetUtilization = 0.6
	}
	if o.Config == nil {
		c, err := DefaultConfig()
		if err != nil {
			return o, err
		}
		o.Config = c
	}
	if o.Group == "" {
		o.Group = o.Config.Groups[0].Name
	}
	if _, ok := o.Config.Group(o.Group); !ok {
		return o, fmt.Errorf("backtest: group %q is not in the config", o.Group)
	}
	if o.Alertmanager == (AlertmanagerOptions{}) {
		o.Alertmanager = DefaultAlertmanager()
	}
	if o.BootDelay == 0 {
		o.BootDelay = 45 * time.Second
	}
	if o.WarmUp == 0 {
		g, _ := o.Config.Group(o.Group)
		o.WarmUp = g.Scaling.WarmUp
	}
	if o.CloudEyeDelay == 0 {
		o.CloudEyeDelay = time.Minute
	}
	if o.Tick == 0 {
		o.Tick = 15 * time.Second
	}
	var err error
	if o.Sources, err = o.Sources.withDefaults(o.Tick); err != nil {
		return o, err
	}
	if o.SLO == (SLO{}) {
		o.SLO = DefaultSLO()
	}
	if o.SeedCheck == 0 {
		o.SeedCheck = time.Minute
	}
	if o.SeedCooldown == 0 {
		o.SeedCooldown = 5 * time.Minute
	}
	pool, err := o.Pool.withDefaults()
	if err != nil {
		return o, err
	}
	o.Pool = pool
	return o, nil
}

// DefaultConfig is the group the backtest scales when no config is given:
// the seed article's table as config.go defaults it, an AS group of 1..20.
func DefaultConfig() (*config.Config, error) {
	const y = `
cloud:
  region: cn-north-4
  project_id: backtest
groups:
  - name: backtest
    discovery:
      as_group_id: backtest
    min_instances: 1
    max_instances: 20
`
	c, err := config.Parse([]byte(y))
	if err != nil {
		return nil, fmt.Errorf("backtest: built-in config: %w", err)
	}
	return c, nil
}

// Figures are one policy's results.
type Figures struct {
	Policy Policy `json:"policy"`
	// InstanceHours is what was billed (per second), in instance-hours.
	InstanceHours float64 `json:"instance_hours"`
	// ViolationMinutes counts the minutes that broke the SLO.
	ViolationMinutes int `json:"slo_violation_minutes"`
	// WorstQueueDelaySeconds is the longest queueing delay seen at a minute
	// boundary while some capacity was in service.
	WorstQueueDelaySeconds float64 `json:"worst_queue_delay_seconds"`
	// ScalingActions counts changes of the desired count; Reversals the
	// actions whose direction differs from the one before.
	ScalingActions int `json:"scaling_actions"`
	Reversals      int `json:"direction_reversals"`
	// PoolHours is how long instances were stopped in the warm pool, in
	// instance-hours; InstanceHours counts them at the pool's stopped cost.
	PoolHours float64 `json:"pool_hours,omitempty"`
	// CostRatioToOracle is InstanceHours over the oracle's (0 when oracle did not run).
	CostRatioToOracle float64 `json:"cost_ratio_to_oracle"`
	// Pipeline counts what the alerting pipeline did (target and predictive).
	Notifications int            `json:"notifications,omitempty"`
	Decisions     map[string]int `json:"decisions,omitempty"`
	// Effectiveness is the seed's score of the live actuator's decisions,
	// graded in hindsight against the world (target and predictive).
	Effectiveness *actuator.Effectiveness `json:"effectiveness,omitempty"`
	// Detection is how soon the policy answered demand above its capacity.
	Detection *Detection `json:"detection,omitempty"`
	// Spot is the bill and the reclaims of a spot replay (Options.Spot).
	Spot *SpotFigures `json:"spot,omitempty"`
}

// Series are per-step values kept for the report.
type Series struct {
	InService []float64
	Desired   []float64
	Violation []bool
}

// Result is a backtest of one trace.
type Result struct {
	Trace   string
	Start   time.Time
	Step    time.Duration
	Steps   int
	Peak    int
	SLO     SLO
	Figures map[Policy]*Figures
	Order   []Policy
	// Demand is the offered load per step in instances at 100% utilisation.
	Demand []float64
	Series map[Policy]*Series
}

// SeedCheck is one check of the seed loop, for the step-by-step test.
type SeedCheck struct {
	At        time.Time
	InService int
	Desired   int
	Signals   map[string]float64
	Composite float64
	Recommend int
	Applied   bool
}

// stepOf is the replay step: the scrape and rule evaluation interval, and the
// unit of the SLO.
const stepOf = time.Minute

// demandCurve gives the offered load in requests per second at t, exactly as
// the world computes it (linear interpolation, normalised to the trace's max).
type demandCurve struct {
	tr   trace.Series
	peak float64 // requests per second at the trace's maximum
	max  float64
}

func newDemandCurve(tr trace.Series, peak float64) demandCurve {
	m := 0.0
	for _, v := range tr.Values {
		if !math.IsNaN(v) && v > m {
			m = v
		}
	}
	return demandCurve{tr: tr, peak: peak, max: m}
}

func (d demandCurve) at(t time.Time) float64 {
	n := len(d.tr.Values)
	if n == 0 || d.max <= 0 {
		return 0
	}
	pos := float64(t.Sub(d.tr.Start)) / float64(d.tr.Step)
	pos = math.Mod(pos, float64(n))
	if pos < 0 {
		pos += float64(n)
	}
	i := int(pos)
	frac := pos - float64(i)
	a, b := d.tr.Values[i%n], d.tr.Values[(i+1)%n]
	v := a + (b-a)*frac
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return d.peak * v / d.max
}

// LoadTrace reads a trace file as the backtest replays it; azureValue picks
// what an Azure per-request trace is binned into (default requests per
// minute). Bad rows are refused with their line (see package trace).
func LoadTrace(path, azureValue string) (trace.Series, error) {
	return trace.LoadWith(path, trace.Options{AzureValue: trace.AzureValue(azureValue)})
}
