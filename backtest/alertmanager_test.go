package backtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"
)

func TestAlertmanagerTiming(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	out := labels.FromStrings("alertname", "FlexusScaleOut", "group", "web", "action", "scale_out")
	firing := func(start, now int, target string) Alert {
		return Alert{Labels: out, Annotations: map[string]string{"flexus_target": target}, StartsAt: at(start), EndsAt: at(now + 240)}
	}
	resolved := func(start, end int) Alert {
		return Alert{Labels: out, Annotations: map[string]string{"flexus_target": "5"}, StartsAt: at(start), EndsAt: at(end)}
	}
	opts := AlertmanagerOptions{GroupWait: 30 * time.Second, GroupInterval: time.Minute, RepeatInterval: 5 * time.Minute}

	type step struct {
		at     int
		send   []Alert
		notify string // "" for none, else the firing targets joined, or "resolved"
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a new alert waits group_wait, then is sent once", []step{
			{at: 0, send: []Alert{firing(0, 0, "5")}},
			{at: 29},
			{at: 30, notify: "5"},
			{at: 60, send: []Alert{firing(0, 60, "5")}},
			{at: 90},
			{at: 150},
		}},
		{"a firing alert is repeated after repeat_interval, on a group_interval tick", []step{
			{at: 0, send: []Alert{firing(0, 0, "5")}},
			{at: 30, notify: "5"},
			{at: 120, send: []Alert{firing(0, 120, "6")}},
			{at: 270},
			{at: 300, send: []Alert{firing(0, 300, "6")}},
			{at: 330, notify: "6"},
		}},
		{"resolution is sent, and a new firing starts a new group with group_wait", []step{
			{at: 0, send: []Alert{firing(0, 0, "5")}},
			{at: 30, notify: "5"},
			{at: 60, send: []Alert{resolved(0, 60)}},
			{at: 90, notify: "resolved"},
			{at: 120, send: []Alert{firing(120, 120, "7")}},
			{at: 149},
			{at: 150, notify: "7"},
		}},
		{"an alert that fired and resolved between flushes is never sent", []step{
			{at: 0, send: []Alert{firing(0, 0, "5")}},
			{at: 10, send: []Alert{resolved(0, 10)}},
			{at: 30},
			{at: 90},
		}},
		{"an alert that started long ago is flushed at once", []step{
			{at: 600, send: []Alert{firing(0, 600, "5")}, notify: "5"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			am := newAlertmanager(opts)
			for _, s := range c.steps {
				am.receive(at(s.at), s.send)
				ns := am.flush(at(s.at))
				var got []string
				for _, n := range ns {
					if len(n.Firing) == 0 {
						got = append(got, "resolved")
						continue
					}
					for _, a := range n.Firing {
						got = append(got, a.Annotations["flexus_target"])
					}
				}
				if g := strings.Join(got, ","); g != s.notify {
					t.Fatalf("at %ds: notified %q, want %q", s.at, g, s.notify)
				}
			}
		})
	}
}

func TestAlertmanagerRoutesOnlyScalingAlerts(t *testing.T) {
	am := newAlertmanager(DefaultAlertmanager())
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	am.receive(t0, []Alert{{Labels: labels.FromStrings("alertname", "FlexusCPUHigh", "group", "web"), StartsAt: t0, EndsAt: t0.Add(time.Hour)}})
	if ns := am.flush(t0.Add(time.Hour)); len(ns) != 0 || len(am.groups) != 0 {
		t.Fatalf("an alert without an action reached the actuator's route: %v", ns)
	}
}

// The backtest's default route is the one users deploy: a backtest that
// replays slower timings than production blames the policy for
// Alertmanager's delay.
func TestDefaultAlertmanagerIsTheDeployedRoute(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "alertmanager", "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Route struct {
			Routes []struct {
				Receiver       string `yaml:"receiver"`
				GroupWait      string `yaml:"group_wait"`
				GroupInterval  string `yaml:"group_interval"`
				RepeatInterval string `yaml:"repeat_interval"`
			} `yaml:"routes"`
		} `yaml:"route"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	def := DefaultAlertmanager()
	for _, r := range cfg.Route.Routes {
		if r.Receiver != "flexus-actuator" {
			continue
		}
		for _, f := range []struct {
			name, deployed string
			replayed       time.Duration
		}{
			{"group_wait", r.GroupWait, def.GroupWait},
			{"group_interval", r.GroupInterval, def.GroupInterval},
			{"repeat_interval", r.RepeatInterval, def.RepeatInterval},
		} {
			d, err := time.ParseDuration(f.deployed)
			if err != nil {
				t.Fatalf("%s %q: %v", f.name, f.deployed, err)
			}
			if d != f.replayed {
				t.Errorf("%s: deployed %s, backtest replays %s", f.name, d, f.replayed)
			}
		}
		return
	}
	t.Fatal("no flexus-actuator route in deploy/alertmanager/alertmanager.yml")
}
