package main

import (
	"context"
	"fmt"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/config"
)

// checkConfigCommand is `flexus check-config FILE`: validate the file the
// exporter and actuator read, and exit non-zero with the exact problem. With
// --effective it prints the configuration in force, defaults filled in.
func checkConfigCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("check-config", "Validate a Flexus configuration file without contacting any cloud.")
		file := cmd.Arg("file", "Flexus configuration file.").Required().String()
		effective := cmd.Flag("effective", "Print the effective configuration (defaults filled in, secrets hidden) as YAML.").Bool()
		return cmd, func(context.Context) error {
			cfg, err := config.Check(*file)
			if err != nil {
				return err
			}
			ac, err := advisor.Decode(&cfg.Advisor)
			if err != nil {
				return fmt.Errorf("%s: %w", *file, err)
			}
			if *effective {
				out, err := cfg.Effective(ac)
				if err != nil {
					return fmt.Errorf("%s: %w", *file, err)
				}
				_, err = e.stdout.Write(out)
				return err
			}
			fmt.Fprintf(e.stdout, "%s: OK\n", *file)
			return nil
		}
	}}
}
