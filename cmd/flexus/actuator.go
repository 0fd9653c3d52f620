package main

import (
	"context"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/flexus-autoscaler/flexus/actuator"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
)

// actuatorCommand is `flexus actuator`: the Alertmanager webhook that scales groups.
func actuatorCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("actuator", "Receive Alertmanager notifications and scale groups under guards, exactly once.")
		configFile := cmd.Flag("config.file", "Flexus configuration file.").Required().String()
		webFlags := kingpinflag.AddFlags(cmd, ":9848")
		limits := webserver.Defaults()
		// A decision waits for the cloud; its answer must outlive the longest one.
		limits.WriteTimeout = 3 * time.Minute
		httpOpts := webserver.AddFlags(cmd, limits, true)
		return cmd, func(ctx context.Context) error {
			hup, stop := hangups()
			defer stop()
			return actuator.Run(ctx, actuator.RunOptions{
				ConfigFile: *configFile, WebFlags: webFlags, Getenv: e.getenv,
				Logger: e.logger, Clock: clock.Real{}, Reload: hup, HTTP: *httpOpts,
			})
		}
	}}
}
