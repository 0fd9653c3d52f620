// Package metricnames holds the names of the exporter's group-level series,
// the ones the rules and dashboards read. The exporter publishes them and the
// backtest replays them; both take the names from here, and the package has
// no dependencies, so the backtest need not import the exporter for them.
package metricnames

// Group state, from the cloud and the config.
const (
	GroupDesired   = "flexus_group_desired_instances"
	GroupCurrent   = "flexus_group_current_instances"
	GroupMin       = "flexus_group_min_instances"
	GroupMax       = "flexus_group_max_instances"
	GroupInstances = "flexus_group_instances" // label state
)

// Signals: the group-level value of each signal and its age.
const (
	Signal    = "flexus_signal"             // label signal
	SignalAge = "flexus_signal_age_seconds" // label signal
)

// What scoring computes.
const (
	Threshold     = "flexus_threshold"             // labels signal, direction
	Weight        = "flexus_signal_weight"         // label signal
	Score         = "flexus_score"                 // label signal
	Trend         = "flexus_trend"                 // label signal
	ScalingScore  = "flexus_scaling_score"         //
	Forecast      = "flexus_forecast"              // labels signal, horizon, model
	ForecastModel = "flexus_forecast_model_info"   // labels signal, model
	ForecastError = "flexus_forecast_error_ratio"  // labels signal, horizon
	Recommended   = "flexus_recommended_instances" // label policy
	PolicyInfo    = "flexus_scaling_policy_info"   // label policy
	LeadTime      = "flexus_lead_time_seconds"
)
