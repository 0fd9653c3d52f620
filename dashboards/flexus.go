package dashboards

import (
	"fmt"
	"strings"

	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// procSel picks the processes: every query carries it, so two deployments
// (staging and production, or two exporters of one) can be told apart.
const procSel = `job=~"$job",instance=~"$instance"`

// groupSel is the label matcher every per-group query carries.
const groupSel = procSel + `,group=~"$group"`

// The dashboards read the exporters' series, not the recording rules' (which
// drop job and instance), so that every query follows the job and instance
// pickers. Each of these is its rule's expression over the selected series.

// signalMax is group:flexus_signal_<unit>:max over the selection of one
// unit's family (metricnames.Signal).
func signalMax(family, sel string) string {
	return `max by (group, signal) (` + family + `{` + sel + `})`
}

// signalAvg5m is group:flexus_signal_<unit>:avg5m over the selection.
func signalAvg5m(family, sel string) string {
	return `max by (group, signal) (avg_over_time(` + family + `{` + sel + `}[5m]))`
}

// thresholdMax is group:flexus_threshold_<unit>:max over the selection.
func thresholdMax(family, sel string) string {
	return `max by (group, signal, direction) (` + family + `{` + sel + `})`
}

// inEveryUnit joins one query per unit with `or`. It is for panels repeated
// per signal: each copy selects one signal, so only one unit's family answers
// and a panel never mixes units.
func inEveryUnit(query func(u metricnames.Unit) string) string {
	var qs []string
	for _, u := range metricnames.Units() {
		qs = append(qs, query(u))
	}
	return strings.Join(qs, " or ")
}

// activeRecommendation is group:flexus_recommended_instances:active over the selection.
func activeRecommendation() string {
	return `max by (group) (flexus_recommended_instances{` + groupSel + `} and on (group, policy) (flexus_scaling_policy_info{` + groupSel + `} == 1))`
}

// decisionLinks open the actuator's decision log (GET /api/v1/decisions) at
// the address in the `actuator` variable: the panel link for every group,
// and a data link per series for the group clicked.
func decisionLinks(p *Panel) *Panel {
	p.Links = []PanelLink{{Title: "Decision log (actuator API)", URL: "${actuator}/api/v1/decisions?limit=100", TargetBlank: true}}
	p.FieldConfig.Defaults.Links = []PanelLink{{Title: "Decisions of ${__field.labels.group}", URL: "${actuator}/api/v1/decisions?group=${__field.labels.group}&limit=100", TargetBlank: true}}
	return p
}

// signal is one scaling signal as the dashboards show it.
type signal struct {
	name, title, unit string
}

// signals are scoring's signal table, each with the Grafana unit of its kind.
func signals() []signal {
	unit := map[scoring.Kind]string{scoring.Ratio: "percentunit", scoring.Seconds: "s", scoring.Items: "short"}
	var out []signal
	for _, r := range scoring.SignalTable() {
		out = append(out, signal{string(r.Signal), r.Title, unit[r.Kind]})
	}
	return out
}

func overview() *Dashboard {
	d := newDashboard("flexus-overview", "Flexus / Overview",
		"Every scaling group: instances against bounds, the scaling score, recommendations, decisions and cost.", true)
	var l layout
	l.row("Groups")
	l.add(24, 7, table("Groups now", "One row per group: the counts in force, the recommendation of the active policy and the composite score.",
		map[string]string{
			"Value #A": "desired", "Value #B": "current", "Value #C": "min", "Value #D": "max",
			"Value #E": "recommended (active)", "Value #F": "scaling score", "Value #G": "in service",
		},
		instant(`max by (group) (flexus_group_desired_instances{`+groupSel+`})`),
		instant(`max by (group) (flexus_group_current_instances{`+groupSel+`})`),
		instant(`max by (group) (flexus_group_min_instances{`+groupSel+`})`),
		instant(`max by (group) (flexus_group_max_instances{`+groupSel+`})`),
		instant(activeRecommendation()),
		instant(`max by (group) (flexus_scaling_score{`+groupSel+`})`),
		instant(`max by (group) (flexus_group_instances{`+groupSel+`,state="in_service"})`),
	))
	l.add(12, 9,
		dashed(timeseries("Instances: desired, current and bounds", "Desired and existing instances per group; min and max dashed.", "short",
			q(`max by (group) (flexus_group_desired_instances{`+groupSel+`})`, "{{group}} desired"),
			q(`max by (group) (flexus_group_current_instances{`+groupSel+`})`, "{{group}} current"),
			q(`max by (group) (flexus_group_min_instances{`+groupSel+`})`, "{{group}} min"),
			q(`max by (group) (flexus_group_max_instances{`+groupSel+`})`, "{{group}} max"),
		), ".* (min|max)$"),
		dashed(withRange(timeseries("Scaling score", "The composite weighted score in [-1, 1]; the seed scales out above 0.3 and in below -0.3 (dashed).", "none",
			q(`max by (group) (flexus_scaling_score{`+groupSel+`})`, "{{group}}"),
			q(`0.3 + 0 * max(flexus_scaling_score{`+groupSel+`})`, "scale out"),
			q(`-0.3 + 0 * max(flexus_scaling_score{`+groupSel+`})`, "scale in"),
		), -1, 1), "^scale (out|in)$"),
	)
	l.add(12, 8,
		timeseries("Recommended instances", "Per policy; the active one is what the scaling alerts follow.", "short",
			q(activeRecommendation(), "{{group}} active"),
			q(`max by (group, policy) (flexus_recommended_instances{`+groupSel+`})`, "{{group}} {{policy}}"),
		),
		timeseries("Instances by state", "In service, pending (booting) and being removed.", "short",
			q(`max by (group, state) (flexus_group_instances{`+groupSel+`})`, "{{group}} {{state}}"),
		),
	)
	l.row("Decisions and cost")
	l.add(12, 8,
		decisionLinks(bars("Scaling decisions", "Actuator decisions per interval by outcome: applied, refused, duplicate, dry_run, noop, failed. The links open the actuator's decision log, with each decision's reason.",
			q(`sum by (group, action, outcome) (increase(flexus_actuator_decisions_total{`+groupSel+`}[$__rate_interval]))`, "{{group}} {{action}} {{outcome}}"),
		)),
		timeseries("Firing scaling alerts", "FlexusScaleOut / FlexusScaleIn alerts in force, the ones the actuator acts on.", "short",
			q(`count by (group, action) (ALERTS{alertstate="firing",action=~"scale_out|scale_in",`+groupSel+`})`, "{{group}} {{action}}"),
		),
	)
	l.add(12, 7,
		decisionLinks(bars("Decisions graded", "Applied decisions graded in hindsight once their lead time passed, per interval by action and verdict: a scale-out needed or unneeded, a scale-in safe or premature; ungraded when Prometheus could not tell (actuator.grading). The links open the decision log, each record with its grade.",
			q(`sum by (group, action, verdict) (increase(flexus_decisions_graded_total{`+groupSel+`}[$__rate_interval]))`, "{{group}} {{action}} {{verdict}}"),
		)),
		withRange(stat("Decision effectiveness", "The seed's score of each group's recent graded decisions: overall = 0.4 accuracy + 0.3 cost efficiency + 0.3 response speed.", "percentunit",
			q(`max by (group, part) (flexus_decision_effectiveness_ratio{`+groupSel+`})`, "{{group}} {{part}}"),
		), 0, 1),
	)
	l.add(12, 6,
		stat("Instance-hours in range", "Average instances over the time range times its length: what the range cost in instance-hours.", "short",
			q(`sum by (group) (avg_over_time(flexus_group_current_instances{`+groupSel+`}[$__range])) * $__range_s / 3600`, "{{group}}"),
		),
		stat("Instances now", "Existing instances, all selected groups.", "short",
			q(`sum(flexus_group_current_instances{`+groupSel+`})`, "instances"),
		),
	)
	l.row("Spend and waste")
	l.add(8, 8,
		timeseries("Cost rate", "What the in-service instances cost per hour, at BSS prices or pricing: in the config; idle capacity's share dashed.", "short",
			q(`max by (group, currency) (flexus_cost_rate_per_hour{`+groupSel+`})`, "{{group}} ({{currency}}/h)"),
			q(`max by (group, currency) (flexus_idle_cost_rate_per_hour{`+groupSel+`})`, "{{group}} idle"),
		),
		bars("Spend per day and week", "What each group spent over the last day and week, and the idle capacity's share (recording rules group:flexus_cost:*, group:flexus_idle_cost:*).",
			q(`group:flexus_cost:increase1d{`+groupSel+`}`, "{{group}} last day ({{currency}})"),
			q(`group:flexus_idle_cost:sum1d{`+groupSel+`}`, "{{group}} idle, last day"),
			q(`group:flexus_cost:increase7d{`+groupSel+`}`, "{{group}} last week"),
			q(`group:flexus_idle_cost:sum7d{`+groupSel+`}`, "{{group}} idle, last week"),
		),
		timeseries("Idle instances", "In-service instances above what the load needs at the signals' targets.", "short",
			q(`max by (group) (flexus_idle_instances{`+groupSel+`})`, "{{group}}"),
		),
	)
	l.add(12, 7,
		timeseries("Cost per 1,000 requests", "Cost rate over the ELB request rate (groups with an ELB).", "short",
			q(`max by (group, currency) (flexus_cost_per_thousand_requests{`+groupSel+`})`, "{{group}} ({{currency}})"),
		),
		table("Right-sizing", "The flavour of each group's family that would carry the last week's p95 load for the least money, and what it would save per hour.",
			map[string]string{"Value #A": "advised", "Value #B": "saving per hour"},
			instant(`max by (group, flavor, recommended_flavor) (flexus_rightsize_info{`+groupSel+`})`),
			instant(`max by (group, currency) (flexus_rightsize_saving_per_hour{`+groupSel+`})`),
		),
	)
	d.Panels = l.panels
	return d
}

func group() *Dashboard {
	d := newDashboard("flexus-group", "Flexus / Group",
		"One scaling group in detail: each signal against its thresholds, scores, forecasts next to actuals, accelerators and queues.", false,
		Variable{
			Name: "signal", Label: "Forecast signal", Type: "query", Datasource: prometheus(),
			// flexus_forecast_model_info names every forecast signal in one
			// family, whatever the unit of its values.
			Query:      map[string]any{"query": `label_values(flexus_forecast_model_info{` + groupSel + `}, signal)`, "refId": "signal"},
			Definition: `label_values(flexus_forecast_model_info{` + groupSel + `}, signal)`, Refresh: 2, Sort: 1, Multi: true, IncludeAll: true,
			Current: map[string]any{}, Options: []any{},
		})
	var l layout
	l.row("Signals against thresholds")
	for _, s := range signals() {
		sel := fmt.Sprintf(`%s,signal="%s"`, groupSel, s.name)
		value, threshold := metricnames.Signal(scoring.Signal(s.name)), metricnames.Threshold(scoring.Signal(s.name))
		l.add(8, 8, dashed(timeseries(s.title, fmt.Sprintf("%s{signal=%q}, its 5m average, and the scale-out and scale-in thresholds in force (dashed).", value, s.name), s.unit,
			q(signalMax(value, sel), "{{group}}"),
			q(signalAvg5m(value, sel), "{{group}} 5m avg"),
			q(thresholdMax(threshold, sel+`,direction="out"`), "scale out"),
			q(thresholdMax(threshold, sel+`,direction="in"`), "scale in"),
		), "^scale (out|in)$"))
	}
	l.add(8, 8, timeseries("Signal data age", "Age of the data behind each signal; scale-in is blocked above 10m.", "s",
		q(`max by (signal) (flexus_signal_age_seconds{`+groupSel+`})`, "{{signal}}"),
	))
	l.row("Scores and recommendation")
	l.add(8, 8,
		withRange(timeseries("Per-signal scores", "flexus_score in [-1, 1], 0 between the thresholds.", "none",
			q(`max by (signal) (flexus_score{`+groupSel+`})`, "{{signal}}"),
			q(`max(flexus_scaling_score{`+groupSel+`})`, "composite"),
		), -1, 1),
		timeseries("Trend", "tanh(slope/10) of the last 10 samples.", "none",
			q(`max by (signal) (flexus_trend{`+groupSel+`})`, "{{signal}}"),
		),
		timeseries("Recommendation and desired count", "Recommended instances per policy against the desired count.", "short",
			q(`max by (policy) (flexus_recommended_instances{`+groupSel+`})`, "{{policy}}"),
			q(activeRecommendation(), "active"),
			q(`max(flexus_group_desired_instances{`+groupSel+`})`, "desired"),
		),
	)
	l.add(24, 6, decisionLinks(bars("Scaling decisions", "The actuator's decisions for this group per interval, by action and outcome. The links open its decision log, with each decision's reason and guards.",
		q(`sum by (group, action, outcome) (increase(flexus_actuator_decisions_total{`+groupSel+`}[$__rate_interval]))`, "{{action}} {{outcome}}"),
	)))
	l.add(16, 6, decisionLinks(bars("Decisions graded", "This group's applied decisions graded in hindsight once their lead time passed, by action and verdict (needed, unneeded, safe, premature, ungraded).",
		q(`sum by (group, action, verdict) (increase(flexus_decisions_graded_total{`+groupSel+`}[$__rate_interval]))`, "{{action}} {{verdict}}"),
	)))
	l.add(8, 6, withRange(stat("Decision effectiveness", "The seed's score of the group's recent graded decisions, by part; overall = 0.4/0.3/0.3.", "percentunit",
		q(`max by (part) (flexus_decision_effectiveness_ratio{`+groupSel+`})`, "{{part}}"),
	), 0, 1))
	l.row("Forecasts against actuals")
	forecast := timeseries("Forecast of $signal against what happened",
		"The actual value and the auto forecast made one horizon earlier for the same moment (offset by the horizon), so the gap is the forecast error.", "none",
		q(inEveryUnit(func(u metricnames.Unit) string {
			return signalMax(metricnames.SignalIn(u), groupSel+`,signal=~"$signal"`)
		}), "actual"),
		q(`max(`+inEveryUnit(func(u metricnames.Unit) string {
			return metricnames.ForecastIn(u) + `{` + groupSel + `,signal=~"$signal",model="auto",horizon="5m",quantile=""} offset 5m`
		})+`)`, "forecast made 5m earlier"),
		q(`max(`+inEveryUnit(func(u metricnames.Unit) string {
			return metricnames.ForecastIn(u) + `{` + groupSel + `,signal=~"$signal",model="auto",horizon="15m",quantile=""} offset 15m`
		})+`)`, "forecast made 15m earlier"),
		q(inEveryUnit(func(u metricnames.Unit) string {
			return thresholdMax(metricnames.ThresholdIn(u), groupSel+`,signal=~"$signal",direction="out"`)
		}), "scale out"),
	)
	forecast.Repeat, forecast.RepeatDirection, forecast.MaxPerRow = "signal", "h", 2
	l.add(12, 9, dashed(forecast, "^scale out$"))
	l.add(12, 9, withRange(timeseries("Forecast error (sMAPE)", "Running sMAPE of the auto forecast, 0 (perfect) to 2.", "none",
		q(`max by (signal, horizon) (flexus_forecast_error_ratio{`+groupSel+`,signal=~"$signal"})`, "{{signal}} {{horizon}}"),
	), 0, 2))
	l.add(12, 6, table("Forecast models in use", "The model `auto` stands for, per signal.", map[string]string{"Value #A": "in use"},
		instant(`max by (group, signal, model) (flexus_forecast_model_info{`+groupSel+`}) == 1`),
	))
	l.add(12, 6, timeseries("Lead time", "Boot, warm-up and alerting delay: the horizon the predictive policy forecasts over. The boot is the group's measured one (0.9 quantile of its last 20) once it has booted three instances, scaling.boot_time before.", "s",
		q(`max(flexus_lead_time_seconds{`+groupSel+`})`, "lead time"),
		q(`max(flexus_boot_seconds{`+groupSel+`})`, "measured boot"),
	))
	l.row("GPU and NPU per device")
	for _, m := range []struct{ title, metric, unit string }{
		{"GPU utilisation", "flexus_gpu_utilization_ratio", "percentunit"},
		{"GPU memory utilisation", "flexus_gpu_memory_utilization_ratio", "percentunit"},
		{"GPU memory used", "flexus_gpu_memory_used_bytes", "bytes"},
		{"GPU power", "flexus_gpu_power_watts", "watt"},
		{"GPU temperature", "flexus_gpu_temperature_celsius", "celsius"},
		{"NPU AI core utilisation", "flexus_npu_utilization_ratio", "percentunit"},
		{"NPU memory utilisation", "flexus_npu_memory_utilization_ratio", "percentunit"},
	} {
		l.add(8, 8, timeseries(m.title, "Per instance and device.", m.unit,
			q(m.metric+`{`+groupSel+`}`, "{{instance_id}} {{device}}"),
		))
	}
	l.row("Queue and instances")
	l.add(8, 8,
		dashed(timeseries("Queue depth by source", "Raw depth per source against the queue thresholds (dashed).", "short",
			q(`max by (source) (flexus_queue_depth{`+groupSel+`})`, "{{source}}"),
			q(thresholdMax(metricnames.Threshold(scoring.Queue), groupSel+`,signal="queue",direction="out"`), "scale out"),
			q(thresholdMax(metricnames.Threshold(scoring.Queue), groupSel+`,signal="queue",direction="in"`), "scale in"),
		), "^scale (out|in)$"),
		timeseries("CPU per instance", "Cloud Eye CPU utilisation of each instance.", "percentunit",
			q(`max by (instance_id) (flexus_cpu_utilization_ratio{`+groupSel+`})`, "{{instance_id}}"),
		),
		timeseries("Memory per instance", "Cloud Eye memory utilisation of each instance (needs the agent).", "percentunit",
			q(`flexus_memory_utilization_ratio{`+groupSel+`}`, "{{instance_id}}"),
		),
	)
	l.add(24, 7, table("Instances", "Every discovered instance with its flavour and state.", map[string]string{"Value #A": "present"},
		instant(`flexus_instance_info{`+groupSel+`}`),
	))
	d.Panels = l.panels
	return d
}

func health() *Dashboard {
	d := newDashboard("flexus-health", "Flexus / Health",
		"The exporter and the actuator: scrapes, cloud API calls and throttling, collection lag, webhook, decisions and refusals, advisor.", true)
	var l layout
	l.row("Processes")
	l.add(6, 5,
		redAt(stat("Exporters up", "Scrape health of the selected jobs whose name says exporter (flexus-exporter).", "short", q(`sum(up{`+procSel+`,job=~".*exporter.*"})`, "up")), 0),
		redAt(stat("Actuators up", "Scrape health of the selected jobs whose name says actuator (flexus-actuator).", "short", q(`sum(up{`+procSel+`,job=~".*actuator.*"})`, "up")), 0),
		stat("Config reload OK", "flexus_config_last_reload_successful per process (1 is good).", "short",
			q(`min by (job) (flexus_config_last_reload_successful{`+procSel+`})`, "{{job}}")),
		stat("Dry-run or paused groups", "Groups where the actuator decides but does not scale.", "short",
			q(`count(flexus_actuator_dry_run{`+groupSel+`} == 1 or flexus_actuator_paused{`+groupSel+`} == 1) or vector(0)`, "groups")),
	)
	l.row("Huawei Cloud API")
	l.add(12, 8,
		timeseries("Requests by API and status", "Calls per second from exporter and actuator.", "reqps",
			q(`sum by (job, service, api, code) (rate(flexus_cloud_requests_total{`+procSel+`}[$__rate_interval]))`, "{{job}} {{service}} {{api}} {{code}}")),
		timeseries("Throttled and retried requests", "429 answers and retries per second.", "reqps",
			q(`sum by (job, service, api) (rate(flexus_cloud_throttled_requests_total{`+procSel+`}[$__rate_interval]))`, "throttled {{job}} {{service}} {{api}}"),
			q(`sum by (job, service, api) (rate(flexus_cloud_retries_total{`+procSel+`}[$__rate_interval]))`, "retried {{job}} {{service}} {{api}}")),
	)
	l.add(12, 8,
		timeseries("Request latency p95", "95th percentile duration of cloud calls.", "s",
			q(`histogram_quantile(0.95, sum by (le, service, api) (rate(flexus_cloud_request_duration_seconds_bucket{`+procSel+`}[$__rate_interval])))`, "{{service}} {{api}}")),
		timeseries("Waiting on the request budget", "Seconds per second the exporter waited for Cloud Eye request budget.", "percentunit",
			q(`sum by (instance) (rate(flexus_cloudeye_budget_wait_seconds_total{`+procSel+`}[$__rate_interval]))`, "{{instance}}")),
	)
	l.row("Collection")
	l.add(8, 8,
		timeseries("Collection duration", "Last run per source.", "s",
			q(`max by (source) (flexus_collection_duration_seconds{`+procSel+`})`, "{{source}}")),
		timeseries("Time since last successful collection", "Per source; grows while a source fails.", "s",
			q(`time() - max by (source) (flexus_collection_last_success_timestamp_seconds{`+procSel+`})`, "{{source}}")),
		timeseries("Collection success", "1 when the last run of a source succeeded.", "short",
			q(`min by (source) (flexus_collection_success{`+procSel+`})`, "{{source}}")),
	)
	l.add(8, 8,
		timeseries("Cloud Eye data age", "Age of the oldest newest datapoint per group and metric; alert above 10m.", "s",
			q(`max by (group, namespace, metric) (flexus_cloudeye_sample_age_seconds{`+groupSel+`})`, "{{group}} {{namespace}} {{metric}}")),
		timeseries("Discovery lag", "How old the group's instance list is.", "s",
			q(`max by (group) (flexus_discovery_lag_seconds{`+groupSel+`})`, "{{group}}")),
		timeseries("Exported series", "Series per group on /metrics.", "short",
			q(`max by (group) (flexus_exported_series{`+groupSel+`})`, "{{group}}")),
	)
	l.row("Actuator")
	l.add(8, 8,
		bars("Webhook requests by status", "Alertmanager notifications received; 4xx means a malformed or unauthenticated request.",
			q(`sum by (code) (increase(flexus_actuator_webhook_requests_total{`+procSel+`}[$__rate_interval]))`, "{{code}}")),
		decisionLinks(bars("Decisions by outcome", "applied, refused, duplicate, dry_run, noop, failed; the links open the actuator's decision log.",
			q(`sum by (group, outcome) (increase(flexus_actuator_decisions_total{`+groupSel+`}[$__rate_interval]))`, "{{group}} {{outcome}}"))),
		bars("Guard refusals by reason", "Which guard stopped a decision.",
			q(`sum by (group, reason) (increase(flexus_actuator_guard_refusals_total{`+groupSel+`}[$__rate_interval]))`, "{{group}} {{reason}}")),
	)
	l.add(8, 8,
		timeseries("Cooldown remaining", "Seconds until the group may scale again, per direction.", "s",
			q(`max by (group, direction) (flexus_actuator_cooldown_remaining_seconds{`+groupSel+`})`, "{{group}} {{direction}}")),
		timeseries("Decision latency p95", "From webhook to the cloud call's answer.", "s",
			q(`histogram_quantile(0.95, sum by (le, group) (rate(flexus_actuator_decision_duration_seconds_bucket{`+groupSel+`}[$__rate_interval])))`, "{{group}}")),
		timeseries("Time since last scale", "Per group and direction.", "s",
			q(`time() - max by (group, direction) (flexus_actuator_last_scale_timestamp_seconds{`+groupSel+`} > 0)`, "{{group}} {{direction}}")),
	)
	l.add(12, 6,
		timeseries("Desired count set by the actuator", "Last desired count the actuator set, against the group's.", "short",
			q(`max by (group) (flexus_actuator_desired_instances{`+groupSel+`})`, "{{group}} actuator"),
			q(`max by (group) (flexus_group_desired_instances{`+groupSel+`})`, "{{group}} cloud")),
		bars("Alerts for unknown groups", "Alerts naming a group the actuator does not manage.",
			q(`sum(increase(flexus_actuator_unknown_group_alerts_total{`+procSel+`}[$__rate_interval]))`, "unknown group")),
	)
	l.row("Advisor")
	l.add(8, 7,
		bars("Advisor requests by result", "ok, invalid, error, timeout, throttled.",
			q(`sum by (result) (increase(flexus_advisor_requests_total{`+procSel+`}[$__rate_interval]))`, "{{result}}")),
		bars("Rejected proposals by reason", "Proposals outside the guardrails.",
			q(`sum by (reason) (increase(flexus_advisor_rejected_proposals_total{`+procSel+`}[$__rate_interval]))`, "{{reason}}")),
		timeseries("Time since the last advisor success", "", "s",
			q(`time() - max(flexus_advisor_last_success_timestamp_seconds{`+procSel+`} > 0)`, "since success")),
	)
	d.Panels = l.panels
	return d
}
