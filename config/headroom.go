package config

import "github.com/flexus-autoscaler/flexus/scoring"

// Headroom is the predictive policy's headroom, calibrated on the group's
// own history: the smallest multiple of the demand seen (carried forward at
// its recent rise over the lead time) that would have held every peak of the
// past week below max_utilization, unless that would have cost more than
// budget times provisioning exactly each peak (docs/forecasting.md).
type Headroom struct {
	// Budget caps the headroom's cost; 0 turns the headroom off.
	Budget float64 `yaml:"budget"`
	// MaxUtilization is the SLO the peaks are held under (the backtest's
	// and grading's 0.9).
	MaxUtilization float64 `yaml:"max_utilization"`
}

func defaultHeadroom() Headroom {
	d := scoring.DefaultHeadroom()
	return Headroom{Budget: d.Budget, MaxUtilization: d.MaxUtilization}
}

func (h Headroom) validate() error {
	switch {
	case !(h.Budget == 0 || (h.Budget >= 1 && h.Budget <= 10)):
		return fieldError("headroom.budget", "%v must be 0 (off) or in [1, 10]: the headroom's cost over a week as a multiple of provisioning exactly each peak, e.g. 1.1", h.Budget)
	case !(h.MaxUtilization > 0 && h.MaxUtilization <= 1):
		return fieldError("headroom.max_utilization", "%v must be in (0, 1]: the utilisation above which a minute violates the SLO, e.g. 0.9", h.MaxUtilization)
	}
	return nil
}
