package collector

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
)

var update = flag.Bool("update", false, "rewrite collector/fixtures/e2e-output.txt from the current output")

const goldenPath = "fixtures/e2e-output.txt"

// volatile are series whose values depend on the machine or the wall clock;
// the golden file keeps everything else, values included.
var volatile = regexp.MustCompile(`^(# (HELP|TYPE) )?(go_|process_|promhttp_|flexus_build_info|flexus_cloud_request_duration_seconds|flexus_collection_duration_seconds|flexus_collection_last_success_timestamp_seconds|flexus_config_last_reload_success_timestamp_seconds|flexus_cloudeye_budget_wait_seconds_total)`)

func filterVolatile(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || volatile.MatchString(line) {
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// startServer builds the exporter process in-process on simcloud's fake clock.
func startServer(t *testing.T, s *sim, configText string) (*Server, string, string) {
	t.Helper()
	path := writeConfig(t, t.TempDir(), configText)
	srv, err := NewServer(ServerOptions{ConfigFile: path, Clock: s.clk, Logger: promslog.NewNopLogger(), HTTP: webserver.Options{EnableLifecycle: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.coll.Close)
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return srv, hs.URL, path
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestEndToEndGolden runs the exporter against simcloud for three cycles and
// compares /metrics, volatile series filtered, with the golden file, which
// promtool must accept.
func TestEndToEndGolden(t *testing.T) {
	s := startSim(t)
	srv, url, _ := startServer(t, s, s.config(t))
	if code, _ := get(t, url+"/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready before the first collection: %d, want 503", code)
	}
	// A scale-out of three, listed pending at the first cycle and in
	// service at the second, so the golden file carries the measured boot.
	gpu, err := s.env.World.Group("gpu-pool")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.env.World.SetDesired("gpu-pool", gpu.Desired+3); err != nil {
		t.Fatal(err)
	}
	s.clk.Advance(20 * time.Second)
	s.step(t)
	for i := 0; i < 3; i++ {
		if _, err := srv.Loop().Step(context.Background()); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		s.clk.Advance(time.Minute)
		s.step(t)
	}
	if code, _ := get(t, url+"/-/ready"); code != http.StatusOK {
		t.Errorf("/-/ready after a collection: %d, want 200", code)
	}
	code, body := get(t, url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	got := filterVolatile(body)
	// Without gzip the same series come back: the two gzip members and the
	// plain concatenation are the same document.
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(filterVolatile(plain), got) {
		t.Errorf("plain /metrics differs from the gzipped one:\n%s", lineDiff(string(got), string(filterVolatile(plain))))
	}
	if *update {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v: run go test ./collector -run TestEndToEndGolden -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("/metrics differs from %s (rerun with -update if the change is intended):\n%s", goldenPath, lineDiff(string(want), string(got)))
	}

	promtool := testenv.Binary(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(want)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics %s: %v\n%s", goldenPath, err, out)
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
