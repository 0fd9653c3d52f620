// Package metricnames holds the names of the exporter's group-level series,
// the ones the rules and dashboards read. The exporter publishes them and the
// backtest replays them; both take the names from here, and the package
// depends only on scoring's signal table, so the backtest need not import the
// exporter for them.
package metricnames

import "github.com/flexus-autoscaler/flexus/scoring"

// Group state, from the cloud and the config.
const (
	GroupDesired   = "flexus_group_desired_instances"
	GroupCurrent   = "flexus_group_current_instances"
	GroupMin       = "flexus_group_min_instances"
	GroupMax       = "flexus_group_max_instances"
	GroupInstances = "flexus_group_instances" // label state
)

// GroupRequestRate is the service's request rate, scraped from its own
// endpoint (request_rate), in requests per second: the demand the predictive
// policy sizes the CPU on while it is fresher than Cloud Eye's CPU.
const GroupRequestRate = "flexus_group_request_rate_per_second"

// Unit is a signal's base unit, the suffix of the names of the families
// that carry its values: one name, one unit (docs/metrics.md).
type Unit string

const (
	Ratio   Unit = "ratio"   // utilisation and error rate, 0..1
	Seconds Unit = "seconds" // response time
	Items   Unit = "items"   // queue length, a count of queued items
)

// Units lists every unit in a fixed order, for code that writes one rule,
// panel or descriptor per family.
func Units() []Unit { return []Unit{Ratio, Seconds, Items} }

// UnitOf is the unit of a signal, from its kind in scoring's signal table.
func UnitOf(s scoring.Signal) Unit {
	switch scoring.KindOf(s) {
	case scoring.Seconds:
		return Seconds
	case scoring.Items:
		return Items
	default:
		return Ratio
	}
}

// The value families of the signals, one per unit. Callers take names from
// the functions below, never by joining strings themselves.
const (
	signalPrefix    = "flexus_signal_"    // labels group, signal
	thresholdPrefix = "flexus_threshold_" // labels group, signal, direction
	forecastPrefix  = "flexus_forecast_"  // labels group, signal, horizon, model[, quantile]
)

// SignalIn is the family of the group-level signal values in unit u.
func SignalIn(u Unit) string { return signalPrefix + string(u) }

// ThresholdIn is the family of the thresholds in force in unit u.
func ThresholdIn(u Unit) string { return thresholdPrefix + string(u) }

// ForecastIn is the family of the forecasts in unit u.
func ForecastIn(u Unit) string { return forecastPrefix + string(u) }

// Signal is the family that carries signal s's group-level value.
func Signal(s scoring.Signal) string { return SignalIn(UnitOf(s)) }

// Threshold is the family that carries signal s's thresholds.
func Threshold(s scoring.Signal) string { return ThresholdIn(UnitOf(s)) }

// Forecast is the family that carries signal s's forecasts.
func Forecast(s scoring.Signal) string { return ForecastIn(UnitOf(s)) }

// SignalAge is the age of the data behind each signal, whatever its unit.
const SignalAge = "flexus_signal_age_seconds" // label signal

// What scoring computes.
const (
	Weight        = "flexus_signal_weight"         // label signal
	Score         = "flexus_score"                 // label signal
	Trend         = "flexus_trend"                 // label signal
	ScalingScore  = "flexus_scaling_score"         //
	ForecastModel = "flexus_forecast_model_info"   // labels signal, model
	ForecastError = "flexus_forecast_error_ratio"  // labels signal, horizon
	Recommended   = "flexus_recommended_instances" // label policy
	PolicyInfo    = "flexus_scaling_policy_info"   // label policy
	LeadTime      = "flexus_lead_time_seconds"
	BootTime      = "flexus_boot_seconds"
)
