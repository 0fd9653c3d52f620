package scoring

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// articleUnits converts a base-unit value to the unit the seed article's trend
// uses (percent, milliseconds, items), so tanh(slope/10) means what it meant there.
func articleUnits(s Signal) float64 {
	switch KindOf(s) {
	case Ratio:
		return 100
	case Seconds:
		return 1000
	default:
		return 1
	}
}

// Threshold is a signal's scale-out (Out) and scale-in (In) threshold in base units.
type Threshold struct {
	Out float64
	In  float64
}

// Lead is what delays a scaling action's effect: a forecast must look this far ahead.
type Lead struct {
	BootDelay  time.Duration // instance boot
	WarmUp     time.Duration // application warm-up after boot
	AlertDelay time.Duration // scrape, rule `for`, Alertmanager group_wait, webhook
}

// Total is the lead time: boot + warm-up + alerting pipeline delay.
func (l Lead) Total() time.Duration { return l.BootDelay + l.WarmUp + l.AlertDelay }

// ForecastParams tune the per-series forecasters.
type ForecastParams struct {
	// Step is the fine resolution the series are kept at (the collection period).
	Step time.Duration
	// CoarseStep is the bucket width of the seasonal history; it must divide 24h.
	CoarseStep time.Duration
	// Horizons are the forecast horizons published and graded.
	Horizons []time.Duration
	// LinearWindow is the least-squares window of the `linear` model (predict_linear's range).
	LinearWindow time.Duration
	// Weekly keeps a week of WeeklyStep buckets for weekly seasonality.
	Weekly bool
	// WeeklyStep is the bucket width of the weekly season (default 1h, so a
	// week is 168 buckets); a multiple of CoarseStep that divides 24h.
	WeeklyStep time.Duration
	// MaxGapSteps is the longest run of missing samples filled by interpolation;
	// a longer gap restarts the fine-resolution models.
	MaxGapSteps int
	// ErrorWeight is the weight of each new graded forecast in the running errors
	// (exponentially weighted; 0.02 is roughly the last 50 gradings).
	ErrorWeight float64
}

// Params are the thresholds, weights and policy settings of one group.
// They are plain data: the config package converts YAML into them.
type Params struct {
	Thresholds map[Signal]Threshold
	// Weights of the composite score. An accelerator's weight (IsAccelerator)
	// counts only while its signal is fresh; see Evaluate.
	Weights map[Signal]float64
	// TrendWeight is the composite's weight on the trend of TrendSignal.
	TrendWeight  float64
	TrendSignal  Signal
	TrendSamples int

	// Seed policy: scale out above ScaleOutScore by max(1, int(n*score*OutFactor)),
	// in below ScaleInScore by max(1, int(n*|score|*InFactor)).
	ScaleOutScore float64
	ScaleInScore  float64
	OutFactor     float64
	InFactor      float64

	// Target tracking: per-signal targets in base units. Ratios for utilisation
	// signals, items per instance for queue, seconds for response time.
	// A signal without a target (or 0) is not tracked. The queue's target is
	// the backlog per instance below which the queue asks for nothing; above
	// it the backlog is sized as work to drain (see DrainWindow).
	Targets map[Signal]float64
	// ServiceRate is what one instance serves at 100%, in items (requests)
	// per second; 0 means unknown, and the queue is then sized as items per
	// instance over its target, as before.
	ServiceRate float64
	// DrainWindow is how soon a backlog must be worked off: the queue asks
	// for (arrival rate + backlog/DrainWindow) / per-instance rate.
	DrainWindow time.Duration
	// Risk is the quantile of demand over the lead time the predictive policy
	// provisions for (0.5..0.999): higher costs more and violates less.
	Risk float64
	// Tolerance is the HPA band: no change while |current/target - 1| <= Tolerance.
	Tolerance float64
	// ScaleInStabilization: recommend the highest count seen in this window.
	ScaleInStabilization time.Duration

	// Headroom is the predictive policy's headroom, calibrated on the
	// group's own history (surge.go).
	Headroom Headroom

	Lead Lead
	// StaleAfter: a signal whose newest sample is older is treated as absent.
	StaleAfter time.Duration

	Forecast ForecastParams
}

// Headroom tunes the calibrated headroom: the smallest multiple of the
// demand seen (carried forward at its recent rise) that would have held
// every peak of the past week under MaxUtilization, unless that costs more
// than Budget times provisioning exactly each peak.
type Headroom struct {
	// Budget caps the headroom's cost over its history as a multiple of
	// what provisioning exactly each peak would have cost; 0 turns it off.
	Budget float64
	// MaxUtilization is the SLO: a peak above this share of the
	// provision is a miss.
	MaxUtilization float64
}

// DefaultHeadroom is measured in docs/benchmarks.md (predictive against target).
func DefaultHeadroom() Headroom { return Headroom{Budget: 1.1, MaxUtilization: 0.9} }

