package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/simcloud"
)

func TestPrometheusConfigAndItsRulesLoad(t *testing.T) {
	promtool := testenv.Binary(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, "check", "config", "prometheus/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config prometheus/prometheus.yml: %v\n%s", err, out)
	}
	// The rule files are checked through the config: both must be found.
	for _, f := range []string{"flexus.rules.yml", "flexus.alerts.yml"} {
		if !bytes.Contains(out, []byte(f)) {
			t.Errorf("promtool did not check %s through prometheus.yml:\n%s", f, out)
		}
	}
}

func TestAlertmanagerConfigIsValid(t *testing.T) {
	amtool := testenv.Binary(t, "amtool", "prometheus-alertmanager")
	out, err := exec.Command(amtool, "check-config", "alertmanager/alertmanager.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

func TestAlertmanagerRoutesScalingAlertsToTheActuator(t *testing.T) {
	amtool := testenv.Binary(t, "amtool", "prometheus-alertmanager")
	for _, tc := range []struct {
		name   string
		labels []string
		want   string
	}{
		{"scale-out reaches the actuator", []string{"alertname=FlexusScaleOut", "group=web", "action=scale_out", "severity=info"}, "flexus-actuator"},
		{"scale-in reaches the actuator", []string{"alertname=FlexusScaleIn", "group=web", "action=scale_in", "severity=info"}, "flexus-actuator"},
		{"threshold alerts page nobody", []string{"alertname=FlexusCPUHigh", "group=web", "signal=cpu", "direction=out", "severity=info"}, "null"},
		{"operational alerts go to people", []string{"alertname=FlexusExporterDown", "job=flexus-exporter", "severity=critical"}, "ops"},
		{"an unknown action goes to people, not the actuator", []string{"alertname=Other", "group=web", "action=reboot", "severity=warning"}, "ops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=alertmanager/alertmanager.yml"}, tc.labels...)
			out, err := exec.Command(amtool, args...).Output()
			if err != nil {
				t.Fatalf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("routed to %q, want %q", got, tc.want)
			}
		})
	}
}

// alertmanagerConfig is the part of alertmanager.yml the actuator depends on.
type alertmanagerConfig struct {
	Route struct {
		Routes []struct {
			Receiver       string   `yaml:"receiver"`
			Matchers       []string `yaml:"matchers"`
			GroupBy        []string `yaml:"group_by"`
			GroupWait      string   `yaml:"group_wait"`
			GroupInterval  string   `yaml:"group_interval"`
			RepeatInterval string   `yaml:"repeat_interval"`
		} `yaml:"routes"`
	} `yaml:"route"`
	Receivers []struct {
		Name           string `yaml:"name"`
		WebhookConfigs []struct {
			URL          string `yaml:"url"`
			SendResolved bool   `yaml:"send_resolved"`
			HTTPConfig   struct {
				Authorization struct {
					Type            string `yaml:"type"`
					CredentialsFile string `yaml:"credentials_file"`
				} `yaml:"authorization"`
			} `yaml:"http_config"`
		} `yaml:"webhook_configs"`
	} `yaml:"receivers"`
}

