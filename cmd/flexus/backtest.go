package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

// backtestCommand replays a recorded trace through the scoring code, the
// project's rules, an Alertmanager model and the actuator's guards in
// virtual time, and compares the scaling policies.
func backtestCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("backtest", "Replay a workload trace in virtual time through the live rules and guards; compare policies on cost and SLO violations.")
		path := cmd.Flag("trace", "Trace CSV: a time column and a numeric column (e.g. NAB `timestamp,value`, `period,count`), or Azure `TIMESTAMP,ContextTokens,GeneratedTokens` (binned per minute). Or read the history from Prometheus with --prometheus.url.").String()
		timeColumn := cmd.Flag("time-column", "Header name of the trace's time column (default: found by name: time, timestamp, ts, date, period, ...).").String()
		valueColumn := cmd.Flag("value-column", "Header name of the trace's numeric column (default: found by name: value, count, requests, ...).").String()
		promURL := cmd.Flag("prometheus.url", "Read the workload from this Prometheus server's range query API instead of --trace.").String()
		promQuery := cmd.Flag("query", "PromQL expression for the workload, one series, e.g. sum(rate(http_requests_total{job=\"web\"}[5m])).").String()
		promStart := cmd.Flag("start", "Start of the Prometheus history: RFC 3339, YYYY-MM-DD hh:mm[:ss] (UTC) or epoch seconds.").String()
		promEnd := cmd.Flag("end", "End of the Prometheus history, in the same formats as --start.").String()
		promStep := cmd.Flag("step", "Resolution of the Prometheus history.").Default("1m").Duration()
		promTimeout := cmd.Flag("prometheus.timeout", "Timeout of each Prometheus request.").Default("30s").Duration()
		policy := cmd.Flag("policy", "seed, target, predictive, static-peak, oracle, a comma-separated list, or all.").Default("all").String()
		peak := cmd.Flag("peak-instances", "Instances the trace's peak needs at the target utilisation.").Default("10").Int()
		format := cmd.Flag("format", "Output format.").Default("text").Enum("text", "json")
		report := cmd.Flag("report", "Write an HTML report with plots to this file.").String()
		rulesDir := cmd.Flag("rules", "Directory of the Prometheus rule files to evaluate.").Default("rules/").String()
		configFile := cmd.Flag("config.file", "Flexus config whose group is replayed (default: the seed article's defaults, 1..20 instances).").String()
		group := cmd.Flag("group", "Group of --config.file to replay (default: the first).").String()
		groupWait := cmd.Flag("am.group-wait", "Alertmanager group_wait of the flexus route.").Default(backtest.DefaultAlertmanager().GroupWait.String()).Duration()
		groupInterval := cmd.Flag("am.group-interval", "Alertmanager group_interval of the flexus route.").Default(backtest.DefaultAlertmanager().GroupInterval.String()).Duration()
		repeatInterval := cmd.Flag("am.repeat-interval", "Alertmanager repeat_interval of the flexus route.").Default(backtest.DefaultAlertmanager().RepeatInterval.String()).Duration()
		requestRate := cmd.Flag("request-rate", "The service exports its request rate to Prometheus (--no-request-rate: demand only from Cloud Eye's CPU).").Default("true").Bool()
		appScrape := cmd.Flag("app-scrape", "Prometheus scrape interval of the application's signals (queue, response time, request rate).").Default("15s").Duration()
		evalInterval := cmd.Flag("evaluation-interval", "Prometheus evaluation_interval for rule groups that set none.").Default("1m").Duration()
		sweep := cmd.Flag("sweep", "Run predictive over a range of risks and target over a range of CPU target utilisations, and print each one's cost-violation frontier (--report plots them).").Bool()
		bound := cmd.Flag("bound", "Instead of the policies, measure the bound at this cost budget (a multiple of the oracle's): the violation minutes of a policy that spends it all on a fixed headroom over the demand it saw 0-4 minutes ago (docs/backtest.md).").Float64()
		boundHold := cmd.Flag("bound.scale-in-hold", "How long the --bound policy waits before it scales in (0: at once; the live pipeline waits scale_in_stabilization plus FlexusScaleIn's 10m).").Default("0s").Duration()
		spot := addSpotFlags(cmd)
		warmPool := cmd.Flag("warm-pool", "Replay each policy without and with a warm pool of this many stopped instances, and compare cost and violations (default: the group's warm_pool.size; 0 is none).").Default("0").Int()
		poolStart := cmd.Flag("warm-pool.start-delay", "How long a pooled instance takes from its start to serving, warm-up aside (default: the group's warm_pool.start_time, else 15s).").Duration()
		poolCost := cmd.Flag("warm-pool.stopped-cost", "A stopped instance-hour as a fraction of a running one: its disk (default 0.077, x1.2u.4g's 40 GB at 0.35 a GB-month over 0.25 an hour).").Float64()
		azureValue := cmd.Flag("azure-value", "What an Azure per-request trace is binned into per minute.").Default("requests").Enum("requests", "tokens", "context_tokens", "generated_tokens")
		return cmd, func(ctx context.Context) error {
			if *peak < 1 {
				return fmt.Errorf("backtest: --peak-instances %d must be at least 1", *peak)
			}
			policies, err := backtest.ParsePolicies(*policy)
			if err != nil {
				return err
			}
			var tr trace.Series
			switch {
			case *path != "" && *promURL != "":
				return errors.New("backtest: --trace and --prometheus.url both given: use one source")
			case *path != "":
				tr, err = trace.LoadWith(*path, trace.Options{AzureValue: trace.AzureValue(*azureValue), TimeColumn: *timeColumn, ValueColumn: *valueColumn})
			case *promURL != "":
				tr, err = readPrometheus(ctx, *promURL, *promQuery, *promStart, *promEnd, *promStep, *promTimeout)
			default:
				return errors.New("backtest: no workload: give --trace FILE or --prometheus.url with --query, --start and --end")
			}
			if err != nil {
				return err
			}
			opts := backtest.Options{
				PeakInstances: *peak,
				Group:         *group,
				Alertmanager:  backtest.AlertmanagerOptions{GroupWait: *groupWait, GroupInterval: *groupInterval, RepeatInterval: *repeatInterval},
				KeepSeries:    *report != "",
				Sources:       backtest.Sources{AppScrape: *appScrape, NoRequestRate: !*requestRate},
			}
			if *configFile != "" {
				c, err := config.Load(*configFile)
				if err != nil {
					return err
				}
				opts.Config = c
			}
			opts.Rules, err = backtest.LoadRules(*rulesDir, backtest.RuleOptions{EvalInterval: *evalInterval, ActionOnly: true, Logger: e.logger})
			if err != nil {
				return err
			}
			if *bound != 0 {
				if *sweep || spot.on() || *warmPool > 0 || *report != "" {
					return errors.New("backtest: --bound replays only the oracle: drop --sweep, --spot.*, --warm-pool and --report, or run them separately")
				}
				b, err := backtest.RunBound(ctx, tr, *bound, *boundHold, opts)
				if err != nil {
					return err
				}
				return write(e, b, *format)
			}
			if *sweep {
				return runSweep(ctx, e, tr, opts, *report, *format)
			}
			if spot.on() {
				variant, err := spot.variant(opts)
				if err != nil {
					return err
				}
				return runCompare(ctx, e, tr, policies, opts, variant, *format)
			}
			if pool := backtest.PoolFromConfig(opts.Config, opts.Group); *warmPool > 0 || pool.Size > 0 {
				return runCompare(ctx, e, tr, policies, opts, poolVariant(opts, pool, *warmPool, *poolStart, *poolCost), *format)
			}
			res, err := backtest.Run(ctx, tr, policies, opts)
			if err != nil {
				return err
			}
			if err := writeReport(*report, res); err != nil {
				return err
			}
			return write(e, res, *format)
		}
	}}
}

