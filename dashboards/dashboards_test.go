package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

func TestFilesAreUpToDate(t *testing.T) {
	files, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		onDisk, err := os.ReadFile(filepath.Join("..", f.Path))
		if err != nil || !bytes.Equal(onDisk, f.Content) {
			t.Errorf("%s differs from what package dashboards renders (%v): run `go generate ./dashboards` (or `make rules`) and commit the result", f.Path, err)
		}
	}
	committed, _ := filepath.Glob("*.json")
	if len(committed) != len(files) {
		t.Errorf("dashboards/ holds %d JSON files, the generator writes %d: remove the stale ones", len(committed), len(files))
	}
}

// load reads a committed dashboard as generic JSON, the way Grafana sees it.
func load(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	return d
}

func walk(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, c := range v {
			walk(c, visit)
		}
	case []any:
		for _, c := range v {
			walk(c, visit)
		}
	}
}

func committedDashboards(t *testing.T) []string {
	names, _ := filepath.Glob("*.json")
	if len(names) < 3 {
		t.Fatalf("want the overview, group and health dashboards, found %v", names)
	}
	return names
}

func TestDashboardsFollowTheSchemaBasics(t *testing.T) {
	uids := map[string]string{}
	for _, name := range committedDashboards(t) {
		t.Run(name, func(t *testing.T) {
			d := load(t, name)
			for _, key := range []string{"uid", "title", "schemaVersion", "panels", "templating", "annotations", "time"} {
				if d[key] == nil {
					t.Errorf("has no %q", key)
				}
			}
			uid, _ := d["uid"].(string)
			if other, dup := uids[uid]; dup {
				t.Errorf("uid %q is also used by %s", uid, other)
			}
			uids[uid] = name
			if v, _ := d["schemaVersion"].(float64); v < 36 {
				t.Errorf("schemaVersion %v predates Grafana 9", v)
			}

			vars := map[string]map[string]any{}
			for _, v := range d["templating"].(map[string]any)["list"].([]any) {
				v := v.(map[string]any)
				vars[v["name"].(string)] = v
			}
			if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
				t.Errorf("want a `datasource` variable of type datasource for prometheus, have %v", ds)
			}
			if g := vars["group"]; g == nil || g["type"] != "query" {
				t.Errorf("want a `group` query variable, have %v", g)
			}

			ids := map[float64]bool{}
			type box struct{ x, y, w, h float64 }
			var boxes []box
			walk(d["panels"], func(p map[string]any) {
				if _, isPanel := p["gridPos"]; !isPanel {
					return
				}
				id, _ := p["id"].(float64)
				if ids[id] {
					t.Errorf("panel id %v is used twice", id)
				}
				ids[id] = true
				if p["title"] == "" {
					t.Errorf("panel %v has no title", id)
				}
				g := p["gridPos"].(map[string]any)
				b := box{g["x"].(float64), g["y"].(float64), g["w"].(float64), g["h"].(float64)}
				if b.w <= 0 || b.h <= 0 || b.x+b.w > 24 {
					t.Errorf("panel %q lies outside the 24-column grid: %v", p["title"], g)
				}
				for _, o := range boxes {
					if b.x < o.x+o.w && o.x < b.x+b.w && b.y < o.y+o.h && o.y < b.y+b.h {
						t.Errorf("panel %q overlaps another at %v", p["title"], g)
					}
				}
				boxes = append(boxes, b)
				if p["type"] != "row" {
					if targets, _ := p["targets"].([]any); len(targets) == 0 {
						t.Errorf("panel %q has no queries", p["title"])
					}
				}
			})

			// No data source uid is written in: Prometheus ones use the variable.
			walk(d, func(o map[string]any) {
				ds, ok := o["datasource"].(map[string]any)
				if !ok {
					return
				}
				if ds["type"] == "prometheus" && ds["uid"] != "${datasource}" {
					t.Errorf("%v uses data source uid %v instead of ${datasource}", o["title"], ds["uid"])
				}
				if ds["type"] != "prometheus" && ds["uid"] != "-- Grafana --" {
					t.Errorf("%v uses a data source other than Prometheus: %v", o["title"], ds)
				}
			})
		})
	}
}

var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range_s", "3600", "$__range", "1h",
)

var userVar = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)

func TestEveryQueryParses(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	n := 0
	for _, name := range committedDashboards(t) {
		walk(load(t, name), func(o map[string]any) {
			e, ok := o["expr"].(string)
			if !ok {
				return
			}
			n++
			promql := userVar.ReplaceAllString(grafanaVars.Replace(e), "x")
			if _, err := p.ParseExpr(promql); err != nil {
				t.Errorf("%s: %q (as %q) does not parse: %v", name, e, promql, err)
			}
		})
	}
	if n < 50 {
		t.Errorf("found only %d queries; the dashboards lost panels", n)
	}
}