// DefaultRisk is the predictive policy's quantile of demand over the lead
// time. With the calibrated headroom doing most of the covering, 0.8 costs
// less than 0.9 on four shared traces and keeps elb within target's cost
// (docs/benchmarks.md, predictive against target).
const DefaultRisk = 0.8

// DefaultDrainWindow is how soon a backlog is to be worked off by default.
const DefaultDrainWindow = 2 * time.Minute

// Defaults returns the seed article's table (DESIGN.md, SignalTable) in base
// units, with our defaults for what the article leaves open.
func Defaults() Params {
	p := Params{
		Thresholds:           map[Signal]Threshold{},
		Weights:              map[Signal]float64{},
		Targets:              map[Signal]float64{},
		TrendWeight:          DefaultTrendWeight,
		TrendSignal:          CPU,
		TrendSamples:         10,
		ScaleOutScore:        0.3,
		ScaleInScore:         -0.3,
		OutFactor:            0.5,
		InFactor:             0.3,
		Tolerance:            0.1,
		ScaleInStabilization: 5 * time.Minute,
		DrainWindow:          DefaultDrainWindow,
		Risk:                 DefaultRisk,
		Headroom:             DefaultHeadroom(),
		Lead:                 Lead{BootDelay: 60 * time.Second, WarmUp: 30 * time.Second, AlertDelay: 90 * time.Second},
		StaleAfter:           5 * time.Minute,
		Forecast: ForecastParams{
			Step:         time.Minute,
			CoarseStep:   15 * time.Minute,
			Horizons:     []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour},
			LinearWindow: time.Hour,
			Weekly:       true,
			WeeklyStep:   time.Hour,
			MaxGapSteps:  10,
			ErrorWeight:  0.02,
		},
	}
	for _, r := range table {
		p.Thresholds[r.Signal] = r.Threshold
		if r.Weight > 0 {
			p.Weights[r.Signal] = r.Weight
		}
		if r.Target > 0 {
			p.Targets[r.Signal] = r.Target
		}
	}
	return p
}

// Validate reports the first problem, naming the field and the fix.
func (p Params) Validate() error {
	var errs []error
	for _, s := range Signals() {
		th, ok := p.Thresholds[s]
		if !ok {
			continue
		}
		name := fmt.Sprintf("thresholds.%s", s)
		switch {
		case !finite(th.Out) || !finite(th.In):
			errs = append(errs, fmt.Errorf("%s: thresholds must be finite numbers", name))
		case th.In < 0:
			errs = append(errs, fmt.Errorf("%s: in %g must not be negative (0 means this signal never asks to scale in)", name, th.In))
		case th.Out <= th.In:
			errs = append(errs, fmt.Errorf("%s: out %g must be above in %g", name, th.Out, th.In))
		case KindOf(s) == Ratio && th.Out >= 1:
			errs = append(errs, fmt.Errorf("%s: out %g must be below 1 (ratios run 0..1, not percent)", name, th.Out))
		}
	}
	for s := range p.Thresholds {
		if _, ok := signalIndex(s); !ok {
			errs = append(errs, fmt.Errorf("thresholds.%s: unknown signal: use one of %v", s, Signals()))
		}
	}
	sum := p.TrendWeight
	for s, w := range p.Weights {
		if _, ok := signalIndex(s); !ok {
			errs = append(errs, fmt.Errorf("weights.%s: unknown signal: use one of %v", s, Signals()))
			continue
		}
		if !finite(w) || w < 0 {
			errs = append(errs, fmt.Errorf("weights.%s: %g must be 0 or more", s, w))
		}
		if _, ok := p.Thresholds[s]; !ok && w > 0 {
			errs = append(errs, fmt.Errorf("weights.%s: weighted signal has no thresholds: add thresholds.%s", s, s))
		}
		if IsAccelerator(s) {
			if w > 1 {
				errs = append(errs, fmt.Errorf("weights.%s: %g must be at most 1", s, w))
			}
			continue // renormalised while present, so not part of the fixed sum
		}
		sum += w
	}
	if !finite(p.TrendWeight) || p.TrendWeight < 0 {
		errs = append(errs, fmt.Errorf("trend_weight: %g must be 0 or more", p.TrendWeight))
	}
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("weights: sum %g (trend included, accelerators excluded) must not exceed 1", sum))
	}
	if _, ok := signalIndex(p.TrendSignal); !ok {
		errs = append(errs, fmt.Errorf("trend_signal: %q is unknown: use one of %v", p.TrendSignal, Signals()))
	}
	if p.TrendSamples < 2 {
		errs = append(errs, fmt.Errorf("trend_samples: %d must be at least 2", p.TrendSamples))
	}
	if !(p.ScaleOutScore > 0 && p.ScaleOutScore <= 1) {
		errs = append(errs, fmt.Errorf("scale_out_score: %g must be in (0, 1]", p.ScaleOutScore))
	}
	if !(p.ScaleInScore < 0 && p.ScaleInScore >= -1) {
		errs = append(errs, fmt.Errorf("scale_in_score: %g must be in [-1, 0)", p.ScaleInScore))
	}
	if !(p.OutFactor > 0) || !(p.InFactor > 0) {
		errs = append(errs, fmt.Errorf("out_factor %g and in_factor %g must be above 0", p.OutFactor, p.InFactor))
	}
	for s, v := range p.Targets {
		if _, ok := signalIndex(s); !ok {
			errs = append(errs, fmt.Errorf("targets.%s: unknown signal: use one of %v", s, Signals()))
			continue
		}
		if !finite(v) || v < 0 {
			errs = append(errs, fmt.Errorf("targets.%s: %g must be 0 (off) or more", s, v))
		}
		if KindOf(s) == Ratio && s != ErrorRate && v > 1 {
			errs = append(errs, fmt.Errorf("targets.%s: %g must be at most 1 (a ratio)", s, v))
		}
	}
	if !(p.Tolerance >= 0 && p.Tolerance < 1) {
		errs = append(errs, fmt.Errorf("tolerance: %g must be in [0, 1)", p.Tolerance))
	}
	if !(p.Risk >= 0.5 && p.Risk <= 0.999) {
		errs = append(errs, fmt.Errorf("risk: %g must be a quantile in [0.5, 0.999], e.g. 0.9", p.Risk))
	}
	if b := p.Headroom.Budget; !(b == 0 || (b >= 1 && b <= 10)) {
		errs = append(errs, fmt.Errorf("headroom.budget: %g must be 0 (off) or in [1, 10], e.g. 1.1", b))
	}
	if u := p.Headroom.MaxUtilization; !(u > 0 && u <= 1) {
		errs = append(errs, fmt.Errorf("headroom.max_utilization: %g must be in (0, 1], e.g. 0.9", u))
	}
	if !finite(p.ServiceRate) || p.ServiceRate < 0 {
		errs = append(errs, fmt.Errorf("service_rate: %g must be 0 (unknown) or more", p.ServiceRate))
	}
	if p.DrainWindow <= 0 {
		errs = append(errs, fmt.Errorf("drain_window: %v must be positive, e.g. 2m", p.DrainWindow))
	}
	if p.ScaleInStabilization < 0 {
		errs = append(errs, fmt.Errorf("scale_in_stabilization: %v must not be negative", p.ScaleInStabilization))
	}
	if p.Lead.BootDelay < 0 || p.Lead.WarmUp < 0 || p.Lead.AlertDelay < 0 {
		errs = append(errs, errors.New("lead: boot_delay, warm_up and alert_delay must not be negative"))
	}
	if p.StaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("stale_after: %v must be positive", p.StaleAfter))
	}
	errs = append(errs, p.Forecast.validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("scoring: %w", errors.Join(errs...))
	}
	return nil
}