// runSweep runs the sweep and prints it, with an HTML page of the frontiers if report is set.
func runSweep(ctx context.Context, e *env, tr trace.Series, opts backtest.Options, report, format string) error {
	res, err := backtest.RunSweep(ctx, tr, backtest.DefaultSweep(), opts)
	if err != nil {
		return err
	}
	if err := writeReport(report, res); err != nil {
		return err
	}
	return write(e, res, format)
}

// writeReport writes res's HTML page to path (--report), if one is asked for.
func writeReport(path string, res interface{ WriteHTML(io.Writer) error }) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("backtest: report: %w", err)
	}
	if err := res.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backtest: report: %w", err)
	}
	return nil
}

// poolVariant is the warm pool the comparison adds: the flags over the
// group's warm_pool.
func poolVariant(opts backtest.Options, pool backtest.PoolOptions, size int, start time.Duration, cost float64) backtest.Options {
	if size > 0 {
		pool.Size = size
	}
	if start > 0 {
		pool.StartDelay = start
	}
	pool.StoppedCost = cost
	opts.Pool = pool
	return opts
}

// runCompare replays the trace under base and variant and prints the comparison.
func runCompare(ctx context.Context, e *env, tr trace.Series, policies []backtest.Policy, base, variant backtest.Options, format string) error {
	res, err := backtest.Compare(ctx, tr, policies, base, variant)
	if err != nil {
		return err
	}
	return write(e, res, format)
}

// write prints a result in the --format asked for.
func write(e *env, res interface {
	WriteText(io.Writer) error
	WriteJSON(io.Writer) error
}, format string) error {
	if format == "json" {
		return res.WriteJSON(e.stdout)
	}
	return res.WriteText(e.stdout)
}

// readPrometheus reads the workload history named by the --prometheus.* flags.
func readPrometheus(ctx context.Context, url, query, start, end string, step, timeout time.Duration) (trace.Series, error) {
	if start == "" || end == "" {
		return trace.Series{}, errors.New("backtest: --prometheus.url needs --start and --end")
	}
	from, err := trace.ParseTime(start)
	if err != nil {
		return trace.Series{}, fmt.Errorf("backtest: --start: %w", err)
	}
	to, err := trace.ParseTime(end)
	if err != nil {
		return trace.Series{}, fmt.Errorf("backtest: --end: %w", err)
	}
	q := trace.PrometheusQuery{URL: url, Query: query, Start: from, End: to, Step: step, Timeout: timeout}
	return trace.ReadPrometheus(ctx, &http.Client{}, q, "prometheus")
}
