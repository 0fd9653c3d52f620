// Command flexus is the Flexus X autoscaler: exporter, actuator, cloud emulator,
// demo and backtest in one binary. Each command lives in its own file and only
// parses flags before handing over to its package.
package main

import (
	"context"
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
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	app := kingpin.New("flexus", "Prometheus-native autoscaler for Huawei Cloud Flexus X: exporter, webhook actuator, cloud emulator and backtest.")
	app.Version(version.Print("flexus"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	// --help and --version would call os.Exit; note the request and return instead.
	terminated := false
	app.Terminate(func(int) { terminated = true })
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
	selected, err := app.Parse(args)
	if terminated {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "flexus: %v (try --help)\n", err)
		return 2
	}
	e.logger = promslog.New(logCfg)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runs[selected](ctx); err != nil {
		e.logger.Error("flexus "+selected+" failed", "err", err)
		return 1
	}
	return 0
}
