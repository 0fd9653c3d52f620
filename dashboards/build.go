package dashboards

// This file holds the small builders the dashboards are written with.

func ptr[T any](v T) *T { return &v }

// defaultActuatorURL is the actuator's default listen address (flexus actuator --web.listen-address).
const defaultActuatorURL = "http://localhost:9848"

// q is one query; the panel gives it its refId and data source.
func q(expr, legend string) Target {
	return Target{Expr: expr, LegendFormat: legend, Range: true}
}

// instant is a query for a table cell: the latest value only.
func instant(expr string) Target {
	return Target{Expr: expr, Instant: true, Format: "table", LegendFormat: "__auto"}
}

func withTargets(p *Panel, targets []Target) *Panel {
	for i := range targets {
		targets[i].RefID = string(rune('A' + i))
		targets[i].Datasource = prometheus()
	}
	p.Datasource = prometheus()
	p.Targets = targets
	return p
}

func timeseries(title, description, unit string, targets ...Target) *Panel {
	p := &Panel{
		Type: "timeseries", Title: title, Description: description,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Unit:     unit,
			Custom:   map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": false},
			Mappings: []any{},
		}, Overrides: []any{}},
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}
	return withTargets(p, targets)
}

// bars draws counts per interval (decisions, refusals) as bars.
func bars(title, description string, targets ...Target) *Panel {
	p := timeseries(title, description, "short", targets...)
	p.FieldConfig.Defaults.Custom["drawStyle"] = "bars"
	p.FieldConfig.Defaults.Custom["fillOpacity"] = 80
	p.FieldConfig.Defaults.Custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
	return p
}

// dashed draws the series whose legend matches as dashed lines (thresholds, bounds).
func dashed(p *Panel, legendRegex string) *Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, map[string]any{
		"matcher": map[string]any{"id": "byRegexp", "options": legendRegex},
		"properties": []any{
			map[string]any{"id": "custom.lineStyle", "value": map[string]any{"fill": "dash", "dash": []int{10, 10}}},
			map[string]any{"id": "custom.fillOpacity", "value": 0},
		},
	})
	return p
}

func withRange(p *Panel, lo, hi float64) *Panel {
	p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max = ptr(lo), ptr(hi)
	return p
}

func stat(title, description, unit string, targets ...Target) *Panel {
	p := &Panel{
		Type: "stat", Title: title, Description: description,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Unit:     unit,
			Mappings: []any{},
			Thresholds: &Thresholds{Mode: "absolute", Steps: []Step{
				{Color: "green", Value: nil},
			}},
		}, Overrides: []any{}},
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "value", "graphMode": "area", "justifyMode": "auto", "textMode": "auto", "orientation": "auto",
		},
	}
	return withTargets(p, targets)
}

// redAt colours a stat red from the given value on.
func redAt(p *Panel, v float64) *Panel {
	p.FieldConfig.Defaults.Thresholds.Steps = append(p.FieldConfig.Defaults.Thresholds.Steps, Step{Color: "red", Value: ptr(v)})
	return p
}

// table joins instant queries on their labels: one row per label set, one
// column per query (renamed by the query's refId through `columns`).
func table(title, description string, columns map[string]string, targets ...Target) *Panel {
	p := &Panel{
		Type: "table", Title: title, Description: description,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Mappings: []any{}, Custom: map[string]any{"align": "auto"}}, Overrides: []any{}},
		Options:     map[string]any{"showHeader": true, "cellHeight": "sm"},
		Transformations: []Transformation{
			{ID: "merge", Options: map[string]any{}},
			{ID: "organize", Options: map[string]any{
				"excludeByName": map[string]any{"Time": true, "__name__": true, "job": true, "instance": true},
				"renameByName":  columns,
			}},
		},
	}
	return withTargets(p, targets)
}

// layout places panels left to right in Grafana's 24-column grid, under rows.
type layout struct {
	panels []*Panel
	id     int
	x, y   int
	rowH   int
}

