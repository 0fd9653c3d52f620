package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/demo"
)

// demoCommand is `flexus demo`: the whole loop on loopback with simcloud,
// real Prometheus and Alertmanager, a load spike, a live view and a report.
func demoCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("demo", "Run the closed loop on simcloud with real Prometheus and Alertmanager: calm, a load spike, calm again; then a summary and an HTML report.")
		duration := cmd.Flag("duration", "Length of the scenario (calm 15%, load spike 30%, calm 55%).").Default("5m").Duration()
		spike := cmd.Flag("spike", "Demand multiplier during the load spike.").Default("3").Float64()
		report := cmd.Flag("report", "Where to write the HTML report.").Default("flexus-demo-report.html").String()
		png := cmd.Flag("png", "Also write the first group's plots as a PNG here.").String()
		keepDir := cmd.Flag("keep-dir", "Keep the run's temporary directory (configs, logs, TSDB) for inspection.").Bool()
		refresh := cmd.Flag("refresh", "How often the terminal view is redrawn.").Default("3s").Duration()
		prom := cmd.Flag("prometheus", "The prometheus program.").Default("prometheus").String()
		am := cmd.Flag("alertmanager", "The Alertmanager program (Debian names it prometheus-alertmanager).").Default("prometheus-alertmanager").String()
		return cmd, func(ctx context.Context) error {
			if *duration < time.Minute {
				return fmt.Errorf("demo: --duration %s is too short for a scaling cycle: use at least 1m", *duration)
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("demo: finding the flexus executable: %w", err)
			}
			res, runErr := demo.Run(ctx, demo.Options{
				Flexus: self, Prometheus: *prom, Alertmanager: *am,
				Scenario: demo.SpikeScenario(*duration, *spike),
				Refresh:  *refresh, KeepDir: *keepDir,
				Out: e.stdout, TTY: isTerminal(e.stdout),
				Logger: e.logger, Clock: clock.Real{},
			})
			if res == nil {
				if ctx.Err() != nil {
					fmt.Fprintln(e.stdout, "Interrupted while starting: every child process was stopped and the temporary directory removed.")
					return nil
				}
				fmt.Fprintf(e.stderr, "\n%v\n", runErr)
				return errors.New("demo: could not start the loop (see above)")
			}
			res.Summary.Write(e.stdout)
			fmt.Fprintf(e.stdout, "    Alertmanager webhook   %.0f notifications sent to the actuator, %.0f failed\n", res.NotificationsSent, res.NotificationsFailed)
			if err := demo.WriteReportFile(*report, res.Snapshot, res.Summary); err != nil {
				return errors.Join(runErr, err)
			}
			abs, _ := filepath.Abs(*report)
			fmt.Fprintf(e.stdout, "\nReport: %s\n", abs)
			if *png != "" {
				f, err := os.Create(*png)
				if err != nil {
					return errors.Join(runErr, err)
				}
				if err := demo.WritePNG(f, res.Snapshot, res.Summary.SLO); err != nil {
					f.Close()
					return errors.Join(runErr, err)
				}
				if err := f.Close(); err != nil {
					return errors.Join(runErr, err)
				}
				fmt.Fprintf(e.stdout, "Picture: %s\n", *png)
			}
			if ctx.Err() != nil {
				fmt.Fprintln(e.stdout, "Interrupted: every child process was stopped and the temporary directory removed.")
			}
			if runErr != nil {
				// Printed as is: a crashed child's error carries its log's last lines.
				fmt.Fprintf(e.stderr, "\n%v\n", runErr)
				return errors.New("demo: stopped early (see above)")
			}
			return nil
		}
	}}
}

// isTerminal tells whether w is a terminal, where the view redraws in place.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
