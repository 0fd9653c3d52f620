package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/flexus-autoscaler/flexus/actuator"
	"github.com/flexus-autoscaler/flexus/clock"
)

// actuatorCommand is `flexus actuator`: the Alertmanager webhook that scales groups.
func actuatorCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("actuator", "Receive Alertmanager notifications and scale groups under guards, exactly once.")
		configFile := cmd.Flag("config.file", "Flexus configuration file.").Required().String()
		webFlags := kingpinflag.AddFlags(cmd, ":9848")
		return cmd, func(ctx context.Context) error {
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			reload := make(chan struct{})
			go func() {
				for {
					select {
					case <-hup:
						select {
						case reload <- struct{}{}:
						case <-ctx.Done():
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			return actuator.Run(ctx, actuator.RunOptions{
				ConfigFile: *configFile, WebFlags: webFlags, Getenv: e.getenv,
				Logger: e.logger, Clock: clock.Real{}, Reload: reload,
			})
		}
	}}
}
