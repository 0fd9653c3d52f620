package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteText prints the figures as a table, one row per policy.
func (r *Result) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "trace %s: %d minutes from %s, peak %d instances; SLO: offered load above %.0f%% of in-service capacity or queueing over %s\n",
		r.Trace, r.Steps, r.Start.UTC().Format(time.RFC3339), r.Peak, r.SLO.MaxUtilization*100, r.SLO.MaxQueueDelay)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tinstance-hours\tSLO-violation min\tworst queue delay s\tscaling actions\treversals\tcost/oracle\t")
	for _, p := range r.Order {
		f := r.Figures[p]
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%.2f\t%d\t%d\t%s\t\n", p, f.InstanceHours, f.ViolationMinutes, f.WorstQueueDelaySeconds, f.ScalingActions, f.Reversals, ratio(f.CostRatioToOracle))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r.writeDetection(w)
	return nil
}

// WriteJSON prints an object keyed by policy.
func (r *Result) WriteJSON(w io.Writer) error {
	out := make(map[Policy]*Figures, len(r.Figures))
	for p, f := range r.Figures {
		out[p] = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
