package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/trace"
	"github.com/flexus-autoscaler/flexus/tune"
)

// tuneCommand searches a group's thresholds and targets inside the seed's
// ranges, and the group's own guards, by replaying its history through the
// backtest, and recommends the config that would have cost less without more
// SLO violations, or had fewer without costing more.
func tuneCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("tune", "Search a group's thresholds and targets by replaying its history through the backtest; print the cost-violation frontier and a recommended config.")
		path := cmd.Flag("trace", "Trace CSV of the group's load: a time and a numeric column (NAB `timestamp,value`), or Azure `TIMESTAMP,ContextTokens,GeneratedTokens`. Or read the history from Prometheus with --prometheus.url.").String()
		window := cmd.Flag("window", "Replay the last WINDOW of the history (0: all of a trace file), e.g. 14d or 72h.").Default("14d").String()
		promURL := cmd.Flag("prometheus.url", "Read the group's load from this Prometheus server's range query API instead of --trace: the last --window.").String()
		promQuery := cmd.Flag("query", "PromQL expression for the group's load, one series, e.g. sum(rate(http_requests_total{job=\"web\"}[5m])).").String()
		promStep := cmd.Flag("step", "Resolution of the Prometheus history.").Default("1m").Duration()
		promTimeout := cmd.Flag("prometheus.timeout", "Timeout of each Prometheus request.").Default("30s").Duration()
		configFile := cmd.Flag("config.file", "Flexus config whose group is tuned (default: the seed article's defaults, 1..20 instances).").String()
		group := cmd.Flag("group", "Group of --config.file to tune (default: the first).").String()
		peak := cmd.Flag("peak-instances", "Instances the trace's peak needs at the target utilisation.").Default("10").Int()
		rulesDir := cmd.Flag("rules", "Directory of the Prometheus rule files to evaluate.").Default("rules/").String()
		format := cmd.Flag("format", "Output format.").Default("text").Enum("text", "json")
		write := cmd.Flag("write", "Write the whole config with the recommendation applied to this file.").String()
		parallel := cmd.Flag("parallel", "Replays at once (default GOMAXPROCS).").Int()
		budget := cmd.Flag("budget", "Most configurations to replay: the grid over cpu.target and cpu.scale_out first, then a compass search over every knob (risk, cooldowns, scale-in stabilisation, step bounds, cpu.scale_in) with the rest.").Default(strconv.Itoa(tune.DefaultBudget)).Int()
		azureValue := cmd.Flag("azure-value", "What an Azure per-request trace is binned into per minute.").Default("requests").Enum("requests", "tokens", "context_tokens", "generated_tokens")
		return cmd, func(ctx context.Context) error {
			if *budget < 1 {
				return fmt.Errorf("tune: --budget %d must be at least 1", *budget)
			}
			if *peak < 1 {
				return fmt.Errorf("tune: --peak-instances %d must be at least 1", *peak)
			}
			win, err := parseWindow(*window)
			if err != nil {
				return err
			}
			var tr trace.Series
			switch {
			case *path != "" && *promURL != "":
				return errors.New("tune: --trace and --prometheus.url both given: use one source")
			case *path != "":
				tr, err = backtest.LoadTrace(*path, *azureValue)
				tr = lastOf(tr, win)
			case *promURL != "":
				if win <= 0 {
					return errors.New("tune: --prometheus.url needs a --window above 0: how much history to read")
				}
				if *promQuery == "" {
					return errors.New("tune: --prometheus.url needs --query, the group's load as one series")
				}
				end := time.Now()
				q := trace.PrometheusQuery{URL: *promURL, Query: *promQuery, Start: end.Add(-win), End: end, Step: *promStep, Timeout: *promTimeout}
				tr, err = trace.ReadPrometheus(ctx, &http.Client{}, q, "prometheus")
			default:
				return errors.New("tune: no history: give --trace FILE or --prometheus.url with --query")
			}
			if err != nil {
				return err
			}
			opts := tune.Options{
				Group:    *group,
				Parallel: *parallel,
				Budget:   *budget,
				Backtest: backtest.Options{PeakInstances: *peak},
				LoadRules: func() (*backtest.Rules, error) {
					return backtest.LoadRules(*rulesDir, backtest.RuleOptions{EvalInterval: time.Minute, ActionOnly: true, Logger: e.logger})
				},
			}
			if *configFile != "" {
				b, err := os.ReadFile(*configFile)
				if err != nil {
					return fmt.Errorf("tune: %w", err)
				}
				opts.Config = b
			}
			res, err := tune.Run(ctx, tr, opts)
			if err != nil {
				return err
			}
			if *write != "" {
				if err := os.WriteFile(*write, res.Written(), 0o644); err != nil {
					return fmt.Errorf("tune: --write: %w", err)
				}
			}
			if *format == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return writeTuneText(e.stdout, res)
		}
	}}
}

// parseWindow reads a duration that may be given in days ("14d").
func parseWindow(s string) (time.Duration, error) {
	var days float64
	if _, err := fmt.Sscanf(s, "%gd", &days); err == nil && fmt.Sprintf("%gd", days) == s {
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("tune: --window %q is not a duration like 14d or 72h", s)
	}
	return d, nil
}

// lastOf keeps the trace's last window (all of it when window is 0 or longer).
func lastOf(tr trace.Series, window time.Duration) trace.Series {
	if window <= 0 || tr.Step <= 0 {
		return tr
	}
	n := int(window / tr.Step)
	if n+1 >= len(tr.Values) {
		return tr
	}
	i := len(tr.Values) - n - 1
	return trace.Series{Name: tr.Name, Start: tr.Time(i), Step: tr.Step, Values: tr.Values[i:]}
}

func writeTuneText(w io.Writer, r *tune.Result) error {
	fmt.Fprintf(w, "tune %s, group %s (policy %s), %.1f days, %d configurations replayed (budget %d)\n\n", r.Trace, r.Group, r.Policy, r.Days, r.Runs, r.Budget)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tinstance-hours\tx oracle\tSLO minutes\tactions\tsettings")
	row := func(name string, o tune.Outcome) {
		keys := make([]string, 0, len(o.Settings))
		for k := range o.Settings {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		set := ""
		for _, k := range keys {
			set += fmt.Sprintf("%s=%g ", k, o.Settings[tune.Knob(k)])
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.3f\t%d\t%d\t%s\n", name, o.InstanceHours, o.CostRatioToOracle, o.ViolationMinutes, o.ScalingActions, set)
	}
	row("default", r.Default)
	row("recommended", r.Recommended.Outcome)
	for i, o := range r.Frontier {
		row(fmt.Sprintf("frontier %d", i+1), o)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !r.Recommended.Changed {
		_, err := fmt.Fprintln(w, "\nNo configuration tried beats the present one on both cost and SLO minutes: keep it.")
		return err
	}
	_, err := fmt.Fprintf(w, "\nPaste into the config:\n%s", r.Recommended.Config)
	return err
}
