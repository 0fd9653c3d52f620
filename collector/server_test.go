package collector

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
	"github.com/flexus-autoscaler/flexus/simcloud"
)

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReloadGoodAndBad(t *testing.T) {
	s := startSim(t)
	good := s.config(t)
	srv, url, path := startServer(t, s, good)
	step := func() {
		t.Helper()
		if _, err := srv.Loop().Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	step()
	groups := func() int {
		_, body := get(t, url+"/metrics")
		return strings.Count(string(body), "\nflexus_group_current_instances{")
	}
	if n := groups(); n != 2 {
		t.Fatalf("%d groups before reload, want 2", n)
	}

	// A good file: the web group is dropped at the next collection.
	withoutWeb := good[:strings.Index(good, "  - name: web")]
	if err := os.WriteFile(path, []byte(withoutWeb), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, url+"/-/reload"); code != http.StatusOK {
		t.Fatalf("good reload: %d %s", code, body)
	}
	step()
	if n := groups(); n != 1 {
		t.Errorf("%d groups after reloading a file with one, want 1", n)
	}
	if got := testutil.ToFloat64(gaugeOf(t, srv.Registry(), "flexus_config_last_reload_successful", "", "")); got != 1 {
		t.Errorf("flexus_config_last_reload_successful = %v after a good reload", got)
	}

	// A bad file: refused with the field named, the config in force is kept.
	if err := os.WriteFile(path, []byte(good+"    bogus_key: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := post(t, url+"/-/reload")
	if code != http.StatusInternalServerError || strings.Contains(body, "bogus_key") {
		t.Errorf("bad reload: %d %q, want 500 that leaves the reason to the log", code, body)
	}
	if got := testutil.ToFloat64(gaugeOf(t, srv.Registry(), "flexus_config_last_reload_successful", "", "")); got != 0 {
		t.Errorf("flexus_config_last_reload_successful = %v after a bad reload, want 0", got)
	}
	step()
	if n := groups(); n != 1 {
		t.Errorf("%d groups after a bad reload, want the 1 in force", n)
	}
	if code, _ := get(t, url+"/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d, want 405", code)
	}

	// A changed cloud section is refused, as the actuator refuses it.
	if err := os.WriteFile(path, []byte(strings.Replace(withoutWeb, "max_retries: 3", "max_retries: 2", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(); err == nil || !strings.Contains(err.Error(), "the cloud section changed: restart") {
		t.Errorf("reload with a changed cloud section: %v, want it refused", err)
	}
}

func TestReloadNeedsTheLifecycleFlag(t *testing.T) {
	s := startSim(t)
	path := writeConfig(t, t.TempDir(), s.config(t))
	srv, err := NewServer(ServerOptions{ConfigFile: path, Clock: s.clk, Logger: promslog.NewNopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.coll.Close)
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if w.Code != http.StatusForbidden || w.Body.String() != "Forbidden\n" {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d %q, want a bare 403", w.Code, w.Body.String())
	}
}

func TestRunServesReloadsOnHUPAndShutsDown(t *testing.T) {
	s := startSim(t)
	path := writeConfig(t, t.TempDir(), s.config(t))
	addr := testenv.FreePort(t)
	hup := make(chan os.Signal) // unbuffered: a send returns once the reloader has taken it
	srv, err := NewServer(ServerOptions{
		ConfigFile: path, Clock: s.clk, Logger: promslog.NewNopLogger(), Reload: hup, HTTP: webserver.Defaults(),
		Web: &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: new(bool), WebConfigFile: new(string)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Loop().Collected():
	case <-time.After(20 * time.Second):
		t.Fatal("no first collection within 20s")
	}
	if code, body := get(t, "http://"+addr+"/metrics"); code != http.StatusOK || !strings.Contains(string(body), "flexus_signal{") {
		t.Errorf("/metrics: %d, flexus_signal present: %v", code, strings.Contains(string(body), "flexus_signal{"))
	}
	if code, _ := get(t, "http://"+addr+"/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy: %d", code)
	}
	if code, body := get(t, "http://"+addr+"/"); code != http.StatusOK || !strings.Contains(string(body), "/metrics") {
		t.Errorf("landing page: %d", code)
	}
	// SIGHUP with a broken file: the reload fails, serving goes on.
	if err := os.WriteFile(path, []byte("groups: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // taken only once the first reload has finished
	if got := testutil.ToFloat64(gaugeOf(t, srv.Registry(), "flexus_config_last_reload_successful", "", "")); got != 0 {
		t.Errorf("after SIGHUP with a broken file, reload_successful = %v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, wantErr string
	}{
		{"the shared example is valid", unitConfig, ""},
		{"an unknown key is named", unitConfig + "    colour: blue\n", "colour: unknown field"},
		{"a response-time URL that is neither http nor cloudeye is refused", unitConfig + "    response_time: {url: \"ftp://x/metrics\"}\n", `groups[0].response_time.url: "ftp://x/metrics" must be an http(s) URL`},
		{"an ELB source needs a dimension", unitConfig + "    response_time: {url: \"cloudeye:SYS.ELB\"}\n", "names no dimension"},
		{"an ELB source is valid", unitConfig + "    response_time: {url: \"cloudeye:SYS.ELB?lbaas_instance_id=elb-1\"}\n", ""},
		{"a bad advisor block is refused", unitConfig + "advisor:\n  mode: sometimes\n", "advisor"},
		{"scale_out must stay above scale_in", strings.Replace(unitConfig, "    max_instances: 10\n", "    max_instances: 10\n    signals:\n      cpu: {scale_out: 0.2, scale_in: 0.3}\n", 1), "groups[0].signals.cpu.scale_out: 0.2 must be above scale_in 0.3 (line 18)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yml")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := CheckConfig(p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			case err != nil && !strings.Contains(err.Error(), p):
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestAdvisorIsPublishedWhenEnabled(t *testing.T) {
	s := startSim(t)
	y := s.config(t) + "advisor:\n  mode: advise\n  api_key: test-key-not-real\n  base_url: http://127.0.0.1:1/v1\n"
	srv, url, _ := startServer(t, s, y)
	if _, err := srv.Loop().Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, url+"/metrics")
	for _, name := range []string{"flexus_advisor_requests_total", "flexus_advisor_last_success_timestamp_seconds"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s with advisor.mode advise", name)
		}
	}
	if sums := srv.coll.Summaries(s.clk.Now()); len(sums) != 2 || len(sums[0].Signals) == 0 {
		t.Errorf("advisor summaries after one collection: %+v", sums)
	}
}

func TestReadyOnlyAfterASuccessfulCollection(t *testing.T) {
	s := startSim(t)
	srv, url, _ := startServer(t, s, s.config(t))
	apis := []string{"BatchListMetricData", "ListMetrics", "ListAgentDimensionInfo"}
	setFault := func(f simcloud.Fault) {
		for _, api := range apis {
			if err := s.env.Server.SetFault(api, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	setFault(simcloud.Fault{ErrorProbability: 1})
	if _, err := srv.Loop().Step(context.Background()); err == nil {
		t.Fatal("a collection against a failing Cloud Eye reported no error")
	}
	code, body := get(t, url+"/-/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "the last one failed: ") {
		t.Errorf("/-/ready after a failed first collection: %d %q, want 503 with the failure", code, body)
	}
	setFault(simcloud.Fault{})
	s.clk.Advance(time.Minute)
	if _, err := srv.Loop().Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, url+"/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready after a successful collection: %d %q", code, body)
	}
	// Once ready, a later failure is the series' staleness to show, not the probe's.
	setFault(simcloud.Fault{ErrorProbability: 1})
	s.clk.Advance(time.Minute)
	_, _ = srv.Loop().Step(context.Background())
	if code, _ := get(t, url+"/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready after a later failure: %d, want 200", code)
	}
}