func (l *layout) nextID() int { l.id++; return l.id }

func (l *layout) newline() {
	if l.x > 0 {
		l.y += l.rowH
		l.x, l.rowH = 0, 0
	}
}

func (l *layout) row(title string) {
	l.newline()
	l.panels = append(l.panels, &Panel{ID: l.nextID(), Type: "row", Title: title, Collapsed: ptr(false), GridPos: GridPos{H: 1, W: 24, X: 0, Y: l.y}, Panels: []*Panel{}})
	l.y++
}

func (l *layout) add(w, h int, panels ...*Panel) {
	for _, p := range panels {
		if l.x+w > 24 {
			l.newline()
		}
		p.ID = l.nextID()
		p.GridPos = GridPos{H: h, W: w, X: l.x, Y: l.y}
		l.panels = append(l.panels, p)
		l.x += w
		l.rowH = max(l.rowH, h)
	}
}

// newDashboard sets what all Flexus dashboards share: the datasource, job,
// instance and group variables, the actuator's address for the decision
// links, the scaling decisions as annotations, and links between them.
func newDashboard(uid, title, description string, multiGroup bool, extra ...Variable) *Dashboard {
	labelVar := func(name, label, query string, multi bool) Variable {
		v := Variable{
			Name: name, Label: label, Type: "query", Datasource: prometheus(),
			Query:      map[string]any{"query": query, "refId": name},
			Definition: query, Refresh: 2, Sort: 1, Multi: multi, IncludeAll: multi,
			Current: map[string]any{}, Options: []any{},
		}
		if multi {
			v.AllValue = ".*"
			v.Current = map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}
		}
		return v
	}
	// The exporter and the actuator both publish their config reload status:
	// the jobs and instances to pick from are those that run them.
	vars := []Variable{
		{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus", Refresh: 1, Current: map[string]any{}, Options: []any{}},
		labelVar("job", "Job", `label_values(flexus_config_last_reload_successful, job)`, true),
		labelVar("instance", "Instance", `label_values(flexus_config_last_reload_successful{job=~"$job"}, instance)`, true),
		labelVar("group", "Group", `label_values(flexus_group_desired_instances{`+procSel+`}, group)`, multiGroup),
		{
			Name: "actuator", Label: "Actuator URL", Type: "textbox", Query: defaultActuatorURL,
			Description: "Where the decision links open the actuator's decision log (GET /api/v1/decisions).",
			Current:     map[string]any{"text": defaultActuatorURL, "value": defaultActuatorURL},
			Options:     []any{map[string]any{"selected": true, "text": defaultActuatorURL, "value": defaultActuatorURL}},
		},
	}
	return &Dashboard{
		UID: uid, Title: title, Description: description,
		Tags: []string{"flexus"}, Timezone: "browser", Editable: true, GraphTooltip: 1,
		Refresh: "30s", SchemaVersion: 39, Version: 1,
		Time:       TimeRange{From: "now-6h", To: "now"},
		Templating: Templating{List: append(vars, extra...)},
		Annotations: Annotations{List: []Annotation{
			{Name: "Annotations & Alerts", BuiltIn: 1, Type: "dashboard", Enable: true, Hide: true, IconColor: "rgba(0, 211, 255, 1)",
				Datasource: &Datasource{Type: "grafana", UID: "-- Grafana --"}},
			{Name: "Scaling decisions", Datasource: prometheus(), Enable: true, IconColor: "orange", Step: "1m",
				Expr:        `sum by (group, action, outcome) (increase(flexus_actuator_decisions_total{` + groupSel + `,outcome=~"applied|failed"}[2m])) > 0`,
				TitleFormat: "{{action}} {{group}}", TextFormat: "{{outcome}}", TagKeys: "group,action,outcome"},
		}},
		Links: []Link{{Title: "Flexus", Type: "dashboards", Tags: []string{"flexus"}, AsDropdown: true, IncludeVars: true, KeepTime: true}},
	}
}
