package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/config"
)

// errReported is returned by a command that has already told the user why
// it failed: run exits 1 without logging it again.
var errReported = errors.New("failure already reported")

// checkConfigCommand is `flexus check-config FILE`: validate the file as the
// exporter and the actuator read it, each for the sections it uses, and print
// promtool's SUCCESS / FAILED lines, exiting 1 on any failure. With
// --effective it prints the configuration in force, defaults filled in.
func checkConfigCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("check-config", "Validate a Flexus configuration file without contacting any cloud.")
		file := cmd.Arg("file", "Flexus configuration file.").Required().String()
		forName := cmd.Flag("for", "The command whose sections to check: exporter, actuator or all.").Default("all").Enum("exporter", "actuator", "all")
		effective := cmd.Flag("effective", "Print the effective configuration (defaults filled in, secrets hidden) as YAML.").Bool()
		return cmd, func(context.Context) error {
			f, err := config.ParseFor(*forName)
			if err != nil {
				return err
			}
			// With --effective stdout is the YAML alone.
			report := e.stdout
			if *effective {
				report = e.stderr
			}
			cfg, ac, ok := checkConfig(*file, f, report, e.stderr)
			if !ok {
				return errReported
			}
			if *effective {
				out, err := cfg.Effective(ac)
				if err != nil {
					return fmt.Errorf("%s: %w", *file, err)
				}
				_, err = e.stdout.Write(out)
				return err
			}
			return nil
		}
	}}
}

// checkConfig prints "Checking FILE", then one SUCCESS or FAILED line per
// command in f naming the sections it checked, as promtool check config does.
func checkConfig(file string, f config.For, stdout, stderr io.Writer) (*config.Config, any, bool) {
	fmt.Fprintf(stdout, "Checking %s\n", file)
	cfg, err := config.Load(file)
	if err != nil {
		printFailed(stderr, "", err)
		return nil, nil, false
	}
	groups := "groups"
	if len(cfg.Groups) == 1 {
		groups = "group"
	}
	fmt.Fprintf(stdout, "  SUCCESS: %d %s found\n", len(cfg.Groups), groups)
	ok := true
	var ac any
	for _, c := range f.Commands() {
		err := cfg.CheckFor(c)
		if err == nil && c == config.ForExporter {
			if ac, err = advisor.Decode(&cfg.Advisor); err != nil {
				err = fmt.Errorf("advisor: %w", err)
			}
		}
		if err != nil {
			printFailed(stderr, "for the "+c.String()+": ", err)
			ok = false
			continue
		}
		fmt.Fprintf(stdout, "  SUCCESS: %s: %s\n", c, strings.Join(c.Sections(), ", "))
	}
	return cfg, ac, ok
}

// printFailed writes one FAILED line per problem of a config error.
func printFailed(w io.Writer, prefix string, err error) {
	var ce *config.Error
	if !errors.As(err, &ce) {
		fmt.Fprintf(w, "  FAILED: %s%v\n", prefix, err)
		return
	}
	for _, p := range ce.Problems {
		fmt.Fprintf(w, "  FAILED: %s%s\n", prefix, p)
	}
}