func TestActuatorReceiverGroupsByGroupAndActionWithBearerAuth(t *testing.T) {
	var c alertmanagerConfig
	readYAML(t, "alertmanager/alertmanager.yml", &c)
	found := false
	for _, r := range c.Route.Routes {
		if r.Receiver != "flexus-actuator" {
			continue
		}
		found = true
		if strings.Join(r.GroupBy, ",") != "group,action" {
			t.Errorf("actuator route groups by %v, want [group action]: the actuator takes one decision per notification", r.GroupBy)
		}
		if r.GroupWait == "" || r.GroupInterval == "" || r.RepeatInterval == "" {
			t.Error("actuator route must set group_wait, group_interval and repeat_interval itself")
		}
	}
	if !found {
		t.Fatal("no route to the flexus-actuator receiver")
	}
	for _, r := range c.Receivers {
		if r.Name != "flexus-actuator" {
			continue
		}
		if len(r.WebhookConfigs) != 1 {
			t.Fatalf("flexus-actuator has %d webhooks, want 1", len(r.WebhookConfigs))
		}
		w := r.WebhookConfigs[0]
		if w.URL != "http://127.0.0.1:9848/api/v1/alerts" {
			t.Errorf("webhook url %q, want the actuator's default http://127.0.0.1:9848/api/v1/alerts", w.URL)
		}
		if a := w.HTTPConfig.Authorization; a.Type != "Bearer" || a.CredentialsFile == "" {
			t.Errorf("webhook authorization %+v, want a Bearer token from credentials_file", a)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func demoCredentials(name string) string {
	return map[string]string{
		simcloud.EnvAccessKey: "DEMOACCESSKEY0000000",
		simcloud.EnvSecretKey: "demo-secret-key",
		simcloud.EnvProjectID: "0123456789abcdef0123456789abcdef",
	}[name]
}

func TestFlexusConfigsLoad(t *testing.T) {
	for _, path := range []string{"compose/flexus.yml", "kubernetes/flexus.yml"} {
		t.Run(path, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := config.Parse(b)
			if err != nil {
				t.Fatalf("%s does not load: %v", path, err)
			}
			if len(c.Groups) == 0 {
				t.Errorf("%s configures no group", path)
			}
		})
	}
}

func TestComposeSimcloudConfigLoads(t *testing.T) {
	b, err := os.ReadFile("compose/simcloud.yml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := simcloud.Parse(b, "compose", demoCredentials); err != nil {
		t.Fatalf("compose/simcloud.yml does not load: %v", err)
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Command     []string `yaml:"command"`
		NetworkMode string   `yaml:"network_mode"`
		Volumes     []string `yaml:"volumes"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeRunsTheWholeLoop(t *testing.T) {
	var c composeFile
	readYAML(t, "compose/compose.yml", &c)
	for _, s := range []string{"prometheus", "alertmanager", "grafana", "exporter", "actuator", "simcloud"} {
		if _, ok := c.Services[s]; !ok {
			t.Errorf("compose.yml has no %s service", s)
		}
	}
	for name, s := range c.Services {
		// The 127.0.0.1 targets of the shared configs need one network namespace.
		if name != "prometheus" && name != "grafana" && s.NetworkMode != "service:prometheus" {
			t.Errorf("service %s is not in prometheus's network namespace", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s mounts undeclared volume %q", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, src, err)
			}
		}
	}
	for _, s := range []string{"exporter", "actuator", "simcloud"} {
		if cmd := c.Services[s].Command; len(cmd) == 0 || cmd[0] != s {
			t.Errorf("service %s runs %v, want `flexus %s ...`", s, cmd, s)
		}
	}
}

func TestGrafanaProvisioningFindsTheDashboards(t *testing.T) {
	var ds struct {
		Datasources []struct{ Type, URL string } `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/flexus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Errorf("want one Prometheus data source, have %+v", ds.Datasources)
	}
	var dp struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/flexus.yml", &dp)
	var c composeFile
	readYAML(t, "compose/compose.yml", &c)
	for _, p := range dp.Providers {
		mounted := false
		for _, v := range c.Services["grafana"].Volumes {
			if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == p.Options.Path && parts[0] == "../../dashboards" {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("dashboard provider reads %s, but compose does not mount dashboards/ there", p.Options.Path)
		}
	}
}

func TestKubernetesExample(t *testing.T) {
	var k struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &k)
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			_, src, _ := strings.Cut(f, "=")
			if _, err := os.Stat(filepath.Join("kubernetes", src)); err != nil {
				t.Errorf("config map %s takes %s, which does not exist: %v", g.Name, src, err)
			}
		}
	}
	kinds := map[string]int{}
	containers := map[string]bool{}
	for _, r := range k.Resources {
		f, err := os.Open(filepath.Join("kubernetes", r))
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for {
			var doc struct {
				Kind string `yaml:"kind"`
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Name string   `yaml:"name"`
								Args []string `yaml:"args"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			kinds[doc.Kind]++
			for _, c := range doc.Spec.Template.Spec.Containers {
				containers[c.Name] = true
			}
		}
		f.Close()
	}
	if kinds["Deployment"] != 1 || kinds["Service"] == 0 {
		t.Errorf("want one Deployment and a Service, have %v", kinds)
	}
	for _, c := range []string{"prometheus", "alertmanager", "flexus-exporter", "flexus-actuator"} {
		if !containers[c] {
			t.Errorf("the pod has no %s container (flexus runs as Prometheus's sidecar)", c)
		}
	}
}
