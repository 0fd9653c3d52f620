package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/scoring"
	"github.com/flexus-autoscaler/flexus/trace"
)

// forecastEvalCommand grades every forecasting model on a recorded trace by
// rolling-origin evaluation (scoring.EvaluateForecasts).
func forecastEvalCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("forecast-eval", "Grade every forecasting model on a trace (rolling origin): sMAPE, MASE, pinball loss and 90% interval coverage per horizon.")
		path := cmd.Flag("trace", "Trace CSV: NAB `timestamp,value` or Azure `TIMESTAMP,ContextTokens,GeneratedTokens` (binned per minute).").Required().String()
		horizons := cmd.Flag("horizon", "Forecast horizon; repeat for several.").Default("5m", "15m", "1h").DurationList()
		format := cmd.Flag("format", "Output format.").Default("text").Enum("text", "json")
		window := cmd.Flag("linear-window", "Window of the linear model (the predict_linear baseline).").Default("1h").Duration()
		bounds := cmd.Flag("bounds", "Also score what forecasters that see the future reach: the best lag model fitted in hindsight and the median of the hour around the target.").Bool()
		azureValue := cmd.Flag("azure-value", "What an Azure per-request trace is binned into per minute.").Default("requests").Enum("requests", "tokens", "context_tokens", "generated_tokens")
		return cmd, func(context.Context) error {
			s, err := trace.LoadWith(*path, trace.Options{AzureValue: trace.AzureValue(*azureValue)})
			if err != nil {
				return err
			}
			rep, err := scoring.EvaluateForecasts(s.Values, s.Start, s.Step, scoring.EvalOptions{Horizons: *horizons, LinearWindow: *window, Bounds: *bounds})
			if err != nil {
				return err
			}
			if *format == "json" {
				return writeEvalJSON(e.stdout, rep)
			}
			return writeEvalText(e.stdout, s, rep)
		}
	}}
}

func writeEvalJSON(w io.Writer, rep scoring.EvalReport) error {
	out := map[string]map[scoring.Model]scoring.EvalScore{}
	for _, h := range rep.Horizons {
		if h.Skipped == "" {
			out[horizonLabel(h.Horizon)] = h.Scores
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeEvalText(w io.Writer, s trace.Series, rep scoring.EvalReport) error {
	fmt.Fprintf(w, "trace %s: %d samples every %v from %s (%d filled)\n", s.Name, s.Len(), s.Step, s.Start.Format(time.DateTime), s.Filled)
	fmt.Fprintln(w, "linear is predict_linear over the linear window; auto picks per origin from past errors only.")
	fmt.Fprintln(w, "pinball is the mean quantile loss over the levels 0.05 0.5 0.9 0.95 0.99; cover90 the share inside the 0.05..0.95 interval.")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "worst1% is the share of the sMAPE in the worst 1% of origins; bound_* models see the future (--bounds).")
	fmt.Fprintln(tw, "horizon\tmodel\tsMAPE\tMASE\tpinball\tcover90\tworst1%\torigins\tauto picked\t")
	var skipped []string
	for _, h := range rep.Horizons {
		if h.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s skipped: %s\n", horizonLabel(h.Horizon), h.Skipped))
			continue
		}
		for _, m := range append(scoring.Models(), append([]scoring.Model{scoring.ModelEnsemble, scoring.ModelAuto}, scoring.BoundModels()...)...) {
			sc, ok := h.Scores[m]
			if !ok {
				continue
			}
			picked := ""
			if m == scoring.ModelEnsemble || slices.Contains(scoring.Models(), m) {
				picked = fmt.Sprintf("%d", h.AutoChoices[m])
			}
			pin, cover := "-", "-"
			if sc.QuantileOrigins > 0 {
				pin, cover = fmt.Sprintf("%.4g", sc.Pinball), fmt.Sprintf("%.3f", sc.IntervalCoverage90)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.3f\t%s\t%s\t%.1f%%\t%d\t%s\t\n", horizonLabel(h.Horizon), m, sc.SMAPE, sc.MASE, pin, cover, 100*sc.WorstShare, sc.Origins, picked)
		}
		lin, auto := h.Scores[scoring.ModelLinear].SMAPE, h.Scores[scoring.ModelAuto].SMAPE
		if lin > 0 {
			fmt.Fprintf(tw, "%s\tauto vs linear\t%+.1f%%\t\t\t\t\t\t\t\n", horizonLabel(h.Horizon), 100*(auto-lin)/lin)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, line := range skipped {
		fmt.Fprint(w, line)
	}
	return nil
}

// horizonLabel formats a horizon the way the `horizon` label spells it (5m, 15m, 1h).
func horizonLabel(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
