package config

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
)

const coordBase = `
cloud: {region: cn-north-4, project_id: p1}
groups:
  - name: web
    discovery: {as_group_id: as-1}
    min_instances: 1
    max_instances: 10
`

// coordEnv is a coordinator over a file the test rewrites, with two
// subscribers that record what they were given.
type coordEnv struct {
	path    string
	c       *Coordinator
	reg     *prometheus.Registry
	applied [2][]*Config
	refuse  error // what the second subscriber's Check answers
}

func newCoordEnv(t *testing.T) *coordEnv {
	t.Helper()
	e := &coordEnv{path: filepath.Join(t.TempDir(), "flexus.yml"), reg: prometheus.NewRegistry()}
	e.write(t, coordBase)
	e.c = NewCoordinator(e.path, Load, "flexus", clock.NewFake(time.Unix(1000, 0)), promslog.NewNopLogger())
	if err := e.c.Register(e.reg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Load(); err != nil {
		t.Fatal(err)
	}
	e.c.Subscribe(
		Subscriber{Name: "first", Apply: func(c *Config) { e.applied[0] = append(e.applied[0], c) }},
		Subscriber{Name: "second", Check: func(*Config) error { return e.refuse }, Apply: func(c *Config) { e.applied[1] = append(e.applied[1], c) }},
	)
	return e
}

func (e *coordEnv) write(t *testing.T, body string) {
	t.Helper()
	if err := os.WriteFile(e.path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *coordEnv) successful(t *testing.T) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "flexus_config_last_reload_successful" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("flexus_config_last_reload_successful is not registered")
	return 0
}

func TestCoordinatorReload(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		refuse  error
		wantErr string
	}{
		{name: "a good file reaches every subscriber", file: strings.Replace(coordBase, "max_instances: 10", "max_instances: 12", 1)},
		{name: "a file that does not parse is refused as a whole", file: "groups: [\n", wantErr: "yaml"},
		{name: "a changed cloud section is refused, not ignored", file: strings.Replace(coordBase, "project_id: p1", "project_id: p2", 1), wantErr: "the cloud section changed: restart"},
		{name: "one subscriber's refusal keeps the config in force everywhere", file: strings.Replace(coordBase, "max_instances: 10", "max_instances: 12", 1),
			refuse: errors.New("the advisor section changed"), wantErr: "the advisor section changed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCoordEnv(t)
			before := e.c.Config()
			e.refuse = tc.refuse
			e.write(t, tc.file)
			err := e.c.Reload()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(e.applied[0]) != 1 || len(e.applied[1]) != 1 || e.applied[0][0] != e.applied[1][0] || e.c.Config() != e.applied[0][0] {
					t.Fatalf("every subscriber must get the one config loaded: %v", e.applied)
				}
				if g, _ := e.c.Config().Group("web"); g.MaxInstances != 12 {
					t.Errorf("max_instances %d after reload, want 12", g.MaxInstances)
				}
				if got := e.successful(t); got != 1 {
					t.Errorf("last_reload_successful %v, want 1", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
			if len(e.applied[0])+len(e.applied[1]) != 0 || e.c.Config() != before {
				t.Errorf("a refused reload reached a subscriber or replaced the config in force")
			}
			if got := e.successful(t); got != 0 {
				t.Errorf("last_reload_successful %v after a refused reload, want 0", got)
			}
		})
	}
}

func TestCoordinatorReloadsOnEveryHangup(t *testing.T) {
	e := newCoordEnv(t)
	e.write(t, strings.Replace(coordBase, "max_instances: 10", "max_instances: 12", 1))
	hup := make(chan os.Signal) // unbuffered: a send returns once Run has taken it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.c.Run(ctx, hup); close(done) }()
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // taken only after the first reload has finished
	cancel()
	<-done
	if len(e.applied[0]) != 2 {
		t.Fatalf("%d reloads for two hangups", len(e.applied[0]))
	}
}

func TestCoordinatorHandler(t *testing.T) {
	tests := []struct {
		name      string
		lifecycle bool
		method    string
		file      string
		wantCode  int
		mustNot   string
	}{
		{name: "without --web.enable-lifecycle reload is forbidden", method: "POST", file: coordBase, wantCode: 403},
		{name: "without --web.enable-lifecycle a bad file is not even read", method: "POST", file: "groups: [\n", wantCode: 403, mustNot: "yaml"},
		{name: "GET does not reload", lifecycle: true, method: "GET", file: coordBase, wantCode: 405},
		{name: "POST reloads", lifecycle: true, method: "POST", file: coordBase, wantCode: 200},
		{name: "a failed reload does not echo its reason", lifecycle: true, method: "POST", file: "groups: [\n  secret_key_material\n", wantCode: 500, mustNot: "secret_key_material"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newCoordEnv(t)
			e.write(t, tc.file)
			w := httptest.NewRecorder()
			e.c.Handler(tc.lifecycle).ServeHTTP(w, httptest.NewRequest(tc.method, "/-/reload", nil))
			if w.Code != tc.wantCode {
				t.Fatalf("%s: %d %q, want %d", tc.method, w.Code, w.Body.String(), tc.wantCode)
			}
			if tc.mustNot != "" && strings.Contains(w.Body.String(), tc.mustNot) {
				t.Errorf("answer %q reveals %q", w.Body.String(), tc.mustNot)
			}
			if tc.wantCode == 403 && w.Body.String() != http.StatusText(403)+"\n" {
				t.Errorf("403 answer %q carries detail", w.Body.String())
			}
			wantReloads := 0
			if tc.wantCode == 200 {
				wantReloads = 1
			}
			if len(e.applied[0]) != wantReloads {
				t.Errorf("%d reloads, want %d", len(e.applied[0]), wantReloads)
			}
		})
	}
}

func TestCoordinatorGaugesStartAtTheFirstLoad(t *testing.T) {
	e := newCoordEnv(t)
	if got := e.successful(t); got != 1 {
		t.Errorf("last_reload_successful %v after the first load, want 1", got)
	}
	if got := testutil.ToFloat64(e.c.okTime); got != 1000 {
		t.Errorf("last_reload_success_timestamp_seconds %v, want the clock's 1000", got)
	}
}
