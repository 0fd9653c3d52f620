package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/flexus-autoscaler/flexus/trace"
)

// A bound answers whether a cost–violation goal is reachable at all on a
// trace, by measuring the simplest causal policy that spends a whole cost
// budget on headroom: it provisions k times the demand it saw lag minutes
// ago, ceil(k·d(t−lag) / max utilisation) instances within the group's
// min..max, and scales in once the count has been lower for hold minutes
// (0: at once, which no pipeline with a scale-in window undercuts). k is
// the largest whose instance-minutes stay within budget times the
// oracle's. A pipeline policy lags by detection plus boot; where even this
// policy misses a goal at that lag, a headroom rule cannot reach it, and
// where it meets it the policy's shape is what misses.

// BoundRow is the headroom policy at one lag.
type BoundRow struct {
	LagMinutes       int     `json:"lag_minutes"`
	Headroom         float64 `json:"headroom"`
	CostRatio        float64 `json:"cost_ratio_to_oracle"`
	ViolationMinutes int     `json:"slo_violation_minutes"`
}

// Bound is the headroom policy at each lag within one budget.
type Bound struct {
	Trace          string     `json:"trace"`
	Budget         float64    `json:"budget"`
	HoldMinutes    int        `json:"scale_in_hold_minutes"`
	Minutes        int        `json:"minutes"`
	OracleHours    float64    `json:"oracle_instance_hours"`
	MaxUtilization float64    `json:"max_utilization"`
	Rows           []BoundRow `json:"rows"`
}

// RunBound replays the oracle on tr for its cost and measures the headroom
// policy within budget times that cost at each lag.
func RunBound(ctx context.Context, tr trace.Series, budget float64, hold time.Duration, opts Options) (*Bound, error) {
	if !(budget >= 1) {
		return nil, fmt.Errorf("backtest: --bound %g must be at least 1: a budget as a multiple of the oracle's cost", budget)
	}
	if hold < 0 {
		return nil, fmt.Errorf("backtest: --bound.scale-in-hold %s must not be negative", hold)
	}
	h := int(hold / stepOf)
	opts.KeepSeries = true
	res, err := Run(ctx, tr, []Policy{PolicyOracle}, opts)
	if err != nil {
		return nil, err
	}
	opts, _ = opts.withDefaults()
	g, _ := opts.Config.Group(opts.Group)
	oracle := res.Figures[PolicyOracle].InstanceHours * 60
	b := &Bound{Trace: res.Trace, Budget: budget, HoldMinutes: h, Minutes: len(res.Demand), OracleHours: oracle / 60, MaxUtilization: opts.SLO.MaxUtilization}
	// Lags in minutes: 0 sees the current minute (no causal policy does
	// better); about 2 is the live pipeline's (detection within 1.5 min at
	// p90, then the boot).
	for lag := range 5 {
		b.Rows = append(b.Rows, headroomBound(res.Demand, oracle*budget, lag, h, opts.SLO.MaxUtilization, g.MinInstances, g.MaxInstances, oracle))
	}
	return b, nil
}

// headroomBound finds the largest headroom within budget instance-minutes
// by bisection (cost grows with k) and counts its violation minutes.
func headroomBound(demand []float64, budget float64, lag, hold int, maxUtil float64, lo, hi int, oracle float64) BoundRow {
	raw := make([]int, len(demand))
	var window []int // indices of raw, their counts decreasing: the sliding max
	run := func(k float64) (cost float64, violations int) {
		window = window[:0] // reused by each of the bisection's runs
		for t, d := range demand {
			seen := demand[max(t-lag, 0)]
			raw[t] = min(max(int(math.Ceil(k*seen/maxUtil-1e-9)), lo, 1), hi)
			for len(window) > 0 && raw[window[len(window)-1]] <= raw[t] {
				window = window[:len(window)-1]
			}
			window = append(window, t)
			if window[0] < t-hold {
				window = window[1:]
			}
			n := raw[window[0]]
			cost += float64(n)
			if d > maxUtil*float64(n)+1e-9 {
				violations++
			}
		}
		return cost, violations
	}
	k, top := 1.0, 100.0
	if c, _ := run(k); c > budget {
		top = k // even no headroom is over the budget: report k = 1
	}
	for range 60 {
		mid := (k + top) / 2
		if c, _ := run(mid); c <= budget {
			k = mid
		} else {
			top = mid
		}
	}
	cost, v := run(k)
	return BoundRow{LagMinutes: lag, Headroom: k, CostRatio: cost / oracle, ViolationMinutes: v}
}

// WriteText prints one row per lag.
func (b *Bound) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "trace %s: %d minutes; the oracle's %.1f instance-hours; headroom policy within %.3f× the oracle, scaling in after %d min, SLO at %.0f%% utilisation\n",
		b.Trace, b.Minutes, b.OracleHours, b.Budget, b.HoldMinutes, b.MaxUtilization*100)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "lag min\theadroom k\tcost/oracle\tSLO-violation min\t")
	for _, r := range b.Rows {
		fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%d\t\n", r.LagMinutes, r.Headroom, r.CostRatio, r.ViolationMinutes)
	}
	return tw.Flush()
}

// WriteJSON prints the bound as one object.
func (b *Bound) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}
