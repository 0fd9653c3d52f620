// Command flexus is the Flexus X autoscaler: exporter, actuator, cloud emulator,
// demo and backtest in one binary. Each command lives in its own file and only
// parses flags before handing over to its package.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/redis/go-redis/v9"

	"github.com/flexus-autoscaler/flexus/collector"
	"github.com/flexus-autoscaler/flexus/config"
)

// command is one `flexus` subcommand. register declares its flags on the
// application and returns the function that runs it once flags are parsed.
type command struct {
	register func(app *kingpin.Application, env *env) (*kingpin.CmdClause, func(ctx context.Context) error)
}

// env is what every command receives from main instead of reading globals.
type env struct {
	stdout io.Writer
	stderr io.Writer
	// logger is valid only once flags are parsed, inside a command's run function.
	logger *slog.Logger
	getenv func(string) string
}

// commands lists every subcommand; each lives in its own file.
func commands() []command {
	return []command{
		simcloudCommand(),
		forecastEvalCommand(),
		actuatorCommand(),
		demoCommand(),
		backtestCommand(),
		tuneCommand(),
		exporterCommand(),
		checkConfigCommand(),
		discoverCommand(),
	}
}

// longRunning are the commands that serve until stopped; they log the
// version and build at start, as Prometheus does, for whoever reads the logs.
var longRunning = map[string]bool{"exporter": true, "actuator": true, "simcloud": true, "demo": true}

// exitRequest is what kingpin's terminate function panics with. --help and
// --version would call os.Exit; kingpin must stop parsing there, because when
// terminate returns it carries on and prints the usage a second time.
type exitRequest struct{ code int }

// parse runs app.Parse and turns a terminate request into a returned exit code.
func parse(app *kingpin.Application, args []string) (selected string, exit *exitRequest, err error) {
	app.Terminate(func(code int) { panic(exitRequest{code: code}) })
	defer func() {
		if r := recover(); r != nil {
			req, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			exit = &req
		}
	}()
	selected, err = app.Parse(args)
	return selected, nil, err
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

// hangups delivers SIGHUP, the reload signal, for a server's config.Coordinator.
func hangups() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	app := kingpin.New("flexus", "Prometheus-native autoscaler for Huawei Cloud Flexus X: exporter, webhook actuator, cloud emulator and backtest.")
	app.Version(version.Print("flexus"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	logCfg := &promslog.Config{Writer: stderr}
	promslogflag.AddFlags(app, logCfg)

	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	runs := map[string]func(context.Context) error{}
	for _, c := range commands() {
		clause, fn := c.register(app, e)
		runs[clause.FullCommand()] = fn
	}

	if len(args) == 0 {
		app.UsageWriter(stderr)
		app.Usage(nil)
		fmt.Fprintln(stderr, "flexus: command not specified (try --help)")
		return 2
	}
	selected, exit, err := parse(app, args)
	if exit != nil {
		return exit.code
	}
	if err != nil {
		fmt.Fprintf(stderr, "flexus: %v (try --help)\n", err)
		return 2
	}
	e.logger = promslog.New(logCfg)
	// go-redis has no per-client logger in v9: its one global is set here,
	// once, so its lines follow --log.format like every other.
	redis.SetLogger(collector.RedisLogger(e.logger))
	if longRunning[selected] {
		e.logger.Info("Starting flexus", "command", selected, "version", version.Info())
		e.logger.Info("operational information", "build_context", version.BuildContext())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runs[selected](ctx); err != nil {
		reportFailure(stderr, e.logger, selected, err)
		return 1
	}
	return 0
}

// reportFailure prints a configuration error as plain lines, one problem a
// line, for the person starting the program; anything else is logged.
func reportFailure(stderr io.Writer, logger *slog.Logger, selected string, err error) {
	var ce *config.Error
	switch {
	case errors.Is(err, errReported):
	case errors.As(err, &ce):
		where := "the configuration"
		if ce.File != "" {
			where = ce.File
		}
		fmt.Fprintf(stderr, "flexus %s: %s is not valid:\n", selected, where)
		for _, p := range ce.Problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
	default:
		logger.Error("flexus "+selected+" failed", "err", err)
	}
}
