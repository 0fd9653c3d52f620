package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// k8sObject is the part of a Kubernetes object these tests read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap any    `yaml:"configMap"`
		Secret    any    `yaml:"secret"`
		Projected any    `yaml:"projected"`
	} `yaml:"volumes"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Name  string   `yaml:"name"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
}

// decodeAll parses every document of a multi-document YAML stream.
func decodeAll(t *testing.T, name string, b []byte) []k8sObject {
	t.Helper()
	var objs []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s does not parse as YAML: %v\n%s", name, err, b)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
}

// checkFlexusPod states how the flexus programs run in a pod: each serves
// its liveness and readiness probes on its own port (/-/healthy and /-/ready,
// which both the exporter and the actuator serve), runs with
// --web.enable-lifecycle so /-/reload is accepted, reads its config from a
// directory mount (a subPath mount never sees ConfigMap updates), and a
// reloader POSTs /-/reload to each of them.
func checkFlexusPod(t *testing.T, spec podSpec) {
	t.Helper()
	configVolumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil || v.Secret != nil || v.Projected != nil {
			configVolumes[v.Name] = true
		}
	}
	var reloader string
	for _, c := range spec.Containers {
		if c.Name == "reloader" {
			reloader = strings.Join(c.Args, "\n")
		}
	}
	if reloader == "" {
		t.Fatal("no reloader container: a changed ConfigMap would not take effect until a restart")
	}
	seen := map[string]bool{}
	for _, c := range spec.Containers {
		for _, m := range c.VolumeMounts {
			if configVolumes[m.Name] && m.SubPath != "" {
				t.Errorf("container %s mounts config volume %s with subPath %s: the kubelet never updates subPath mounts, mount the directory", c.Name, m.Name, m.SubPath)
			}
		}
		if c.Name != "flexus-exporter" && c.Name != "flexus-actuator" {
			continue
		}
		seen[c.Name] = true
		args := strings.Join(c.Args, " ")
		if !strings.Contains(args, "--web.enable-lifecycle") {
			t.Errorf("%s runs without --web.enable-lifecycle: /-/reload would be refused", c.Name)
		}
		if len(c.Ports) != 1 {
			t.Fatalf("%s declares %d ports, want its one listening port", c.Name, len(c.Ports))
		}
		port := c.Ports[0]
		if !strings.Contains(args, fmt.Sprintf("--web.listen-address=:%d", port.ContainerPort)) {
			t.Errorf("%s args %q do not listen on all addresses of port %d: the kubelet probes the pod IP", c.Name, args, port.ContainerPort)
		}
		for _, p := range []struct {
			what  string
			probe *probe
			path  string
		}{{"liveness", c.LivenessProbe, "/-/healthy"}, {"readiness", c.ReadinessProbe, "/-/ready"}} {
			if p.probe == nil {
				t.Errorf("%s has no %s probe", c.Name, p.what)
				continue
			}
			got := fmt.Sprint(p.probe.HTTPGet.Port)
			if p.probe.HTTPGet.Path != p.path || (got != port.Name && got != fmt.Sprint(port.ContainerPort)) {
				t.Errorf("%s %s probe is GET %s on port %s, want %s on %s (%d)", c.Name, p.what, p.probe.HTTPGet.Path, got, p.path, port.Name, port.ContainerPort)
			}
		}
		if want := fmt.Sprintf("--post-data= http://127.0.0.1:%d/-/reload", port.ContainerPort); !strings.Contains(reloader, want) {
			t.Errorf("the reloader never POSTs /-/reload to %s (want %q in its script)", c.Name, want)
		}
	}
	for _, name := range []string{"flexus-exporter", "flexus-actuator"} {
		if !seen[name] {
			t.Errorf("no %s container", name)
		}
	}
}

func deploymentOf(t *testing.T, objs []k8sObject) podSpec {
	t.Helper()
	for _, o := range objs {
		if o.Kind == "Deployment" {
			return o.Spec.Template.Spec
		}
	}
	t.Fatal("no Deployment")
	return podSpec{}
}

