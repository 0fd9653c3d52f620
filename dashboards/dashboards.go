// Package dashboards builds the Grafana dashboards of Flexus as plain Go
// values and renders them to the JSON files in this folder, which are
// committed so users can import them without Go. Every query selects its data
// source through the `datasource` variable; no uid is written in.
package dashboards

//go:generate go run ./gen

import (
	"encoding/json"
	"fmt"

	"github.com/flexus-autoscaler/flexus/internal/genfile"
)

// Datasource references the dashboard's `datasource` variable.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func prometheus() *Datasource { return &Datasource{Type: "prometheus", UID: "${datasource}"} }

// Dashboard is the subset of Grafana's dashboard model we use (schema 39).
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Time          TimeRange   `json:"time"`
	Templating    Templating  `json:"templating"`
	Annotations   Annotations `json:"annotations"`
	Links         []Link      `json:"links"`
	Panels        []*Panel    `json:"panels"`
}

type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a template variable: the data source picker or a label query.
type Variable struct {
	Name        string         `json:"name"`
	Label       string         `json:"label"`
	Description string         `json:"description,omitempty"`
	Type        string         `json:"type"`
	Query       any            `json:"query"`
	Definition  string         `json:"definition,omitempty"`
	Datasource  *Datasource    `json:"datasource,omitempty"`
	Refresh     int            `json:"refresh"`
	Multi       bool           `json:"multi"`
	IncludeAll  bool           `json:"includeAll"`
	AllValue    string         `json:"allValue,omitempty"`
	Sort        int            `json:"sort"`
	Regex       string         `json:"regex"`
	Hide        int            `json:"hide"`
	Current     map[string]any `json:"current"`
	Options     []any          `json:"options"`
}

type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is a Prometheus annotation query: every non-zero point is an event.
type Annotation struct {
	Name        string      `json:"name"`
	Datasource  *Datasource `json:"datasource"`
	Enable      bool        `json:"enable"`
	Hide        bool        `json:"hide"`
	IconColor   string      `json:"iconColor"`
	BuiltIn     int         `json:"builtIn,omitempty"`
	Type        string      `json:"type,omitempty"`
	Expr        string      `json:"expr,omitempty"`
	Step        string      `json:"step,omitempty"`
	TitleFormat string      `json:"titleFormat,omitempty"`
	TextFormat  string      `json:"textFormat,omitempty"`
	TagKeys     string      `json:"tagKeys,omitempty"`
}

type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is a row, time series, stat or table panel.
type Panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	Datasource      *Datasource      `json:"datasource,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Panels          []*Panel         `json:"panels,omitempty"`
	Repeat          string           `json:"repeat,omitempty"`
	RepeatDirection string           `json:"repeatDirection,omitempty"`
	MaxPerRow       int              `json:"maxPerRow,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     *FieldConfig     `json:"fieldConfig,omitempty"`
	Options         map[string]any   `json:"options,omitempty"`
	Transformations []Transformation `json:"transformations,omitempty"`
	Links           []PanelLink      `json:"links,omitempty"`
}

// PanelLink is a link in a panel's header, or a data link on its series.
type PanelLink struct {
	Title       string `json:"title"`
	URL         string `json:"url"`
	TargetBlank bool   `json:"targetBlank"`
}

type Target struct {
	RefID        string      `json:"refId"`
	Datasource   *Datasource `json:"datasource"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Instant      bool        `json:"instant,omitempty"`
	Range        bool        `json:"range"`
	Format       string      `json:"format,omitempty"`
	Interval     string      `json:"interval,omitempty"`
}

type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []any         `json:"overrides"`
}

type FieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
	Thresholds *Thresholds    `json:"thresholds,omitempty"`
	Color      map[string]any `json:"color,omitempty"`
	Mappings   []any          `json:"mappings"`
	Links      []PanelLink    `json:"links,omitempty"`
}

type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

type Transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// File is one rendered dashboard.
type File = genfile.File

// All returns every dashboard, keyed by file name.
func All() map[string]*Dashboard {
	return map[string]*Dashboard{
		"flexus-overview.json": overview(),
		"flexus-group.json":    group(),
		"flexus-health.json":   health(),
	}
}

// Render lays out every dashboard and renders it to indented JSON.
func Render() ([]File, error) {
	var files []File
	for _, name := range []string{"flexus-overview.json", "flexus-group.json", "flexus-health.json"} {
		d := All()[name]
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboards: rendering %s: %w", name, err)
		}
		files = append(files, File{Path: "dashboards/" + name, Content: append(b, '\n')})
	}
	return files, nil
}
