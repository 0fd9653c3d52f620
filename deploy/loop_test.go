package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// exporterPage is what a Flexus exporter publishes for a group whose active
// policy wants 5 instances while 2 are desired, with CPU above its threshold.
const exporterPage = `# TYPE flexus_group_desired_instances gauge
flexus_group_desired_instances{group="web"} 2
# TYPE flexus_group_min_instances gauge
flexus_group_min_instances{group="web"} 1
# TYPE flexus_group_max_instances gauge
flexus_group_max_instances{group="web"} 10
# TYPE flexus_recommended_instances gauge
flexus_recommended_instances{group="web",policy="seed"} 5
flexus_recommended_instances{group="web",policy="target"} 3
# TYPE flexus_scaling_policy_info gauge
flexus_scaling_policy_info{group="web",policy="seed"} 1
# TYPE flexus_signal_ratio gauge
flexus_signal_ratio{group="web",signal="cpu"} 0.85
# TYPE flexus_signal_age_seconds gauge
flexus_signal_age_seconds{group="web",signal="cpu"} 60
# TYPE flexus_threshold_ratio gauge
flexus_threshold_ratio{group="web",signal="cpu",direction="out"} 0.7
flexus_threshold_ratio{group="web",signal="cpu",direction="in"} 0.3
`

// notification is the part of Alertmanager's webhook payload checked here.
type notification struct {
	Status      string            `json:"status"`
	Receiver    string            `json:"receiver"`
	GroupLabels map[string]string `json:"groupLabels"`
	Alerts      []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// TestScaleOutReachesTheActuatorThroughTheExampleConfigs runs the real
// prometheus and prometheus-alertmanager with deploy/prometheus/prometheus.yml
// and deploy/alertmanager/alertmanager.yml (ports, intervals and the token
// path swapped for the test's, the fast demo rules), a stand-in exporter and a
// stand-in actuator webhook, and waits for the scale-out notification.
func TestScaleOutReachesTheActuatorThroughTheExampleConfigs(t *testing.T) {
	prometheus := testenv.Binary(t, "prometheus", "prometheus")
	alertmanager := testenv.Binary(t, "prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()
	const token = "loop-test-token"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, exporterPage)
	}))
	t.Cleanup(exporter.Close)

	var (
		mu    sync.Mutex
		got   []notification
		auths []string
	)
	actuator := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			io.WriteString(w, "# TYPE flexus_config_last_reload_successful gauge\nflexus_config_last_reload_successful 1\n")
			return
		}
		var n notification
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		auths = append(auths, r.Header.Get("Authorization"))
		if r.URL.Path != "/api/v1/alerts" || json.Unmarshal(body, &n) != nil {
			http.Error(w, "not a notification", http.StatusBadRequest)
			return
		}
		got = append(got, n)
	}))
	t.Cleanup(actuator.Close)

	amAddr, promAddr := testenv.FreePort(t), testenv.FreePort(t)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }

	amCfg := rewrite(t, "alertmanager/alertmanager.yml", filepath.Join(dir, "alertmanager.yml"), map[string]string{
		"http://127.0.0.1:9848/api/v1/alerts":    actuator.URL + "/api/v1/alerts",
		"/etc/alertmanager/flexus-webhook.token": tokenFile,
	})
	demoRules, err := filepath.Abs("demo/rules")
	if err != nil {
		t.Fatal(err)
	}
	promCfg := rewrite(t, "prometheus/prometheus.yml", filepath.Join(dir, "prometheus.yml"), map[string]string{
		"scrape_interval: 30s":          "scrape_interval: 1s",
		"scrape_timeout: 20s":           "scrape_timeout: 1s",
		"evaluation_interval: 30s":      "evaluation_interval: 1s",
		"../../rules/flexus.rules.yml":  filepath.Join(demoRules, "flexus.rules.yml"),
		"../../rules/flexus.alerts.yml": filepath.Join(demoRules, "flexus.alerts.yml"),
		"targets: ['127.0.0.1:9847']":   fmt.Sprintf("targets: ['%s']", host(exporter.URL)),
		"targets: ['127.0.0.1:9848']":   fmt.Sprintf("targets: ['%s']", host(actuator.URL)),
		"targets: ['127.0.0.1:9093']":   fmt.Sprintf("targets: ['%s']", amAddr),
		"targets: ['127.0.0.1:9090']":   fmt.Sprintf("targets: ['%s']", promAddr),
	})

	start(t, dir, "alertmanager", alertmanager, amAddr, "--config.file="+amCfg, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	start(t, dir, "prometheus", prometheus, promAddr, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)

	// Scale-out has no hold; then Alertmanager's 10s group_wait.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 {
		t.Fatalf("no notification reached the actuator within 60s%s%s",
			testenv.Tail(filepath.Join(dir, "prometheus.log"), 15), testenv.Tail(filepath.Join(dir, "alertmanager.log"), 15))
	}
	for _, a := range auths {
		if a != "Bearer "+token {
			t.Errorf("webhook Authorization %q, want the token from credentials_file", a)
		}
	}
	n := got[0]
	if n.Receiver != "flexus-actuator" || n.GroupLabels["group"] != "web" || n.GroupLabels["action"] != "scale_out" || len(n.GroupLabels) != 2 {
		t.Errorf("notification to %q grouped by %v, want flexus-actuator grouped by group=web, action=scale_out", n.Receiver, n.GroupLabels)
	}
	for _, a := range n.Alerts {
		if a.Labels["alertname"] != "FlexusScaleOut" || a.Annotations["flexus_target"] != "5" {
			t.Errorf("actuator received %v with flexus_target %q, want FlexusScaleOut targeting 5 (the seed policy's recommendation)",
				a.Labels["alertname"], a.Annotations["flexus_target"])
		}
	}
}

// rewrite copies an example config with the replacements applied, failing if
// one does not apply (the example changed and the test must follow).
func rewrite(t *testing.T, src, dst string, replace map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for from, to := range replace {
		if !strings.Contains(s, from) {
			t.Fatalf("%s no longer contains %q: update the test", src, from)
		}
		s = strings.ReplaceAll(s, from, to)
	}
	if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// start runs a program for the life of the test and waits for its port.
func start(t *testing.T, dir, name, bin, addr string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
	})
	testenv.WaitTCP(t, addr, 20*time.Second, logPath)
}
