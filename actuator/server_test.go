package actuator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/internal/webserver"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// runEnv is `flexus actuator` running in-process against simcloud.
type runEnv struct {
	t      *testing.T
	url    string
	file   string
	env    *simcloudtest.Env
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with its error in err
	err    error
	logs   *syncWriter
	client *http.Client
	http   webserver.Options
}

func writeRunConfig(t *testing.T, path, endpoint, actuatorExtra, gpuScaling string) {
	t.Helper()
	body := fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms}
actuator: {state_file: %s, %s}
`, endpoint, simcloudtest.ProjectID, filepath.Join(filepath.Dir(path), "state.json"), actuatorExtra) + fmt.Sprintf(simGroups, gpuScaling)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func startRun(t *testing.T, actuatorExtra string) *runEnv {
	t.Helper()
	return startRunWeb(t, actuatorExtra, "")
}

// startRunWeb starts Run with --web.config.file set to webConfig (TLS when
// not empty) and --web.enable-lifecycle.
func startRunWeb(t *testing.T, actuatorExtra, webConfig string) *runEnv {
	t.Helper()
	limits := webserver.Defaults()
	limits.EnableLifecycle = true
	return startRunWith(t, actuatorExtra, webConfig, limits)
}

// startRunWith starts Run with the web limits given.
func startRunWith(t *testing.T, actuatorExtra, webConfig string, limits webserver.Options) *runEnv {
	t.Helper()
	env := simcloudtest.Start(t, simcloudtest.Config(), clock.Real{})
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if actuatorExtra == "" {
		actuatorExtra = "bearer_token_file: " + tokenFile
	}
	r := &runEnv{t: t, file: filepath.Join(dir, "flexus.yml"), env: env, done: make(chan struct{}), logs: &syncWriter{w: &bytes.Buffer{}}, http: limits}
	writeRunConfig(t, r.file, env.URL, actuatorExtra, "")
	addr := testenv.FreePort(t)
	r.url, r.client = "http://"+addr, &http.Client{Timeout: 10 * time.Second}
	if webConfig != "" {
		r.url = "https://" + addr
		r.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's self-signed certificate
	}
	no := false
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &no, WebConfigFile: &webConfig}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	getenv := func(k string) string {
		return map[string]string{"HUAWEICLOUD_SDK_AK": simcloudtest.AccessKey, "HUAWEICLOUD_SDK_SK": simcloudtest.SecretKey}[k]
	}
	logger := slog.New(slog.NewTextHandler(r.logs, nil))
	go func() {
		r.err = Run(ctx, RunOptions{ConfigFile: r.file, WebFlags: flags, Getenv: getenv, Logger: logger, Clock: clock.Real{}, HTTP: r.http})
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := r.client.Get(r.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-r.done:
			t.Fatalf("actuator stopped: %v", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("actuator not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// syncWriter lets the test read logs the server writes concurrently.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (r *runEnv) get(path string) (int, string) {
	r.t.Helper()
	resp, err := r.client.Get(r.url + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (r *runEnv) postAlerts(body []byte) int {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.url+PathAlerts, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunServes(t *testing.T) {
	r := startRun(t, "")
	for path, want := range map[string]string{"/": "Flexus actuator", "/-/healthy": "Healthy", "/-/ready": "Ready", "/metrics": "flexus_actuator_paused"} {
		if code, body := r.get(path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 with %q", path, code, want)
		}
	}
	if code := r.postAlerts(notification("gk", alert("gpu-pool", ScaleOut, "3", "a"))); code != 200 {
		t.Fatalf("webhook: %d", code)
	}
	if g, _ := r.env.World.Group("gpu-pool"); g.Desired != 3 {
		t.Fatalf("desired %d, want 3", g.Desired)
	}
	if _, body := r.get("/metrics"); !strings.Contains(body, `flexus_cloud_requests_total{api="UpdateScalingGroup",code="200",service="as"} 1`) || !strings.Contains(body, "flexus_build_info") {
		t.Error("/metrics lacks the cloud request counter or build info")
	}
}

func (r *runEnv) reload() (int, string) {
	r.t.Helper()
	resp, err := r.client.Post(r.url+"/-/reload", "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunReloads(t *testing.T) {
	r := startRun(t, "")
	writeRunConfig(t, r.file, r.env.URL, "insecure_no_auth: true", "paused: true")
	if code, body := r.reload(); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if _, body := r.get("/metrics"); !strings.Contains(body, `flexus_actuator_paused{group="gpu-pool"} 1`) || !strings.Contains(body, "flexus_config_last_reload_successful 1") {
		t.Fatal("the reloaded config is not in force")
	}
	refused := []struct {
		name, file, wantLog string
	}{
		{"a file that does not parse", "groups: [\n", "yaml"},
		{"a changed cloud section", strings.Replace(readFile(t, r.file), "max_retries: 1", "max_retries: 2", 1), "the cloud section changed: restart"},
		{"a changed state file", strings.Replace(readFile(t, r.file), "state.json", "other.json", 1), "actuator.state_file changed"},
	}
	for _, tc := range refused {
		good := readFile(t, r.file)
		if err := os.WriteFile(r.file, []byte(tc.file), 0o600); err != nil {
			t.Fatal(err)
		}
		code, body := r.reload()
		if code != 500 || strings.Contains(body, tc.wantLog) {
			t.Errorf("%s: %d %q, want 500 without the reason", tc.name, code, body)
		}
		if !strings.Contains(r.logs.String(), tc.wantLog) {
			t.Errorf("%s: the reason %q is not logged", tc.name, tc.wantLog)
		}
		if _, body := r.get("/metrics"); !strings.Contains(body, "flexus_config_last_reload_successful 0") || !strings.Contains(body, `flexus_actuator_paused{group="gpu-pool"} 1`) {
			t.Errorf("%s: a failed reload must be published and keep the previous config", tc.name)
		}
		if err := os.WriteFile(r.file, []byte(good), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunReloadNeedsTheLifecycleFlag(t *testing.T) {
	r := startRunWith(t, "", "", webserver.Defaults())
	if code, body := r.reload(); code != 403 || body != "Forbidden\n" {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d %q, want a bare 403", code, body)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunFinishesTheDecisionInFlight(t *testing.T) {
	r := startRun(t, "")
	if err := r.env.Server.SetFault("UpdateScalingGroup", simcloud.Fault{Latency: model.Duration(500 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	code := make(chan int, 1)
	go func() { code <- r.postAlerts(notification("gk", alert("gpu-pool", ScaleOut, "4", "a"))) }()
	time.Sleep(200 * time.Millisecond)
	r.cancel()
	if c := <-code; c != 200 {
		t.Fatalf("the decision in flight answered %d, want 200", c)
	}
	<-r.done
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if g, _ := r.env.World.Group("gpu-pool"); g.Desired != 4 {
		t.Fatalf("desired %d, want 4", g.Desired)
	}
}

func TestRunRefusesAnOpenWebhookByAccident(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flexus.yml")
	writeRunConfig(t, file, "http://127.0.0.1:1", "dry_run: false", "")
	err := Run(context.Background(), RunOptions{ConfigFile: file, Getenv: func(string) string { return "" }, Logger: promslog.NewNopLogger(), Clock: clock.Real{}})
	if err == nil || !strings.Contains(err.Error(), "insecure_no_auth") {
		t.Fatalf("error %v, want it to name bearer_token_file and insecure_no_auth", err)
	}
}

func TestRunWarnsWithoutAuth(t *testing.T) {
	r := startRun(t, "insecure_no_auth: true")
	if !strings.Contains(r.logs.String(), "WITHOUT authentication") {
		t.Errorf("no warning at start: %s", r.logs.String())
	}
}

func TestRunRefusesACorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flexus.yml")
	writeRunConfig(t, file, "http://127.0.0.1:1", "insecure_no_auth: true", "")
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{"HUAWEICLOUD_SDK_AK": "a", "HUAWEICLOUD_SDK_SK": "s"}[k]
	}
	err := Run(context.Background(), RunOptions{ConfigFile: file, Getenv: getenv, Logger: promslog.NewNopLogger(), Clock: clock.Real{}})
	if err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Fatalf("error %v", err)
	}
}

func TestRunRefusesAStateFileWithANullGroup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flexus.yml")
	writeRunConfig(t, file, "http://127.0.0.1:1", "insecure_no_auth: true", "")
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"version":1,"groups":{"web":null}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{"HUAWEICLOUD_SDK_AK": "a", "HUAWEICLOUD_SDK_SK": "s"}[k]
	}
	err := Run(context.Background(), RunOptions{ConfigFile: file, Getenv: getenv, Logger: promslog.NewNopLogger(), Clock: clock.Real{}})
	if err == nil || !strings.Contains(err.Error(), `groups["web"] is null: remove the entry`) {
		t.Fatalf("error %v, want the null group refused at start with the fix", err)
	}
}

func TestRunCutsOffAWebhookBodySentOneByteAtATime(t *testing.T) {
	limits := webserver.Defaults()
	limits.ReadTimeout = 300 * time.Millisecond
	r := startRunWith(t, "", "", limits)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const bodyLen = 2000
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", PathAlerts, testToken, bodyLen)
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, conn); close(closed) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := 0
send:
	for ; sent < bodyLen; sent++ {
		select {
		case <-closed:
			break send
		case <-tick.C:
		}
		if _, err := conn.Write([]byte{' '}); err != nil {
			break
		}
	}
	select {
	case <-closed:
	default:
		t.Fatalf("the webhook kept a connection open while its body trickled in (%d of %d bytes sent)", sent, bodyLen)
	}
	if sent >= bodyLen {
		t.Fatal("the whole trickled body was read: the read timeout did not apply")
	}
}

func TestRunServesTLSFromTheWebConfigFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: "+certFile+"\n  key_file: "+keyFile+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRunWeb(t, "", webConfig)
	if code := r.postAlerts(notification("gk", alert("gpu-pool", ScaleOut, "3", "a"))); code != 200 {
		t.Fatalf("webhook over TLS with the bearer token: %d", code)
	}
	plain := "http" + strings.TrimPrefix(r.url, "https")
	resp, err := http.Get(plain + "/-/healthy")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP is served although TLS is configured")
		}
	}
}

// writeSelfSigned writes a certificate for 127.0.0.1 and its key.
func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flexus-actuator-test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4102444800, 0),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}