func TestKubernetesPodProbesReloadsAndMountsConfigAsDirectories(t *testing.T) {
	b, err := os.ReadFile("kubernetes/flexus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkFlexusPod(t, deploymentOf(t, decodeAll(t, "kubernetes/flexus.yaml", b)))
}

// TestHelmChartRenders checks deploy/helm/flexus without helm, which Debian
// does not package. What is checked: Chart.yaml and values.yaml parse; every
// template parses and executes with Go's text/template (missing keys are
// errors, so every .Values path a template uses exists in values.yaml) and a
// stand-in for the four sprig functions the chart uses (quote, indent,
// nindent, toYaml); every rendered document parses as YAML; the Deployment
// passes the same pod checks as the Kubernetes example; the config in
// values.yaml loads. What is not: helm's own lint rules, the rest of sprig
// (the templates must not use it), and the Kubernetes API schemas.
func TestHelmChartRenders(t *testing.T) {
	dir := "helm/flexus"
	var chart map[string]any
	readYAML(t, filepath.Join(dir, "Chart.yaml"), &chart)
	var values map[string]any
	readYAML(t, filepath.Join(dir, "values.yaml"), &values)
	for _, k := range []string{"apiVersion", "name", "version", "appVersion"} {
		if _, ok := chart[k]; !ok {
			t.Errorf("Chart.yaml has no %s", k)
		}
	}
	// Helm exposes Chart.yaml's fields capitalised.
	chartCtx := map[string]any{}
	for k, v := range chart {
		chartCtx[strings.ToUpper(k[:1])+k[1:]] = v
	}
	ctx := map[string]any{
		"Values":  values,
		"Chart":   chartCtx,
		"Release": map[string]any{"Name": "flexus", "Namespace": "flexus"},
	}
	templates, err := filepath.Glob(filepath.Join(dir, "templates", "*.yaml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("no templates in %s/templates (%v)", dir, err)
	}
	var objs []k8sObject
	kinds := map[string]bool{}
	for _, path := range templates {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := template.New(filepath.Base(path)).Funcs(sprigSubset(t)).Option("missingkey=error").Parse(string(src))
		if err != nil {
			t.Fatalf("%s does not parse: %v", path, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, ctx); err != nil {
			t.Fatalf("%s does not render with values.yaml: %v", path, err)
		}
		docs := decodeAll(t, path, out.Bytes())
		for _, o := range docs {
			kinds[o.Kind] = true
			if strings.Contains(o.Metadata.Name, "<no value>") || o.Metadata.Name == "" {
				t.Errorf("%s renders a %s without a name", path, o.Kind)
			}
		}
		objs = append(objs, docs...)
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"} {
		if !kinds[k] {
			t.Errorf("the chart renders no %s", k)
		}
	}
	checkFlexusPod(t, deploymentOf(t, objs))
	cfg, ok := values["config"].(string)
	if !ok {
		t.Fatal("values.yaml has no config string")
	}
	if _, err := config.Parse([]byte(cfg)); err != nil {
		t.Errorf("values.yaml's config does not load: %v", err)
	}
}

// sprigSubset implements the few sprig functions the chart may use, with
// helm's argument order (the piped value last).
func sprigSubset(t *testing.T) template.FuncMap {
	indent := func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+pad)
	}
	return template.FuncMap{
		"quote":   func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
		"indent":  indent,
		"nindent": func(n int, s string) string { return "\n" + indent(n, s) },
		"toYaml": func(v any) string {
			b, err := yaml.Marshal(v)
			if err != nil {
				t.Errorf("toYaml: %v", err)
			}
			return string(b)
		},
	}
}

// TestSystemdUnitsAreHardenedAndVerify runs systemd-analyze verify on each unit
// with ExecStart's /usr/local/bin/flexus replaced by /bin/true (verify wants
// the program to exist), and checks the hardening every unit must keep.
func TestSystemdUnitsAreHardenedAndVerify(t *testing.T) {
	analyze := testenv.Binary(t, "systemd-analyze", "systemd")
	units, err := filepath.Glob("systemd/*.service")
	if err != nil || len(units) != 2 {
		t.Fatalf("want the exporter and actuator units in systemd/, found %v (%v)", units, err)
	}
	required := []string{
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "ExecReload=/bin/kill -HUP $MAINPID", "--web.enable-lifecycle",
	}
	user := regexp.MustCompile(`(?m)^(DynamicUser=yes|User=\S+)$`)
	for _, path := range units {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			unit := string(b)
			for _, r := range required {
				if !strings.Contains(unit, r) {
					t.Errorf("%s lacks %q", path, strings.TrimSpace(r))
				}
			}
			if !user.MatchString(unit) {
				t.Errorf("%s runs as root: set DynamicUser=yes or User=", path)
			}
			if strings.Contains(path, "actuator") && !strings.Contains(unit, "ReadWritePaths=/var/lib/flexus") {
				t.Errorf("%s cannot write its state directory under ProtectSystem=strict", path)
			}
			tmp := filepath.Join(t.TempDir(), filepath.Base(path))
			if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(unit, "/usr/local/bin/flexus", "/bin/true")), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(analyze, "verify", tmp)
			cmd.Dir = t.TempDir()
			if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
			}
		})
	}
}
