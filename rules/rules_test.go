package rules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// repoPath turns a repository-relative path into one relative to this package.
func repoPath(p string) string { return filepath.Join("..", filepath.FromSlash(p)) }

func ruleFiles(p Profile) []string {
	return []string{repoPath(p.Dir + "/flexus.rules.yml"), repoPath(p.Dir + "/flexus.alerts.yml")}
}

// parseRules parses with the rulefmt and PromQL parser of Prometheus 3
// (v0.316.0), the engine the backtest evaluates the rules with.
func parseRules(t *testing.T, path string) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
	for _, err := range errs {
		t.Errorf("%s does not load in Prometheus 3: %v", path, err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

func allRules(t *testing.T, p Profile) []rulefmt.Rule {
	t.Helper()
	var rules []rulefmt.Rule
	for _, f := range ruleFiles(p) {
		for _, g := range parseRules(t, f).Groups {
			rules = append(rules, g.Rules...)
		}
	}
	return rules
}

func TestGeneratedFilesAreUpToDate(t *testing.T) {
	for _, p := range Profiles() {
		files, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("profile %s renders no files", p.Name)
		}
		for _, f := range files {
			onDisk, err := os.ReadFile(repoPath(f.Path))
			if err != nil {
				t.Errorf("%s: %v: run `go generate ./rules` (or `make rules`) and commit the result", f.Path, err)
				continue
			}
			if !bytes.Equal(onDisk, f.Content) {
				t.Errorf("%s differs from what rules/src renders: run `go generate ./rules` (or `make rules`) and commit the result", f.Path)
			}
		}
	}
}

func TestRulesLoadInPrometheus3(t *testing.T) {
	for _, p := range Profiles() {
		for _, r := range allRules(t, p) {
			// holt_winters is gone in Prometheus 3 (double_exponential_smoothing
			// is experimental there and missing in 2.42): neither may appear.
			for _, fn := range []string{"holt_winters", "double_exponential_smoothing"} {
				if strings.Contains(r.Expr, fn+"(") {
					t.Errorf("%s%s uses %s, which does not load in both Prometheus 2.42 and 3", r.Alert, r.Record, fn)
				}
			}
		}
	}
}

func TestDemoDiffersFromProductionOnlyInHoldTimes(t *testing.T) {
	prod, demo := allRules(t, Production()), allRules(t, Demo())
	if len(prod) != len(demo) {
		t.Fatalf("production has %d rules, demo %d", len(prod), len(demo))
	}
	for i := range prod {
		pr, dr := prod[i], demo[i]
		name := pr.Alert + pr.Record
		if pr.Alert != dr.Alert || pr.Record != dr.Record || pr.Expr != dr.Expr {
			t.Errorf("rule %d: production %q and demo %q differ in name or expression", i, name, dr.Alert+dr.Record)
		}
		want := (time.Duration(pr.For) / time.Duration(Demo().HoldDivisor)).Truncate(time.Second)
		if pr.For != 0 {
			want = max(want, time.Second)
		}
		if time.Duration(dr.For) != want {
			t.Errorf("%s: demo holds for %s, want production's %s / %d = %s", name, dr.For, pr.For, Demo().HoldDivisor, want)
		}
		if !equalMaps(pr.Labels, dr.Labels) {
			t.Errorf("%s: labels differ between production and demo", name)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func TestScaleHold(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		divisor  int64
		want     string
	}{
		{"production keeps the hold", "5m", 1, "5m"},
		{"demo divides by ten", "5m", 10, "30s"},
		{"demo keeps whole seconds", "1m", 10, "6s"},
		{"demo holds at least a second", "5s", 10, "1s"},
		{"hours become minutes", "1h", 10, "6m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scaleHold(tc.in, tc.divisor)
			if err != nil || got != tc.want {
				t.Errorf("scaleHold(%q, %d) = %q, %v; want %q", tc.in, tc.divisor, got, err, tc.want)
			}
		})
	}
	if _, err := scaleHold("five minutes", 10); err == nil {
		t.Error("scaleHold accepted a hold time that is not a duration")
	}
}

var recordName = regexp.MustCompile(`^[a-z_]+:[a-z_]+:[a-z0-9_]+$`)

func TestRecordingRulesFollowLevelMetricOperation(t *testing.T) {
	for _, r := range allRules(t, Production()) {
		if r.Record == "" {
			continue
		}
		if !recordName.MatchString(r.Record) || !strings.HasPrefix(r.Record, "group:flexus_") {
			t.Errorf("recording rule %q is not named group:flexus_<metric>:<operation>", r.Record)
		}
	}
}

// runbookAnchors returns the GitHub anchors of the headings in docs/runbooks.md.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(repoPath("docs/runbooks.md"))
	if err != nil {
		t.Fatalf("every alert links into docs/runbooks.md: %v", err)
	}
	anchors := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var a strings.Builder
		for _, r := range heading {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				a.WriteRune(r)
			case r == ' ':
				a.WriteRune('-')
			}
		}
		anchors[a.String()] = true
	}
	return anchors
}

