//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/flexus-autoscaler/flexus/actuator"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/demo"
	demofiles "github.com/flexus-autoscaler/flexus/deploy/demo"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// haScenario is calm, a ×3 spike and calm again: long enough for
// scale-outs, a scale-in, and the failures in between.
const haScenario = 210 * time.Second

// haPrefix holds the replicas' state in etcd.
const haPrefix = "/flexus-e2e/"

// TestE2EHA runs the loop with its production HA shape: three actuators on
// one etcd, two Alertmanagers clustered with --cluster.peer and both fed by
// one Prometheus, so each notification reaches every actuator twice. In the
// spike one actuator is killed with SIGKILL and etcd is restarted. Then
// every write simcloud took must be one applied decision in the shared log,
// every key applied at most once, and no direction acted inside its cooldown.
func TestE2EHA(t *testing.T) {
	t.Parallel() // beside the closed-loop legs
	prom := testenv.Binary(t, "prometheus", "prometheus")
	amBin := testenv.Binary(t, "prometheus-alertmanager", "prometheus-alertmanager")
	etcd := testenv.StartEtcd(t)
	bin := flexusBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), haScenario+4*time.Minute)
	defer cancel()

	dir := t.TempDir()
	env := []string{"HUAWEICLOUD_SDK_AK=FLEXUSHA" + strings.ToUpper(randHex(5)), "HUAWEICLOUD_SDK_SK=" + randHex(20), "HUAWEICLOUD_SDK_PROJECT_ID=" + randHex(16)}
	sup := demo.NewSupervisor(dir, env, 5*time.Second, slog.New(slog.DiscardHandler))
	t.Cleanup(sup.StopAll)
	start := func(spec demo.Spec) *demo.Process {
		t.Helper()
		p, err := sup.Start(ctx, spec, 30*time.Second)
		if err != nil {
			t.Fatalf("starting %s: %v", spec.Name, err)
		}
		return p
	}
	data := haData{Dir: dir, RulesDir: filepath.Join(dir, "rules"), TokenFile: filepath.Join(dir, "token"), CloudRetries: 4}
	token := randHex(16)
	must(t, os.WriteFile(data.TokenFile, []byte(token+"\n"), 0o600))
	must(t, copyDemoRules(data.RulesDir))

	simCfg := filepath.Join(dir, "simcloud.yml")
	must(t, renderDemo("simcloud.yml.tmpl", data, simCfg))
	simStarted := time.Now()
	sim := start(demo.Spec{Name: "simcloud", Bin: bin, Ready: "/-/sim/state", Args: []string{"simcloud", "--config.file=" + simCfg, "--web.listen-address={{addr}}"}})
	data.Simcloud = sim.Addr

	// The demo's config, with etcd instead of the state file.
	flexusCfg := filepath.Join(dir, "flexus.yml")
	must(t, renderDemo("flexus.yml.tmpl", data, flexusCfg))
	b, err := os.ReadFile(flexusCfg)
	must(t, err)
	withEtcd := regexp.MustCompile(`(?m)^  state_file: .*$`).ReplaceAllString(string(b),
		fmt.Sprintf("  etcd: {endpoints: [%s], prefix: %s, lease_ttl: 5s}\n  job_timeout: 2m", etcd.Endpoint, haPrefix))
	must(t, os.WriteFile(flexusCfg, []byte(withEtcd), 0o600))
	cfg, err := config.Load(flexusCfg)
	must(t, err)
	exp := start(demo.Spec{Name: "exporter", Bin: bin, Ready: "/metrics", Args: []string{"exporter", "--config.file=" + flexusCfg, "--web.listen-address={{addr}}"}})

	// Three actuators, started here so that one can be killed with SIGKILL.
	var acts []*exec.Cmd
	var actAddrs []string
	for i := 0; i < 3; i++ {
		addr := testenv.FreePort(t)
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("actuator-%d.log", i)))
		must(t, err)
		cmd := exec.Command(bin, "actuator", "--config.file="+flexusCfg, "--web.listen-address="+addr)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		must(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); log.Close() })
		testenv.WaitTCP(t, addr, 30*time.Second, log.Name())
		acts, actAddrs = append(acts, cmd), append(actAddrs, addr)
	}

	// Prometheus starts once simcloud's world is at rest (as the demo waits).
	if d := time.Until(simStarted.Add(30 * time.Second)); d > 0 {
		time.Sleep(d)
	}
	peers := []string{testenv.FreePort(t), testenv.FreePort(t)}
	amCfg := filepath.Join(dir, "alertmanager.yml")
	must(t, os.WriteFile(amCfg, []byte(haAlertmanagerConfig(actAddrs, data.TokenFile)), 0o600))
	var ams []string
	for i := range peers {
		am := start(demo.Spec{Name: fmt.Sprintf("alertmanager-%d", i), Bin: amBin, Ready: "/-/ready",
			Args: []string{"--config.file=" + amCfg, "--storage.path=" + filepath.Join(dir, fmt.Sprintf("am-%d", i)),
				"--web.listen-address={{addr}}", "--log.level=warn",
				"--cluster.listen-address=" + peers[i], "--cluster.advertise-address=" + peers[i], "--cluster.peer=" + peers[1-i],
				"--cluster.peer-timeout=2s", "--cluster.settle-timeout=5s", "--cluster.pushpull-interval=5s"}})
		ams = append(ams, am.Addr)
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	start(demo.Spec{Name: "prometheus", Bin: prom, Ready: "/-/ready",
		Prepare: func(addr string) error {
			return os.WriteFile(promCfg, []byte(haPrometheusConfig(data.RulesDir, ams, exp.Addr, sim.Addr)), 0o600)
		},
		Args: []string{"--config.file=" + promCfg, "--storage.tsdb.path=" + filepath.Join(dir, "prometheus"),
			"--web.listen-address={{addr}}", "--storage.tsdb.retention.time=1d", "--log.level=warn", "--rules.alert.resend-delay=5s"}})

	// The scenario, with the failures in the spike.
	client := &http.Client{Timeout: 5 * time.Second}
	simc := demo.Simcloud{Base: "http://" + sim.Addr, Client: client}
	scen := demo.SpikeScenario(haScenario, 3)
	for i, p := range scen.Phases {
		for _, g := range cfg.Groups {
			if err := simc.SetDemandMultiplier(ctx, g.Name, p.Multiplier); err != nil {
				t.Fatalf("phase %q: %v", p.Name, err)
			}
		}
		t.Logf("phase %d: %s (×%.1f) for %s", i, p.Name, p.Multiplier, p.Length)
		if p.Name != demo.PhaseSpike {
			time.Sleep(p.Length)
			continue
		}
		time.Sleep(p.Length / 3)
		t.Logf("kill -9 actuator 0 (pid %d)", acts[0].Process.Pid)
		must(t, acts[0].Process.Signal(syscall.SIGKILL))
		time.Sleep(p.Length / 6)
		t.Log("restarting etcd")
		etcd.Stop()
		time.Sleep(3 * time.Second)
		etcd.Start()
		time.Sleep(p.Length/2 - 3*time.Second)
	}
	time.Sleep(20 * time.Second) // the last deliveries and jobs settle

	// What the replicas recorded, from etcd.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	must(t, err)
	defer cli.Close()
	resp, err := cli.Get(ctx, haPrefix+"decisions/", clientv3.WithPrefix())
	must(t, err)
	var applied []actuator.Record
	byKey := map[string]int{}
	for _, kv := range resp.Kvs {
		var r actuator.Record
		must(t, json.Unmarshal(kv.Value, &r))
		if r.Outcome == actuator.OutcomeApplied {
			applied = append(applied, r)
			byKey[r.Key]++
		}
	}
	t.Logf("%d decisions in the shared log, %d applied", len(resp.Kvs), len(applied))
	if len(applied) == 0 {
		t.Fatal("no decision was applied: the loop did not scale")
	}
	for k, n := range byKey {
		if n > 1 {
			t.Errorf("key %s was recorded applied %d times", k, n)
		}
	}
	// Each write simcloud accepted is one applied decision, and the reverse.
	writes := simWrites(t, client, "http://"+sim.Addr+"/metrics")
	if writes != len(applied) {
		t.Errorf("simcloud accepted %d writes, the replicas recorded %d applied decisions: want one write per alert episode", writes, len(applied))
	}
	// No direction acted inside its cooldown.
	sort.Slice(applied, func(i, j int) bool { return applied[i].Time.Before(applied[j].Time) })
	last := map[string]actuator.Record{}
	for _, r := range applied {
		g, ok := cfg.Group(r.Group)
		if !ok {
			t.Fatalf("applied decision for unknown group %q", r.Group)
		}
		cd := g.Scaling.CooldownOut
		if r.Action == actuator.ScaleIn {
			cd = g.Scaling.CooldownIn
		}
		k := r.Group + "/" + string(r.Action)
		if prev, ok := last[k]; ok && r.Time.Sub(prev.Time)+prev.Duration < cd {
			t.Errorf("%s acted at %s and again at %s, inside its cooldown %s", k, prev.Time.Format(time.TimeOnly), r.Time.Format(time.TimeOnly), cd)
		}
		last[k] = r
	}
	states, err := simc.State(ctx)
	must(t, err)
	for _, st := range states {
		if g, ok := cfg.Group(st.Name); ok && (st.Desired < g.MinInstances || st.Desired > g.MaxInstances) {
			t.Errorf("group %s desired %d outside %d..%d", st.Name, st.Desired, g.MinInstances, g.MaxInstances)
		}
	}
}