func (f ForecastParams) validate() []error {
	var errs []error
	if f.Step <= 0 {
		errs = append(errs, fmt.Errorf("forecast.step: %v must be positive", f.Step))
		return errs
	}
	if f.CoarseStep < f.Step || f.CoarseStep%f.Step != 0 || (24*time.Hour)%f.CoarseStep != 0 {
		errs = append(errs, fmt.Errorf("forecast.coarse_step: %v must be a multiple of step %v that divides 24h", f.CoarseStep, f.Step))
	}
	if f.Weekly && (f.WeeklyStep < f.CoarseStep || f.WeeklyStep%f.CoarseStep != 0 || (24*time.Hour)%f.WeeklyStep != 0) {
		errs = append(errs, fmt.Errorf("forecast.weekly_step: %v must be a multiple of coarse_step %v that divides 24h", f.WeeklyStep, f.CoarseStep))
	}
	if len(f.Horizons) == 0 {
		errs = append(errs, errors.New("forecast.horizons: give at least one horizon, e.g. 5m"))
	}
	for _, h := range f.Horizons {
		if h < f.Step {
			errs = append(errs, fmt.Errorf("forecast.horizons: %v is shorter than step %v", h, f.Step))
		}
		if h > 7*24*time.Hour {
			errs = append(errs, fmt.Errorf("forecast.horizons: %v is longer than a week", h))
		}
	}
	if f.LinearWindow < f.Step {
		errs = append(errs, fmt.Errorf("forecast.linear_window: %v is shorter than step %v", f.LinearWindow, f.Step))
	}
	if f.LinearWindow > 24*time.Hour {
		errs = append(errs, fmt.Errorf("forecast.linear_window: %v is longer than 24h: the fine buffer would hold too much", f.LinearWindow))
	}
	if f.MaxGapSteps < 0 {
		errs = append(errs, fmt.Errorf("forecast.max_gap_steps: %d must not be negative", f.MaxGapSteps))
	}
	if !(f.ErrorWeight > 0 && f.ErrorWeight <= 1) {
		errs = append(errs, fmt.Errorf("forecast.error_weight: %g must be in (0, 1]", f.ErrorWeight))
	}
	return errs
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
