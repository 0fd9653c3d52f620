package main

import (
	"context"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/collector"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
)

// exporterCommand is `flexus exporter`: the Prometheus scrape target that reads
// Cloud Eye, queues and the service, and publishes signals, scores and forecasts.
func exporterCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("exporter", "Export Cloud Eye, queue and scaling signals of the configured groups on /metrics.")
		configFile := cmd.Flag("config.file", "Flexus configuration file.").Required().String()
		shardFlag := cmd.Flag("exporter.shard", "Collect only share I of N of the groups (I/N), hashed as Prometheus's hashmod; for fleets one exporter cannot cover.").Default("").String()
		webFlags := kingpinflag.AddFlags(cmd, ":9847")
		limits := webserver.Defaults()
		limits.MaxBodyBytes = 64 << 10 // the exporter reads no request body
		limits.WriteTimeout = 2 * time.Minute
		httpOpts := webserver.AddFlags(cmd, limits, true)
		return cmd, func(ctx context.Context) error {
			shard, err := collector.ParseShard(*shardFlag)
			if err != nil {
				return err
			}
			hup, stop := hangups()
			defer stop()
			s, err := collector.NewServer(collector.ServerOptions{
				ConfigFile: *configFile, Web: webFlags, Clock: clock.Real{},
				Logger: e.logger, Getenv: e.getenv, Reload: hup, HTTP: *httpOpts, Shard: shard,
			})
			if err != nil {
				return err
			}
			return s.Run(ctx)
		}
	}}
}