// haData is what the demo's templates read.
type haData struct {
	Dir, RulesDir, TokenFile                               string
	Simcloud, Exporter, Actuator, Alertmanager, Prometheus string
	Faults                                                 demo.Faults
	CloudRetries                                           int
}

func renderDemo(name string, data haData, dst string) error {
	b, err := fs.ReadFile(demofiles.FS(), name)
	if err != nil {
		return err
	}
	tmpl, err := template.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := tmpl.Execute(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyDemoRules(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := fs.Glob(demofiles.FS(), "rules/*.yml")
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := fs.ReadFile(demofiles.FS(), f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// haAlertmanagerConfig routes scaling alerts to every actuator, as the demo's does to one.
func haAlertmanagerConfig(actuators []string, tokenFile string) string {
	var hooks strings.Builder
	for _, a := range actuators {
		fmt.Fprintf(&hooks, `      - url: http://%s/api/v1/alerts
        send_resolved: true
        http_config:
          authorization: {type: Bearer, credentials_file: %s}
`, a, tokenFile)
	}
	return `route:
  receiver: people
  group_by: [group, action]
  group_wait: 2s
  group_interval: 15s
  repeat_interval: 15s
  routes:
    - receiver: flexus-actuators
      matchers: ['action=~"scale_out|scale_in"']
      group_by: [group, action]
      group_wait: 2s
      group_interval: 15s
      repeat_interval: 15s
receivers:
  - name: people
  - name: flexus-actuators
    webhook_configs:
` + hooks.String()
}

func haPrometheusConfig(rulesDir string, ams []string, exporter, sim string) string {
	return fmt.Sprintf(`global: {scrape_interval: 5s, scrape_timeout: 4s, evaluation_interval: 5s}
rule_files: ['%s/*.yml']
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['%s']
scrape_configs:
  - job_name: flexus-exporter
    static_configs: [{targets: ['%s']}]
  - job_name: simcloud
    static_configs: [{targets: ['%s']}]
`, rulesDir, strings.Join(ams, "', '"), exporter, sim)
}

// simWrites sums simcloud's answered 2xx write requests.
func simWrites(t *testing.T, c *http.Client, url string) int {
	resp, err := c.Get(url)
	must(t, err)
	defer resp.Body.Close()
	line := regexp.MustCompile(`^flexus_simcloud_requests_total\{(.*)\} (\S+)$`)
	n := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil || !regexp.MustCompile(`code="2\d\d"`).MatchString(m[1]) ||
			!regexp.MustCompile(`api="(UpdateScalingGroup|CreateServers|DeleteServers)"`).MatchString(m[1]) {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		must(t, err)
		n += v
	}
	return int(n)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
