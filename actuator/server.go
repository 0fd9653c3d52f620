package actuator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
)

// CheckAuth refuses a config that would run the webhook open by accident.
func CheckAuth(a config.Actuator) error {
	if a.BearerToken == "" && !a.InsecureNoAuth {
		return errors.New("actuator: no bearer token: set actuator.bearer_token_file (the file Alertmanager's http_config.authorization.credentials_file names), or set actuator.insecure_no_auth: true to run without authentication")
	}
	return nil
}

// ScalersFor builds the two backends over hwcloud clients.
func ScalersFor(c *hwcloud.Clients) Scalers {
	return Scalers{
		config.BackendAS:  &ASScaler{Client: c.AS},
		config.BackendECS: &ECSScaler{Client: c.ECS, Sleep: SleepContext},
	}
}

// Routes is the actuator's HTTP surface: the webhook, the decisions, the
// metrics of gatherer, health, readiness, reload and the landing page.
// reload (config.Coordinator.Handler) may be nil when reloading is not offered.
func (a *Actuator) Routes(gatherer prometheus.Gatherer, reload http.Handler) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle(PathAlerts, a.WebhookHandler())
	mux.Handle(PathDecisions, a.DecisionsHandler())
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Healthy.\n")) })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("Ready.\n")) })
	if reload == nil {
		reload = http.NotFoundHandler()
	}
	mux.Handle("/-/reload", reload)
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Flexus actuator",
		Description: "Alertmanager webhook that scales Flexus X groups under guards, exactly once.",
		Version:     version.Info(),
		Profiling:   "false", // no /debug/pprof is served: its links would be dead
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics"},
			{Address: PathDecisions, Text: "Recent decisions (bearer token)"},
			{Address: "/-/healthy", Text: "Health"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("actuator: landing page: %w", err)
	}
	// Only GET: a webhook misconfigured to POST here must fail loudly, not get a 200.
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the webhook is POST "+PathAlerts, http.StatusMethodNotAllowed)
			return
		}
		landing.ServeHTTP(w, r)
	}))
	return mux, nil
}

// RunOptions are what Run needs from its caller.
type RunOptions struct {
	ConfigFile string
	WebFlags   *web.FlagConfig
	Getenv     func(string) string
	Logger     *slog.Logger
	Clock      clock.Clock
	// Reload delivers SIGHUP; nil when signals are not wired.
	Reload <-chan os.Signal
	// HTTP are the web server's limits and --web.enable-lifecycle.
	HTTP webserver.Options
	// ShutdownTimeout bounds the wait for the decision in flight (default 2m).
	ShutdownTimeout time.Duration
}

// Run is the whole `flexus actuator`: load, build, serve until ctx ends,
// then finish the decisions in flight and stop.
func Run(ctx context.Context, o RunOptions) error {
	coord := config.NewCoordinator(o.ConfigFile, func(path string) (*config.Config, error) {
		return loadConfig(path, o.Getenv)
	}, "flexus", o.Clock, o.Logger)
	cfg, err := coord.Load()
	if err != nil {
		return err
	}
	if cfg.Actuator.InsecureNoAuth {
		o.Logger.Warn("the webhook runs WITHOUT authentication (actuator.insecure_no_auth): anyone who reaches it can scale your groups")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector("flexus"), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := coord.Register(reg); err != nil {
		return err
	}
	clients, err := hwcloud.New(cfg.Cloud, reg, o.Logger)
	if err != nil {
		return err
	}
	store, err := OpenStateStore(ctx, cfg.Actuator, o.Clock.Now())
	if err != nil {
		return err
	}
	defer store.Close()
	a, err := New(Options{Config: cfg, Scalers: ScalersFor(clients), Store: store, Clock: o.Clock, Logger: o.Logger, Registerer: reg})
	if err != nil {
		return err
	}
	defer a.Close()
	coord.Subscribe(a.Subscriber())
	h, err := a.Routes(reg, coord.Handler(o.HTTP.EnableLifecycle))
	if err != nil {
		return err
	}
	// The webhook bounds its body by actuator.max_body_bytes as reloaded; the
	// server bounds every body by the value at start.
	limits := o.HTTP
	limits.MaxBodyBytes = cfg.Actuator.MaxBodyBytes
	srv := webserver.New(h, limits, o.Logger)
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(srv, o.WebFlags, o.Logger) }()
	reloadCtx, stopReloads := context.WithCancel(ctx)
	defer stopReloads()
	go coord.Run(reloadCtx, o.Reload)
	go a.RunGrading(reloadCtx)
	spotTicker := time.NewTicker(SpotTick(cfg)) // reclaimed spot capacity is replaced without an alert
	defer spotTicker.Stop()
	go a.RunSpotChecks(reloadCtx, spotTicker.C)
	o.Logger.Info("actuator started", "groups", len(cfg.Groups), "state_file", cfg.Actuator.StateFile, "dry_run", cfg.Actuator.DryRun,
		"grading", cfg.Actuator.Grading != nil)
	select {
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		timeout := o.ShutdownTimeout
		if timeout <= 0 {
			timeout = 2 * time.Minute
		}
		o.Logger.Info("shutting down: finishing the decisions in flight", "timeout", timeout)
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("actuator: shutdown: %w", err)
		}
		return nil
	}
}

// loadConfig reads the file as the actuator uses it; the coordinator
// compares the resolved cloud sections of two loads.
func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	cfg, err := config.LoadFor(path, config.ForActuator)
	if err != nil {
		return nil, err
	}
	if err := CheckAuth(cfg.Actuator); err != nil {
		return nil, err
	}
	if err := cfg.Cloud.Resolve(getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
