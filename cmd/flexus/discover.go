package main

import (
	"context"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/discover"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// discoverCommand is `flexus discover --config.file=FILE`: read-only, it
// prints per group what the cloud shows and every signal that will have no
// data, with the reason and the fix.
func discoverCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("discover", "Show, read-only, each group's instances, the Cloud Eye metrics that exist for them, and the signals that will have no data and why.")
		configFile := cmd.Flag("config.file", "Flexus configuration file.").Required().String()
		timeout := cmd.Flag("timeout", "How long the whole discovery may take.").Default("2m").Duration()
		return cmd, func(ctx context.Context) error {
			cfg, err := discover.LoadConfig(*configFile, e.getenv)
			if err != nil {
				return err
			}
			clients, err := hwcloud.New(cfg.Cloud, nil, e.logger)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			discover.Run(ctx, cfg, clients, time.Now()).WriteText(e.stdout)
			return nil
		}
	}}
}
