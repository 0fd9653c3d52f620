package rules

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Golden outputs of the programs that produce the metrics the rules and
// dashboards use, relative to the repository root.
const (
	exporterGolden = "collector/fixtures/e2e-output.txt"
	actuatorGolden = "actuator/fixtures/metrics.txt"
)

// builtinMetrics are produced by Prometheus itself.
var builtinMetrics = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// query is one PromQL expression and where it comes from.
type query struct {
	where string
	expr  string
}

// ruleQueries returns every expression of the production rules.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, r := range allRules(t, Production()) {
		qs = append(qs, query{where: "rules: " + r.Alert + r.Record, expr: r.Expr})
	}
	return qs
}

// grafanaVars stands in for Grafana's variables so that a dashboard query
// becomes plain PromQL; longest names first so $__range_s wins over $__range.
var grafanaVars = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range_s}", "3600", "$__range_s", "3600",
	"${__range}", "1h", "$__range", "1h",
)

var userVar = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*`)

// substituteGrafanaVariables turns a dashboard query into PromQL.
func substituteGrafanaVariables(expr string) string {
	return userVar.ReplaceAllString(grafanaVars.Replace(expr), "x")
}

var labelValues = regexp.MustCompile(`^\s*label_values\((.*?)(,\s*[A-Za-z_]+)?\)\s*$`)
var queryResult = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)

// dashboardQueries returns every PromQL expression of dashboards/*.json: panel
// targets, annotations and template variables (label_values and query_result).
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	files, err := filepath.Glob(repoPath("dashboards/*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var qs []query
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s is not JSON: %v", f, err)
		}
		walkJSON(doc, func(obj map[string]any) {
			if targets, ok := obj["targets"].([]any); ok {
				for _, tg := range targets {
					tg, _ := tg.(map[string]any)
					if e, ok := tg["expr"].(string); ok && e != "" {
						qs = append(qs, query{where: fmt.Sprintf("%s: panel %q query %v", filepath.Base(f), obj["title"], tg["refId"]), expr: substituteGrafanaVariables(e)})
					}
				}
			}
			if e, ok := obj["expr"].(string); ok && e != "" && obj["refId"] == nil {
				qs = append(qs, query{where: fmt.Sprintf("%s: annotation %q", filepath.Base(f), obj["name"]), expr: substituteGrafanaVariables(e)})
			}
			if obj["type"] == "query" {
				q, _ := obj["query"].(string)
				if m, ok := obj["query"].(map[string]any); ok {
					q, _ = m["query"].(string)
				}
				if m := labelValues.FindStringSubmatch(q); m != nil {
					q = m[1]
				} else if m := queryResult.FindStringSubmatch(q); m != nil {
					q = m[1]
				}
				if q != "" {
					qs = append(qs, query{where: filepath.Base(f) + ": variable " + fmt.Sprint(obj["name"]), expr: substituteGrafanaVariables(q)})
				}
			}
		})
	}
	return qs
}

func walkJSON(v any, visit func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		visit(v)
		for _, c := range v {
			walkJSON(c, visit)
		}
	case []any:
		for _, c := range v {
			walkJSON(c, visit)
		}
	}
}

// metricNames parses a query and returns the metric names it selects.
func metricNames(q query) ([]string, error) {
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(q.expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %q does not parse: %w", q.where, q.expr, err)
	}
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			err = fmt.Errorf("%s: %q selects series without a metric name", q.where, q.expr)
		}
		names = append(names, name)
		return nil
	})
	return names, err
}

// recordedNames are the names the recording rules produce.
func recordedNames(t *testing.T) map[string]bool {
	t.Helper()
	rec := map[string]bool{}
	for _, r := range allRules(t, Production()) {
		if r.Record != "" {
			rec[r.Record] = true
		}
	}
	return rec
}

var docName = regexp.MustCompile("`(flexus_[a-z0-9_]+)`")

// documentedMetrics reads the metric contract, docs/metrics.md, section by
// section ("## Exporter ...", "## Actuator ...", "## simcloud ..."). Histograms
// count with their _bucket, _sum and _count series.
func documentedMetrics(t *testing.T) map[string]map[string]bool {
	t.Helper()
	f, err := os.Open(repoPath("docs/metrics.md"))
	if err != nil {
		t.Fatalf("the metric contract: %v", err)
	}
	defer f.Close()
	sections := map[string]map[string]bool{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.ToLower(strings.Fields(h)[0])
			continue
		}
		if !strings.HasPrefix(line, "|") || section == "" {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range docName.FindAllStringSubmatch(first, -1) {
			if sections[section] == nil {
				sections[section] = map[string]bool{}
			}
			sections[section][m[1]] = true
			if strings.Contains(first, "histogram") {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					sections[section][m[1]+s] = true
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"exporter", "actuator", "simcloud"} {
		if len(sections[s]) == 0 {
			t.Fatalf("docs/metrics.md has no metrics under a %q heading", s)
		}
	}
	return sections
}

// goldenMetrics reads the metric names of a Prometheus text exposition file.
func goldenMetrics(path string) (map[string]bool, error) {
	b, err := os.ReadFile(repoPath(path))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) == 2 {
				names[f[0]] = true
				if f[1] == "histogram" || f[1] == "summary" {
					for _, s := range []string{"_bucket", "_sum", "_count"} {
						names[f[0]+s] = true
					}
				}
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		names[name] = true
	}
	return names, nil
}

// checkNames fails for every query that does not parse or that uses a metric
// outside known.
func checkNames(t *testing.T, queries []query, known map[string]bool, source string) {
	t.Helper()
	missing := map[string][]string{}
	for _, q := range queries {
		names, err := metricNames(q)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, n := range names {
			if !known[n] && !slices.Contains(missing[n], q.where) {
				missing[n] = append(missing[n], q.where)
			}
		}
	}
	keys := make([]string, 0, len(missing))
	for k := range missing {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, n := range keys {
		t.Errorf("%s is used by %s but not produced by %s", n, strings.Join(missing[n], ", "), source)
	}
}

func allQueries(t *testing.T) []query {
	rq, dq := ruleQueries(t), dashboardQueries(t)
	if len(rq) == 0 || len(dq) == 0 {
		t.Fatalf("found %d queries in rules/ and %d in dashboards/*.json; want both", len(rq), len(dq))
	}
	return append(rq, dq...)
}

func TestEveryQueryUsesDocumentedMetrics(t *testing.T) {
	known := recordedNames(t)
	for _, names := range documentedMetrics(t) {
		for n := range names {
			known[n] = true
		}
	}
	for _, n := range builtinMetrics {
		known[n] = true
	}
	checkNames(t, allQueries(t), known, "docs/metrics.md or a recording rule")
}

// absentFromGolden are metrics the rules and dashboards use that the golden
// outputs cannot show, each with why and the package whose source must name
// it. Entries that appear in a golden output are flagged as stale.
func absentFromGolden() map[string]struct{ pkg, why string } {
	type e = struct{ pkg, why string }
	advisor := e{"advisor", "the end-to-end run has the advisor disabled"}
	volatile := e{"collector", "timing series are filtered from the golden output as volatile"}
	noNPU := e{"collector", "the end-to-end world has no NPU instance"}
	volatileHistogram := e{"hwcloud", "timing series are filtered from the golden output as volatile"}
	noELB := e{"collector", "the end-to-end groups have no ELB, so no request rate to price requests by"}
	return map[string]struct{ pkg, why string }{
		"flexus_advisor_requests_total":                    advisor,
		"flexus_advisor_rejected_proposals_total":          advisor,
		"flexus_advisor_last_success_timestamp_seconds":    advisor,
		"flexus_collection_duration_seconds":               volatile,
		"flexus_collection_last_success_timestamp_seconds": volatile,
		"flexus_cloudeye_budget_wait_seconds_total":        volatile,
		"flexus_npu_utilization_ratio":                     noNPU,
		"flexus_npu_memory_utilization_ratio":              noNPU,
		"flexus_cloud_request_duration_seconds":            volatileHistogram,
		"flexus_cost_per_thousand_requests":                noELB,
	}
}

// namedInSource reports whether a package's non-test Go files hold the
// metric name as a string literal.
func namedInSource(t *testing.T, pkg, name string) bool {
	t.Helper()
	files, _ := filepath.Glob(repoPath(pkg + "/*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"`+name+`"`) {
			return true
		}
	}
	return false
}

func TestEveryQueryUsesProducedMetrics(t *testing.T) {
	known := recordedNames(t)
	for _, n := range builtinMetrics {
		known[n] = true
	}
	// simcloud has no golden output; its section of the contract stands in.
	for n := range documentedMetrics(t)["simcloud"] {
		known[n] = true
	}
	golden := map[string]bool{}
	for _, path := range []string{exporterGolden, actuatorGolden} {
		names, err := goldenMetrics(path)
		if err != nil {
			t.Errorf("reading the golden metrics output %s: %v (its owner writes it; until then only docs/metrics.md is checked)", path, err)
			continue
		}
		for n := range names {
			golden[n] = true
			known[n] = true
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for name, a := range absentFromGolden() {
		switch {
		case golden[name]:
			t.Errorf("%s is in a golden output now: remove it from absentFromGolden", name)
		case !namedInSource(t, a.pkg, name):
			t.Errorf("%s is excused from the golden outputs (%s) but package %s does not name it", name, a.why, a.pkg)
		default:
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				known[name+suffix] = true
			}
		}
	}
	checkNames(t, allQueries(t), known, exporterGolden+", "+actuatorGolden+", simcloud or a recording rule")
}
