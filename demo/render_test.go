package demo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	demofiles "github.com/flexus-autoscaler/flexus/deploy/demo"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/simcloud"
)

// renderAll renders every demo template into a fresh directory, as Start does.
func renderAll(t *testing.T, faults Faults) (string, renderData) {
	t.Helper()
	dir := t.TempDir()
	d := renderData{Dir: dir, RulesDir: filepath.Join(dir, "rules"), TokenFile: filepath.Join(dir, "actuator.token"),
		Simcloud: "127.0.0.1:10001", Exporter: "127.0.0.1:10002", Actuator: "127.0.0.1:10003",
		Alertmanager: "127.0.0.1:10004", Prometheus: "127.0.0.1:10005", Faults: faults, CloudRetries: 1}
	if err := os.WriteFile(d.TokenFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := copyRules(demofiles.FS(), d.RulesDir); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"simcloud.yml", "flexus.yml", "prometheus.yml", "alertmanager.yml"} {
		if err := render(demofiles.FS(), n+".tmpl", d, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, d
}

func TestRenderedConfigsAreValid(t *testing.T) {
	dir, d := renderAll(t, Faults{Throttle: 0.2, Error: 0.1})
	env := func(k string) string {
		return map[string]string{"HUAWEICLOUD_SDK_AK": "ak", "HUAWEICLOUD_SDK_SK": "sk", "HUAWEICLOUD_SDK_PROJECT_ID": "p"}[k]
	}

	t.Run("the flexus config parses and names simcloud as its cloud", func(t *testing.T) {
		c, err := config.Load(filepath.Join(dir, "flexus.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Cloud.Endpoint != "http://"+d.Simcloud {
			t.Errorf("cloud.endpoint %q", c.Cloud.Endpoint)
		}
		if len(c.Groups) != 2 {
			t.Errorf("%d groups, want web and inference", len(c.Groups))
		}
	})

	t.Run("the simcloud config parses, with the same groups and the faults asked for", func(t *testing.T) {
		sc, err := simcloud.LoadFile(filepath.Join(dir, "simcloud.yml"), env)
		if err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(filepath.Join(dir, "flexus.yml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range sc.World.Groups {
			fg, ok := c.Group(g.Name)
			if !ok {
				t.Errorf("simcloud group %q is not in the flexus config", g.Name)
				continue
			}
			if fg.MinInstances > g.DesiredInstances || fg.MaxInstances < g.DesiredInstances {
				t.Errorf("group %q starts at %d, outside the flexus bounds %d..%d", g.Name, g.DesiredInstances, fg.MinInstances, fg.MaxInstances)
			}
			if fg.Backend != g.ManagedBy {
				t.Errorf("group %q: flexus backend %q, simcloud manages it by %q", g.Name, fg.Backend, g.ManagedBy)
			}
		}
		if f := sc.Faults["*"]; f.ThrottleProbability != 0.2 || f.ErrorProbability != 0.1 {
			t.Errorf("faults %+v", sc.Faults)
		}
	})

	t.Run("prometheus accepts its config and the demo rules", func(t *testing.T) {
		promtool := testenv.Binary(t, "promtool", "prometheus")
		out, err := exec.Command(promtool, "check", "config", filepath.Join(dir, "prometheus.yml")).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check config: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "rule files found") && !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool output %s", out)
		}
	})

	t.Run("prometheus evaluates on the interval the alert timings assume", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "evaluation_interval: " + EvaluationInterval.String(); !strings.Contains(string(b), want) {
			t.Errorf("prometheus.yml lacks %q", want)
		}
	})

	t.Run("alertmanager accepts its config", func(t *testing.T) {
		amtool := testenv.Binary(t, "amtool", "prometheus-alertmanager")
		out, err := exec.Command(amtool, "check-config", filepath.Join(dir, "alertmanager.yml")).CombinedOutput()
		if err != nil {
			t.Fatalf("amtool check-config: %v\n%s", err, out)
		}
	})
}

func TestRenderWithoutFaultsLeavesThemOut(t *testing.T) {
	dir, _ := renderAll(t, Faults{})
	b, err := os.ReadFile(filepath.Join(dir, "simcloud.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "faults:") {
		t.Errorf("simcloud config has faults without being asked:\n%s", b)
	}
}

func TestTheActuatorGradesThroughTheDemosPrometheus(t *testing.T) {
	dir, d := renderAll(t, Faults{})
	c, err := config.Load(filepath.Join(dir, "flexus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	gc := c.Actuator.Grading
	if gc == nil || gc.PrometheusURL != "http://"+d.Prometheus {
		t.Fatalf("actuator.grading %+v, want the demo's Prometheus", gc)
	}
	// A scale-out during the spike (from 45s of a 5m run) must be graded
	// before the run ends: lead time, delay and a round fit in the scenario.
	scen := SpikeScenario(5*time.Minute, 3)
	spike, _ := scen.Start(PhaseSpike)
	for _, g := range c.Groups {
		if due := spike + g.LeadTime() + gc.Delay + gc.Interval; due >= scen.Length() {
			t.Errorf("group %s: a decision at the spike is graded %s into a %s run", g.Name, due, scen.Length())
		}
	}
}
