package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/clock"
)

// Subscriber is one part of a process that follows the config. Check may
// refuse the next config (nothing has changed yet); Apply takes it and
// cannot fail, so a reload is taken by every part or by none.
type Subscriber struct {
	Name  string
	Check func(next *Config) error
	Apply func(next *Config)
}

// Coordinator is a process's one reloader (Alertmanager's config.Coordinator):
// it reads the file once per reload, checks the result against every
// subscriber, then hands it to all of them. A refused reload keeps the config
// in force everywhere and is published as last_reload_successful 0.
type Coordinator struct {
	path   string
	load   func(path string) (*Config, error)
	clock  clock.Clock
	logger *slog.Logger

	mu   sync.Mutex // serialises reloads
	cfg  *Config
	subs []Subscriber

	ok, okTime prometheus.Gauge
}

// NewCoordinator reloads path with load (which reads, validates and resolves
// the file as the process uses it). The gauges are named prefix_config_….
func NewCoordinator(path string, load func(string) (*Config, error), prefix string, clk clock.Clock, logger *slog.Logger) *Coordinator {
	return &Coordinator{
		path: path, load: load, clock: clk, logger: logger,
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_config_last_reload_successful",
			Help: "Whether the last configuration reload succeeded (1) or not (0).",
		}),
		okTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: prefix + "_config_last_reload_success_timestamp_seconds",
			Help: "Time of the last successful configuration reload.",
		}),
	}
}

// Register publishes the reload gauges.
func (c *Coordinator) Register(reg prometheus.Registerer) error {
	for _, g := range []prometheus.Collector{c.ok, c.okTime} {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("config: registering the reload gauges: %w", err)
		}
	}
	return nil
}

// Load reads the file for the first time; the process builds its parts from
// the result and then subscribes them.
func (c *Coordinator) Load() (*Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg, err := c.load(c.path)
	if err != nil {
		return nil, err
	}
	c.cfg = cfg
	c.succeeded()
	return cfg, nil
}

// Subscribe adds parts to be checked and told at every reload.
func (c *Coordinator) Subscribe(s ...Subscriber) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.subs = append(c.subs, s...)
}

// Config is the config in force.
func (c *Coordinator) Config() *Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Reload re-reads the file. The cloud section is never reloaded: its clients,
// credentials and metrics are built once, so a change is refused, not ignored.
func (c *Coordinator) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := c.check()
	if err != nil {
		c.ok.Set(0)
		c.logger.Error("config reload failed: the config in force is kept", "file", c.path, "err", err)
		return err
	}
	for _, s := range c.subs {
		s.Apply(next)
	}
	c.cfg = next
	c.succeeded()
	c.logger.Info("config reloaded", "file", c.path)
	return nil
}

func (c *Coordinator) check() (*Config, error) {
	if c.cfg == nil {
		return nil, errors.New("config: reload before the first load")
	}
	next, err := c.load(c.path)
	if err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(next.Cloud, c.cfg.Cloud) {
		return nil, fmt.Errorf("config: %s: the cloud section changed: restart the process to apply it", c.path)
	}
	for _, s := range c.subs {
		if s.Check == nil {
			continue
		}
		if err := s.Check(next); err != nil {
			return nil, fmt.Errorf("%s: %w", c.path, err)
		}
	}
	return next, nil
}

func (c *Coordinator) succeeded() {
	c.ok.Set(1)
	c.okTime.Set(float64(c.clock.Now().UnixMilli()) / 1e3)
}

// Run reloads on every value of hup (SIGHUP, delivered by the caller) until
// ctx ends; a nil hup only waits for ctx.
func (c *Coordinator) Run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = c.Reload()
		}
	}
}

// Handler serves POST /-/reload. Without lifecycle (--web.enable-lifecycle)
// it answers 403 and nothing else; a failed reload answers 500 without its
// reason, which goes to the log, not to whoever asked.
func (c *Coordinator) Handler(lifecycle bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !lifecycle {
			http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
			return
		}
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the config", http.StatusMethodNotAllowed)
			return
		}
		if err := c.Reload(); err != nil {
			http.Error(w, "reload failed: the config in force is kept; the reason is in the log", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("Reloaded.\n"))
	})
}
