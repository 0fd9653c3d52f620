package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
)

// ServerOptions configure the exporter process.
type ServerOptions struct {
	ConfigFile string
	Web        *web.FlagConfig
	Clock      clock.Clock
	Logger     *slog.Logger
	Getenv     func(string) string
	// HTTPClient reads response-time endpoints and talks to the advisor; nil
	// means a default client.
	HTTPClient *http.Client
	// Reload receives a value for every SIGHUP (the caller wires the signal);
	// nil means reloads come only through POST /-/reload.
	Reload <-chan os.Signal
	// HTTP are the web server's limits and --web.enable-lifecycle.
	HTTP webserver.Options
	// Shard limits the groups to this replica's share; the zero Shard is all.
	Shard Shard
}

// Server is the exporter process: config, cloud clients, the collection loop,
// the advisor when enabled, and the HTTP endpoints.
type Server struct {
	o       ServerOptions
	reg     *prometheus.Registry
	loop    *Loop
	coll    *Collector
	advisor *advisor.Advisor

	coord *config.Coordinator
}

// loadConfig reads, validates and resolves the file the way the exporter uses it.
func loadConfig(path string, getenv func(string) string, shard Shard) (*config.Config, error) {
	cfg, err := config.LoadFor(path, config.ForExporter)
	if err != nil {
		return nil, err
	}
	shard.selectGroups(cfg)
	if err := cfg.Cloud.Resolve(getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// advisorConfig decodes the raw advisor: block; absent means off.
func advisorConfig(cfg *config.Config) (advisor.Config, error) {
	ac := advisor.DefaultConfig()
	if cfg.Advisor.Kind == 0 {
		return ac, nil
	}
	if err := cfg.Advisor.Decode(&ac); err != nil {
		return ac, fmt.Errorf("config: advisor: %w", err)
	}
	return ac, nil
}

// NewServer loads the config and builds everything; it makes no cloud call.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: httpTimeout}
	}
	s := &Server{o: o, reg: prometheus.NewRegistry()}
	s.coord = config.NewCoordinator(o.ConfigFile, func(path string) (*config.Config, error) {
		return loadConfig(path, o.Getenv, o.Shard)
	}, "flexus", o.Clock, o.Logger)
	cfg, err := s.coord.Load()
	if err != nil {
		return nil, err
	}
	if err := s.coord.Register(s.reg); err != nil {
		return nil, err
	}
	s.reg.MustRegister(
		versioncollector.NewCollector("flexus"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	clients, err := hwcloud.New(cfg.Cloud, s.reg, o.Logger)
	if err != nil {
		return nil, err
	}
	ac, err := advisorConfig(cfg)
	if err != nil {
		return nil, err
	}
	s.advisor, err = advisor.New(ac, o.HTTPClient, o.Getenv, o.Logger.With("component", "advisor"))
	if err != nil {
		return nil, err
	}
	s.reg.MustRegister(s.advisor) // publishes nothing in mode off; a reload may change the mode
	checker, err := s.historyChecker()
	if err != nil {
		return nil, err
	}
	s.advisor.CheckWith(checker)
	s.coll, err = New(Options{Config: cfg, Clients: clients, HTTPClient: o.HTTPClient, Logger: o.Logger, Advice: s.advisor})
	if err != nil {
		return nil, err
	}
	s.loop = NewLoop(s.coll, o.Clock)
	s.loop.textOnly = true
	s.coord.Subscribe(
		// The advisor takes its new block, mode included (docs/advisor.md).
		config.Subscriber{Name: "advisor", Check: func(next *config.Config) error {
			nextAC, err := advisorConfig(next)
			if err != nil {
				return err
			}
			return nextAC.Validate()
		}, Apply: func(next *config.Config) {
			if nextAC, err := advisorConfig(next); err == nil {
				if err := s.advisor.Reconfigure(nextAC); err != nil {
					o.Logger.Error("advisor: reconfigure after a checked reload", "err", err)
				}
			}
			names := make([]string, 0, len(next.Groups))
			for _, g := range next.Groups {
				names = append(names, g.Name)
			}
			s.advisor.Retain(names...)
		}},
		config.Subscriber{Name: "collector", Check: checkGroups, Apply: s.coll.SetConfig},
	)
	return s, nil
}

// Registry is the exporter's registry, for tests and benchmarks.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Loop is the collection loop, for tests and benchmarks.
func (s *Server) Loop() *Loop { return s.loop }

// Reload re-reads the config file; a refused file keeps the config in force
// (config.Coordinator: the cloud section needs a restart).
func (s *Server) Reload() error { return s.coord.Reload() }

// Handler serves /metrics, the landing page, health, readiness and reload.
func (s *Server) Handler() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metricsHandler())
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.loop.Ready() {
			http.Error(w, "Not ready: "+s.loop.NotReadyReason(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.Handle("/-/reload", s.coord.Handler(s.o.HTTP.EnableLifecycle))
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Flexus exporter",
		Description: "Cloud Eye, queue and scaling signals of Huawei Cloud scaling groups",
		Version:     version.Info(),
		Profiling:   "false", // no /debug/pprof is served: its links would be dead
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/", landing)
	return mux, nil
}

// metricsHandler serves the registry, encoded per scrape (a few hundred
// series), followed by the snapshot, encoded once per collection. Both parts
// are gzip members when the client accepts gzip: concatenated members are
// one valid gzip stream.
func (s *Server) metricsHandler() http.Handler {
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mfs, err := s.reg.Gather()
		if err != nil {
			s.o.Logger.Error("gathering self-metrics", "err", err)
		}
		var head bytes.Buffer
		enc := expfmt.NewEncoder(&head, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				http.Error(w, "encoding metrics: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		snap := s.loop.Snapshot()
		w.Header().Set("Content-Type", string(format))
		if !acceptsGzip(r) {
			_, _ = w.Write(head.Bytes())
			if snap != nil {
				_, _ = w.Write(snap.text)
			}
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		_, _ = zw.Write(head.Bytes())
		if err := zw.Close(); err != nil {
			return
		}
		if snap != nil {
			_, _ = w.Write(snap.gz)
		}
	})
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(part, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

// Run serves until ctx ends, collecting in the background; it reloads on
// SIGHUP and shuts the HTTP server down gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.coll.Close()
	h, err := s.Handler()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.coord.Run(ctx, s.o.Reload)
	}()
	go func() {
		defer wg.Done()
		_ = s.loop.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		_ = s.advisor.Run(ctx, s.o.Clock, s.coll.Summaries)
	}()

	srv := webserver.New(h, s.o.HTTP, s.o.Logger)
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, s.o.Web, s.o.Logger) }()
	select {
	case err = <-serveErr:
		cancel()
		wg.Wait()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("exporter: serving HTTP: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	err = srv.Shutdown(shutdownCtx)
	// A collection blocked in an SDK call (they take no context) must not
	// hold the exit for its whole timeout-and-retries budget.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-shutdownCtx.Done():
		s.o.Logger.Warn("exiting with a collection still in flight")
	}
	if err != nil {
		return fmt.Errorf("exporter: shutting down: %w", err)
	}
	return nil
}

// CheckConfig validates a config file as the exporter reads it, without
// credentials or any cloud call: everything config.CheckFor checks for the
// exporter, then the advisor block and the ELB sources as it will build them.
func CheckConfig(path string) error {
	cfg, err := config.CheckFor(path, config.ForExporter)
	if err != nil {
		return err
	}
	if _, err := advisorConfig(cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := checkGroups(cfg); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// checkGroups checks what the exporter needs of each group beyond the shared
// file's validation: its scoring parameters and its response-time source.
func checkGroups(cfg *config.Config) error {
	for i := range cfg.Groups {
		g := &cfg.Groups[i]
		if err := g.ScoringParams(cfg.Exporter).Validate(); err != nil {
			return fmt.Errorf("groups[%d]: %w", i, err)
		}
		if _, err := parseELB(g.ResponseTime); err != nil {
			return fmt.Errorf("groups[%d]: %w", i, err)
		}
	}
	return nil
}
