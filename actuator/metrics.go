package actuator

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the actuator's own series (docs/metrics.md, Actuator).
type metrics struct {
	webhook   *prometheus.CounterVec
	decisions *prometheus.CounterVec
	refusals  *prometheus.CounterVec
	unknown   prometheus.Counter
	duration  *prometheus.HistogramVec
	graded    *prometheus.CounterVec
	spot      *spotMetrics
}

func newMetrics() *metrics {
	return &metrics{
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_actuator_webhook_requests_total",
			Help: "Webhook requests by HTTP status code answered.",
		}, []string{"code"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_actuator_decisions_total",
			Help: "Scaling decisions by group, action and outcome (applied, refused, duplicate, dry_run, noop, failed).",
		}, []string{"group", "action", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_actuator_guard_refusals_total",
			Help: "Decisions refused, by group and the first guard that refused.",
		}, []string{"group", "reason"}),
		unknown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flexus_actuator_unknown_group_alerts_total",
			Help: "Firing scaling alerts naming a group that is not configured; acknowledged, never acted on.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flexus_actuator_decision_duration_seconds",
			Help:    "Time from taking a group's lock to the end of its decision, cloud calls included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"group"}),
		graded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_decisions_graded_total",
			Help: "Applied decisions graded in hindsight once their lead time passed, by group, action and verdict (needed, unneeded, safe, premature, ungraded).",
		}, []string{"group", "action", "verdict"}),
		spot: newSpotMetrics(),
	}
}

func (m *metrics) register(reg prometheus.Registerer, state prometheus.Collector) error {
	for _, c := range append([]prometheus.Collector{m.webhook, m.decisions, m.refusals, m.unknown, m.duration, m.graded, state}, m.spot.collectors()...) {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// stateCollector publishes the per-group state at scrape time: cooldowns
// left, last scale times, the last desired count set, pause and dry-run.
type stateCollector struct {
	a         *Actuator
	cooldown  *prometheus.Desc
	lastScale *prometheus.Desc
	desired   *prometheus.Desc
	paused    *prometheus.Desc
	dryRun    *prometheus.Desc
	effective *prometheus.Desc
}

func newStateCollector(a *Actuator) *stateCollector {
	return &stateCollector{
		a: a,
		cooldown: prometheus.NewDesc("flexus_actuator_cooldown_remaining_seconds",
			"Cooldown left before the next action in this direction, from local and last-seen cloud state.", []string{"group", "direction"}, nil),
		lastScale: prometheus.NewDesc("flexus_actuator_last_scale_timestamp_seconds",
			"When the actuator last scaled the group in this direction (0: never).", []string{"group", "direction"}, nil),
		desired: prometheus.NewDesc("flexus_actuator_desired_instances",
			"The last desired count the actuator set (0: none yet).", []string{"group"}, nil),
		paused: prometheus.NewDesc("flexus_actuator_paused",
			"1 when the group's scaling is paused (scaling.paused).", []string{"group"}, nil),
		dryRun: prometheus.NewDesc("flexus_actuator_dry_run",
			"1 when the group's decisions are dry-run (actuator.dry_run or scaling.dry_run).", []string{"group"}, nil),
		effective: prometheus.NewDesc("flexus_decision_effectiveness_ratio",
			"The seed's effectiveness score of the group's recent graded decisions, by part (accuracy, cost_efficiency, response_speed, overall = 0.4/0.3/0.3).", []string{"group", "part"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cooldown
	ch <- c.lastScale
	ch <- c.desired
	ch <- c.paused
	ch <- c.dryRun
	ch <- c.effective
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.a.Config()
	now := c.a.clock.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i := range cfg.Groups {
		g := &cfg.Groups[i]
		local, err := c.a.store.Group(ctx, g.Name)
		if err != nil {
			local = &GroupState{} // etcd unreachable: the gauges read as unknown rather than stale
		}
		cloud := c.a.lastCloud(g.Name)
		for _, act := range []Action{ScaleOut, ScaleIn} {
			ch <- prometheus.MustNewConstMetric(c.cooldown, prometheus.GaugeValue,
				CooldownRemaining(now, g, act, cloud, local).Seconds(), g.Name, act.Direction())
			last := local.LastOut
			if act == ScaleIn {
				last = local.LastIn
			}
			ts := 0.0
			if !last.IsZero() {
				ts = float64(last.UnixNano()) / 1e9
			}
			ch <- prometheus.MustNewConstMetric(c.lastScale, prometheus.GaugeValue, ts, g.Name, act.Direction())
		}
		ch <- prometheus.MustNewConstMetric(c.desired, prometheus.GaugeValue, float64(local.Desired), g.Name)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, b2f(g.Scaling.Paused), g.Name)
		ch <- prometheus.MustNewConstMetric(c.dryRun, prometheus.GaugeValue, b2f(g.Scaling.DryRun || cfg.Actuator.DryRun), g.Name)
		if gc := cfg.Actuator.Grading; gc != nil {
			// Published once something is graded: a score of nothing is no score.
			if e := effectiveness(g, local, gc.MaxUtilization); e.Graded > 0 {
				for _, p := range []struct {
					part string
					v    float64
				}{{"accuracy", e.Accuracy}, {"cost_efficiency", e.CostEfficiency}, {"response_speed", e.ResponseSpeed}, {"overall", e.Overall}} {
					ch <- prometheus.MustNewConstMetric(c.effective, prometheus.GaugeValue, p.v, g.Name, p.part)
				}
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
