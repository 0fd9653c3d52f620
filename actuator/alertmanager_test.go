package actuator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// TestRealAlertmanagerDrivesTheActuator puts the Debian prometheus-alertmanager
// between an alert and the actuator: its webhook payload, its grouping by
// [group, action] and its bearer credentials_file must reach a scaling
// decision in simcloud.
func TestRealAlertmanagerDrivesTheActuator(t *testing.T) {
	bin := testenv.Binary(t, "prometheus-alertmanager", "prometheus-alertmanager")
	r := startRun(t, "")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
route:
  receiver: flexus-actuator
  group_by: [group, action]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: flexus-actuator
    webhook_configs:
      - url: %s/api/v1/alerts
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials_file: %s
`, r.url, tokenFile)
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreePort(t)
	logPath := filepath.Join(dir, "alertmanager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); logFile.Close() })
	testenv.WaitTCP(t, addr, 15*time.Second, logPath)

	alerts := []map[string]any{{
		"labels":      map[string]string{"alertname": "FlexusScaleOut", "group": "gpu-pool", "action": "scale_out"},
		"annotations": map[string]string{"flexus_target": "4"},
		"startsAt":    time.Now().UTC().Format(time.RFC3339),
	}}
	body, _ := json.Marshal(alerts)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Post("http://"+addr+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager did not take the alert: %v\n%s", err, testenv.Tail(logPath, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if g, _ := r.env.World.Group("gpu-pool"); g.Desired == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the actuator did not scale gpu-pool to 4\nalertmanager:\n%s\nactuator:\n%s", testenv.Tail(logPath, 20), r.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The cloud's count changes before the actuator records the decision, so
	// wait for the record rather than read it once.
	want := []byte(`flexus_actuator_decisions_total{action="scale_out",group="gpu-pool",outcome="applied"} 1`)
	for {
		_, metrics := r.get("/metrics")
		if bytes.Contains([]byte(metrics), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the decision is not counted as applied:\n%s", metrics)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