func TestEveryAlertIsDocumented(t *testing.T) {
	anchors := runbookAnchors(t)
	for _, r := range allRules(t, Production()) {
		if r.Alert == "" {
			continue
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s has no %s annotation", r.Alert, a)
			}
		}
		url := r.Annotations["runbook_url"]
		base, anchor, _ := strings.Cut(url, "#")
		if base != RunbookBase || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q does not point at a heading of docs/runbooks.md", r.Alert, url)
		}
		if anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook anchor %q is not the alert's own heading", r.Alert, anchor)
		}
		if r.Labels["severity"] == "" {
			t.Errorf("%s has no severity label", r.Alert)
		}
	}
}

func TestActionAlertsNameTheirGroupAndTarget(t *testing.T) {
	actions := map[string]int{}
	for _, r := range allRules(t, Production()) {
		action, ok := r.Labels["action"]
		if !ok {
			continue
		}
		if r.Alert == "" {
			t.Errorf("recording rule %s carries an action label", r.Record)
			continue
		}
		actions[action]++
		if action != "scale_out" && action != "scale_in" {
			t.Errorf("%s: action %q is neither scale_out nor scale_in", r.Alert, action)
		}
		if r.Annotations["flexus_target"] == "" && r.Annotations["flexus_step"] == "" {
			t.Errorf("%s acts on a group but carries neither flexus_target nor flexus_step", r.Alert)
		}
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
		if err != nil {
			t.Fatalf("%s: %v", r.Alert, err)
		}
		if !keepsLabel(expr, "group") {
			t.Errorf("%s carries action=%s but its expression can drop the group label", r.Alert, action)
		}
	}
	if actions["scale_out"] == 0 || actions["scale_in"] == 0 {
		t.Errorf("want alerts for both directions, have %v", actions)
	}
}

// keepsLabel reports whether every series an expression returns keeps the
// label, following the result labels through aggregations and binary
// operators. Selectors of flexus metrics and group-level recording rules
// carry group by contract (docs/metrics.md).
func keepsLabel(e parser.Expr, label string) bool {
	switch e := e.(type) {
	case *parser.ParenExpr:
		return keepsLabel(e.Expr, label)
	case *parser.AggregateExpr:
		return !e.Without && slices.Contains(e.Grouping, label) && keepsLabel(e.Expr, label)
	case *parser.VectorSelector:
		return label == "group" && (strings.HasPrefix(e.Name, "group:") || strings.HasPrefix(e.Name, "flexus_group_"))
	case *parser.BinaryExpr:
		switch {
		case e.Op == parser.LOR:
			return keepsLabel(e.LHS, label) && keepsLabel(e.RHS, label)
		case e.VectorMatching != nil && e.VectorMatching.Card == parser.CardOneToMany:
			return keepsLabel(e.RHS, label)
		default:
			return keepsLabel(e.LHS, label)
		}
	}
	return false
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool", "prometheus")
	args := []string{"check", "rules"}
	for _, p := range Profiles() {
		args = append(args, ruleFiles(p)...)
	}
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := testenv.Binary(t, "promtool", "prometheus")
	tests, err := filepath.Glob("tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in rules/tests: %v", err)
	}
	out, err := exec.Command(promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// unitTests is the part of a promtool test file this package checks.
type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name      string `yaml:"name"`
		AlertTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		ExprTest []struct {
			Expr       string           `yaml:"expr"`
			ExpSamples []map[string]any `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

func TestEveryRuleHasAFiringAndAQuietCase(t *testing.T) {
	fired, quiet, recorded := map[string]bool{}, map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob("tests/*.yml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTests
		if err := yaml.Unmarshal(b, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range u.Tests {
			for _, a := range tc.AlertTest {
				if len(a.ExpAlerts) > 0 {
					fired[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
			for _, e := range tc.ExprTest {
				if len(e.ExpSamples) > 0 {
					recorded[e.Expr] = true
				}
			}
		}
	}
	for _, r := range allRules(t, Production()) {
		switch {
		case r.Record != "" && !recorded[r.Record]:
			t.Errorf("recording rule %s has no promql_expr_test with samples in rules/tests", r.Record)
		case r.Alert != "" && !fired[r.Alert]:
			t.Errorf("alert %s has no test in rules/tests where it fires", r.Alert)
		case r.Alert != "" && !quiet[r.Alert]:
			t.Errorf("alert %s has no test in rules/tests where it stays silent", r.Alert)
		}
	}
}

func TestKeepsLabelFollowsResultLabels(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`group:flexus_recommended_instances:bounded > on (group) max by (group) (flexus_group_desired_instances)`, true},
		{`(group:flexus_signal_ratio:max < 1) unless on (group) group:flexus_signal_unusable:present`, true},
		{`max by (group) (flexus_group_desired_instances) or on (group) group:flexus_signal_ratio:max`, true},
		{`sum(flexus_group_desired_instances)`, false},
		{`max without (group) (flexus_group_desired_instances)`, false},
		{`vector(1) * on () group_right flexus_group_desired_instances`, true},
		{`flexus_group_desired_instances or vector(1)`, false},
		{`up == 0`, false},
	} {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := keepsLabel(e, "group"); got != tc.want {
			t.Errorf("keepsLabel(%s) = %v, want %v", tc.expr, got, tc.want)
		}
	}
}