func TestPerGroupQueriesFilterOnTheGroupVariable(t *testing.T) {
	for _, name := range committedDashboards(t) {
		walk(load(t, name), func(o map[string]any) {
			e, ok := o["expr"].(string)
			if !ok {
				return
			}
			// Every query of a per-group metric follows the group picker.
			if strings.Contains(e, "flexus_group_") && !strings.Contains(e, `group=~"$group"`) {
				t.Errorf("%s: %q ignores the group variable", name, e)
			}
		})
	}
}

func TestTableColumnsNameTheirQueries(t *testing.T) {
	for _, name := range committedDashboards(t) {
		walk(load(t, name), func(p map[string]any) {
			if p["type"] != "table" {
				return
			}
			refs := map[string]bool{}
			for _, tg := range p["targets"].([]any) {
				refs[tg.(map[string]any)["refId"].(string)] = true
			}
			for _, tr := range p["transformations"].([]any) {
				opts := tr.(map[string]any)["options"].(map[string]any)
				rename, _ := opts["renameByName"].(map[string]any)
				for col := range rename {
					ref, ok := strings.CutPrefix(col, "Value #")
					if ok && !refs[ref] {
						t.Errorf("%s: table %q renames column %q, but no query has refId %q", name, p["title"], col, ref)
					}
				}
			}
		})
	}
}

func TestEveryQueryFollowsTheJobAndInstancePickers(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, name := range committedDashboards(t) {
		walk(load(t, name), func(o map[string]any) {
			e, ok := o["expr"].(string)
			if !ok {
				return
			}
			// The variables keep their names, so the matchers can be read back.
			expr, err := p.ParseExpr(regexp.MustCompile(`\$\{?([A-Za-z_]+)\}?`).ReplaceAllStringFunc(grafanaVars.Replace(e), func(v string) string {
				return "VAR_" + strings.Trim(v, "${}")
			}))
			if err != nil {
				t.Fatalf("%s: %q: %v", name, e, err)
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok || vs.Name == "ALERTS" { // Prometheus' own series: the alert's labels, no job
					return nil
				}
				have := map[string]string{}
				for _, m := range vs.LabelMatchers {
					if m.Name == "job" || m.Name == "instance" {
						have[m.Name] += m.Value
					}
				}
				if !strings.Contains(have["job"], "VAR_job") || !strings.Contains(have["instance"], "VAR_instance") {
					t.Errorf("%s: %s in %q does not select job=~\"$job\" and instance=~\"$instance\"", name, vs, e)
				}
				return nil
			})
		})
	}
}

func TestEveryDashboardPicksJobInstanceAndGroup(t *testing.T) {
	for _, name := range committedDashboards(t) {
		vars := map[string]map[string]any{}
		for _, v := range load(t, name)["templating"].(map[string]any)["list"].([]any) {
			vars[v.(map[string]any)["name"].(string)] = v.(map[string]any)
		}
		for _, want := range []string{"job", "instance", "group"} {
			if v := vars[want]; v == nil || v["type"] != "query" {
				t.Errorf("%s: want a %s query variable, have %v", name, want, v)
			}
		}
		if v := vars["actuator"]; v == nil || v["type"] != "textbox" || v["query"] != defaultActuatorURL {
			t.Errorf("%s: want an actuator textbox defaulting to %s, have %v", name, defaultActuatorURL, v)
		}
	}
}

func TestNoPanelShowsSeriesOnlySimcloudPublishes(t *testing.T) {
	for _, name := range committedDashboards(t) {
		walk(load(t, name), func(o map[string]any) {
			if e, ok := o["expr"].(string); ok && strings.Contains(e, "flexus_simcloud_") {
				t.Errorf("%s: %q is empty outside the demo", name, e)
			}
		})
	}
}

func TestDecisionPanelsLinkToTheActuatorsDecisionLog(t *testing.T) {
	for _, name := range committedDashboards(t) {
		found := 0
		walk(load(t, name), func(o map[string]any) {
			e, _ := json.Marshal(o["targets"])
			if o["type"] != "timeseries" || !strings.Contains(string(e), "flexus_actuator_decisions_total") {
				return
			}
			found++
			links, _ := json.Marshal(o["links"])
			fc, _ := json.Marshal(o["fieldConfig"])
			if !strings.Contains(string(links), `${actuator}/api/v1/decisions`) {
				t.Errorf("%s: panel %q has no link to the decision log: %s", name, o["title"], links)
			}
			if !strings.Contains(string(fc), `${actuator}/api/v1/decisions?group=${__field.labels.group}`) {
				t.Errorf("%s: panel %q has no per-group data link", name, o["title"])
			}
		})
		if found == 0 {
			t.Errorf("%s: no decisions panel", name)
		}
	}
}
