package main

import (
	"context"
	"fmt"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/collector"
)

// checkConfigCommand is `flexus check-config FILE`: validate the file the
// exporter and actuator read, and exit non-zero with the exact problem.
func checkConfigCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("check-config", "Validate a Flexus configuration file without contacting any cloud.")
		file := cmd.Arg("file", "Flexus configuration file.").Required().String()
		return cmd, func(context.Context) error {
			if err := collector.CheckConfig(*file); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: OK\n", *file)
			return nil
		}
	}}
}
