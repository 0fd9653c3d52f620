package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
	"github.com/flexus-autoscaler/flexus/simcloud"
)

// simcloudCommand is `flexus simcloud`: the Huawei Cloud API emulator (CES,
// AS, ECS) whose world runs on the wall clock.
func simcloudCommand() command {
	return command{register: func(app *kingpin.Application, e *env) (*kingpin.CmdClause, func(context.Context) error) {
		cmd := app.Command("simcloud", "Emulate the Huawei Cloud APIs Flexus uses (Cloud Eye, Auto Scaling, ECS) for the real SDK, over a simulated world.")
		configFile := cmd.Flag("config.file", "simcloud configuration file.").Default("deploy/simcloud/simcloud.yml").String()
		step := cmd.Flag("simcloud.step-interval", "How often the world is advanced and queues are mirrored to Redis.").Default("1s").Duration()
		webFlags := kingpinflag.AddFlags(cmd, ":9849")
		httpOpts := webserver.AddFlags(cmd, webserver.Defaults(), false)
		return cmd, func(ctx context.Context) error {
			cfg, err := simcloud.LoadFile(*configFile, e.getenv)
			if err != nil {
				return err
			}
			srv, err := simcloud.NewServer(cfg, clock.Real{}, e.logger)
			if err != nil {
				return err
			}
			srv.Registry().MustRegister(versioncollector.NewCollector("flexus_simcloud"), collectors.NewGoCollector(),
				collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			runCtx, stopRun := context.WithCancel(ctx)
			defer stopRun()
			go srv.Run(runCtx, *step)

			limits := *httpOpts
			limits.MaxBodyBytes = cfg.MaxBodyBytes // simcloud answers a larger body as the real API does
			hs := webserver.New(srv.Handler(), limits, e.logger)
			errc := make(chan error, 1)
			go func() { errc <- web.ListenAndServe(hs, webFlags, e.logger) }()
			e.logger.Info("simcloud started", "project_id", cfg.ProjectID, "groups", len(cfg.World.Groups))
			select {
			case err := <-errc:
				if errors.Is(err, http.ErrServerClosed) {
					return nil
				}
				return err
			case <-ctx.Done():
				shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := hs.Shutdown(shutdownCtx)
				e.logger.Info("simcloud stopped", "err", err)
				return err
			}
		}
	}}
}
