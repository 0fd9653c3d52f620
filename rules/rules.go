// Package rules renders the Prometheus recording and alerting rules of Flexus
// from the templates in src/, once for production and once for the fast demo.
// Every hold time is written once, in src/ or in the signal table below; the
// demo variant divides them, so the two can never drift apart.
package rules

//go:generate go run ./gen

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"github.com/flexus-autoscaler/flexus/internal/genfile"
	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
)

//go:embed src/*.tmpl
var sources embed.FS

// RunbookBase is where every alert's runbook_url points; the anchor is the
// alert name in lower case, a heading of docs/runbooks.md.
const RunbookBase = "https://github.com/flexus-autoscaler/flexus/blob/main/docs/runbooks.md"

// Profile is one rendering of the rules.
type Profile struct {
	Name string
	// HoldDivisor divides every hold time (`for:`); 1 in production.
	HoldDivisor int64
	// Dir is where the profile's files live, relative to the repository root.
	Dir string
}

// Production is what users load into their Prometheus.
func Production() Profile { return Profile{Name: "production", HoldDivisor: 1, Dir: "rules"} }

// Demo holds conditions ten times shorter (5m becomes 30s), for a five-minute demo.
func Demo() Profile { return Profile{Name: "demo", HoldDivisor: 10, Dir: "deploy/demo/rules"} }

// Profiles lists every profile the generator writes.
func Profiles() []Profile { return []Profile{Production(), Demo()} }

// thresholdSignal is one signal of the seed's threshold table: how long it must
// stay beyond each threshold before the informational alert fires.
type thresholdSignal struct {
	Signal string // the `signal` label
	// Family is the unit stem of the signal's families (flexus_signal_ratio,
	// flexus_threshold_ratio, ...), so a rule names the one unit it compares.
	Family family
	Alert  string // alert name stem: Flexus<Alert>High / Flexus<Alert>Low
	Noun   string // for people
	// Format is the Prometheus template function that prints the value.
	Format  string
	HoldOut string
	HoldIn  string
}

// family names the value families of one unit: the recording rules are
// written once per unit, so that none of them mixes ratios, seconds and items.
type family struct {
	Unit      string // ratio, seconds, items
	Signal    string // flexus_signal_<unit>
	Threshold string // flexus_threshold_<unit>
	Forecast  string // flexus_forecast_<unit>
}

func familyOf(u metricnames.Unit) family {
	return family{Unit: string(u), Signal: metricnames.SignalIn(u), Threshold: metricnames.ThresholdIn(u), Forecast: metricnames.ForecastIn(u)}
}

// families lists the value families of every unit.
func families() []family {
	var out []family
	for _, u := range metricnames.Units() {
		out = append(out, familyOf(u))
	}
	return out
}

// thresholdSignals is the seed article's table (CPU, memory, response time,
// queue, error rate) plus the accelerators. Hold times come from
// scoring.SignalTable, the one place they are written.
func thresholdSignals() []thresholdSignal {
	hold := func(d time.Duration) string { return model.Duration(d).String() }
	row := func(signal, alert, noun, format string) thresholdSignal {
		spec, _ := scoring.Spec(scoring.Signal(signal))
		return thresholdSignal{Signal: signal, Family: familyOf(metricnames.UnitOf(scoring.Signal(signal))), Alert: alert, Noun: noun, Format: format, HoldOut: hold(spec.HoldOut), HoldIn: hold(spec.HoldIn)}
	}
	return []thresholdSignal{
		row(string(scoring.CPU), "CPU", "CPU utilisation", "humanizePercentage"),
		row(string(scoring.Memory), "Memory", "memory utilisation", "humanizePercentage"),
		row(string(scoring.GPU), "GPU", "GPU utilisation", "humanizePercentage"),
		row(string(scoring.NPU), "NPU", "NPU utilisation", "humanizePercentage"),
		row(string(scoring.ResponseTime), "ResponseTime", "response time", "humanizeDuration"),
		row(string(scoring.Queue), "Queue", "queue length", "humanize"),
		row(string(scoring.ErrorRate), "ErrorRate", "error rate", "humanizePercentage"),
	}
}

// File is one rendered rule file.
type File = genfile.File

// Render renders every template in src/ for the profile: src/NAME.tmpl becomes
// Dir/NAME.
func Render(p Profile) ([]File, error) {
	entries, err := sources.ReadDir("src")
	if err != nil {
		return nil, err
	}
	var files []File
	for _, e := range entries {
		src := path.Join("src", e.Name())
		text, err := sources.ReadFile(src)
		if err != nil {
			return nil, err
		}
		out := path.Join(p.Dir, strings.TrimSuffix(e.Name(), ".tmpl"))
		content, err := render(p, src, out, string(text))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: out, Content: content})
	}
	return files, nil
}

// render uses [[ ]] as delimiters, so Prometheus's own {{ }} alert templates
// pass through untouched.
func render(p Profile, src, out, text string) ([]byte, error) {
	funcs := template.FuncMap{
		"hold":    func(d string) (string, error) { return scaleHold(d, p.HoldDivisor) },
		"runbook": func(alert string) string { return RunbookBase + "#" + strings.ToLower(alert) },
		"header": func() string {
			h := fmt.Sprintf("# Code generated by `go generate ./rules` from rules/%s (profile %s). DO NOT EDIT.", src, p.Name)
			if p.HoldDivisor > 1 {
				h += fmt.Sprintf("\n# Every hold time (for:) is the production one divided by %d; comments quote production values.", p.HoldDivisor)
			}
			return h
		},
	}
	t, err := template.New(src).Delims("[[", "]]").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("rules: parsing template %s: %w", src, err)
	}
	var buf bytes.Buffer
	data := map[string]any{"Signals": thresholdSignals(), "Units": families(), "Profile": p}
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("rules: rendering %s into %s: %w", src, out, err)
	}
	return buf.Bytes(), nil
}

// scaleHold divides a hold time, keeping whole seconds and at least one second.
func scaleHold(d string, divisor int64) (string, error) {
	parsed, err := model.ParseDuration(d)
	if err != nil {
		return "", fmt.Errorf("rules: hold time %q: %w", d, err)
	}
	if divisor <= 1 || parsed == 0 {
		return parsed.String(), nil // no hold stays no hold
	}
	scaled := time.Duration(parsed) / time.Duration(divisor)
	scaled = max(scaled.Truncate(time.Second), time.Second)
	return model.Duration(scaled).String(), nil
}
