package backtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Prometheus's own constants for alert state, copied because importing its
// rules package would pull in every service-discovery SDK.
const (
	lookbackDelta     = 5 * time.Minute
	resolvedRetention = 15 * time.Minute
)

// RuleOptions tune how rule files are evaluated.
type RuleOptions struct {
	// EvalInterval is Prometheus's evaluation_interval, used by groups that set none (default 1m).
	EvalInterval time.Duration
	// ResendDelay is Prometheus's --rules.alert.resend-delay (default 1m).
	ResendDelay time.Duration
	// ActionOnly evaluates only the alerts carrying an `action` label (the ones
	// the actuator acts on) and the recording rules they read, transitively.
	// The other alerts are for people and change nothing in a backtest.
	ActionOnly bool
	Logger     *slog.Logger
}

func (o RuleOptions) withDefaults() RuleOptions {
	if o.EvalInterval <= 0 {
		o.EvalInterval = time.Minute
	}
	if o.ResendDelay <= 0 {
		o.ResendDelay = time.Minute
	}
	if o.Logger == nil {
		o.Logger = promslog.NewNopLogger()
	}
	return o
}

// Rules is a set of Prometheus rule files evaluated by Prometheus's own PromQL
// engine over an in-memory store, with the alerting rules' pending and firing
// state kept as Prometheus keeps it.
type Rules struct {
	opts   RuleOptions
	engine *promql.Engine
	groups []*ruleGroup
	// Retention is how much history the rules read: the longest range or
	// offset in any expression plus the lookback delta.
	Retention time.Duration
	files     []string
}

type ruleGroup struct {
	name     string
	file     string
	interval time.Duration
	rules    []*rule
	last     time.Time
}

type rule struct {
	record string // recording rule
	alert  string // alerting rule
	expr   string
	hold   time.Duration
	keep   time.Duration
	labels map[string]string
	annots map[string]string
	// tmpl caches the parsed templates of labels and annotations.
	tmpl map[string]*template.Template

	active map[uint64]*ruleAlert

	// A pure rule reads only the instant values of its selectors, so while
	// they are unchanged its result is too and the query is skipped.
	pure  bool
	sels  []selector
	snap  []snapEntry
	last  promql.Vector
	valid bool
}

type snapEntry struct {
	s *memSeries
	v uint64
}

// ruleAlert is one alert instance of an alerting rule, as rules.Alert.
type ruleAlert struct {
	Labels      labels.Labels
	Annotations map[string]string
	Value       float64
	State       AlertState
	ActiveAt    time.Time
	FiredAt     time.Time
	ResolvedAt  time.Time
	LastSentAt  time.Time
	ValidUntil  time.Time
	KeepSince   time.Time
}

// AlertState is an alert's state in Prometheus.
type AlertState int

// Alert states, as in Prometheus.
const (
	StateInactive AlertState = iota
	StatePending
	StateFiring
)

func (s AlertState) String() string {
	return [...]string{"inactive", "pending", "firing"}[s]
}

// Alert is what Prometheus sends to Alertmanager.
type Alert struct {
	Labels      labels.Labels
	Annotations map[string]string
	StartsAt    time.Time
	EndsAt      time.Time
	Value       float64
}

// LoadRules reads every *.yml and *.yaml file in dir (not recursively), in name order.
func LoadRules(dir string, opts RuleOptions) (*Rules, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("backtest: rules %s: %w", dir, err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("backtest: no rule files (*.yml) in %s: pass --rules with the project's rules/ directory", dir)
	}
	return LoadRuleFiles(files, opts)
}

// LoadRuleFiles reads the named rule files, validated as promtool check rules does.
func LoadRuleFiles(files []string, opts RuleOptions) (*Rules, error) {
	contents := make([]RuleFile, 0, len(files))
	for _, f := range files {
		content, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		contents = append(contents, RuleFile{Name: f, Content: content})
	}
	return LoadRuleContents(contents, opts)
}

// RuleFile is one rule file's name and text.
type RuleFile struct {
	Name    string
	Content []byte
}

// LoadRuleContents is LoadRuleFiles for rules held in memory: the exporter
// replays advice with the rules it renders from package rules, since it may
// run where no rules/ directory is.
func LoadRuleContents(contents []RuleFile, opts RuleOptions) (*Rules, error) {
	opts = opts.withDefaults()
	p := parser.NewParser(parser.Options{})
	files := make([]string, 0, len(contents))
	for _, c := range contents {
		files = append(files, c.Name)
	}
	r := &Rules{opts: opts, files: files}
	for _, rf := range contents {
		f, content := rf.Name, rf.Content
		rgs, errs := rulefmt.Parse(content, false, model.UTF8Validation, p, opts.Logger)
		if len(errs) > 0 {
			return nil, fmt.Errorf("backtest: rule file %s: %w", f, errors.Join(errs...))
		}
		for _, g := range rgs.Groups {
			rg := &ruleGroup{name: g.Name, file: f, interval: time.Duration(g.Interval)}
			if rg.interval == 0 {
				rg.interval = opts.EvalInterval
			}
			for _, ru := range g.Rules {
				x := &rule{record: ru.Record, alert: ru.Alert, expr: ru.Expr,
					hold: time.Duration(ru.For), keep: time.Duration(ru.KeepFiringFor),
					labels: map[string]string{}, annots: ru.Annotations,
					tmpl: map[string]*template.Template{}, active: map[uint64]*ruleAlert{}}
				for k, v := range g.Labels {
					x.labels[k] = v
				}
				for k, v := range ru.Labels {
					x.labels[k] = v
				}
				rg.rules = append(rg.rules, x)
			}
			r.groups = append(r.groups, rg)
		}
	}
	if opts.ActionOnly {
		r.keepActionClosure(p)
		if len(r.groups) == 0 {
			return nil, fmt.Errorf("backtest: no alerting rule in %s carries an action label (scale_out or scale_in): the actuator would never be called; pass --rules with the project's rules/", strings.Join(files, ", "))
		}
	}
	// Groups that only record run first at a timestamp, so alerts read this
	// evaluation's results (Prometheus staggers groups; this is the fair order).
	sort.SliceStable(r.groups, func(i, j int) bool { return r.groups[i].recordOnly() && !r.groups[j].recordOnly() })

	var longest time.Duration
	for _, g := range r.groups {
		for _, ru := range g.rules {
			e, err := p.ParseExpr(ru.expr)
			if err != nil {
				return nil, fmt.Errorf("backtest: rule %s: %w", ru.name(), err)
			}
			longest = max(longest, exprReach(e))
			ru.pure, ru.sels = purity(e)
		}
	}
	r.Retention = longest + lookbackDelta + 2*opts.EvalInterval

	r.engine = promql.NewEngine(promql.EngineOpts{
		Logger:               opts.Logger,
		MaxSamples:           10_000_000,
		Timeout:              time.Minute,
		LookbackDelta:        lookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               newCachingParser(p),
	})
	return r, nil
}

func (g *ruleGroup) recordOnly() bool {
	for _, r := range g.rules {
		if r.alert != "" {
			return false
		}
	}
	return true
}

func (r *rule) name() string {
	if r.record != "" {
		return r.record
	}
	return r.alert
}

// exprReach is how far back an expression reads: ranges, offsets and subqueries.
func exprReach(e parser.Expr) time.Duration {
	var reach time.Duration
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		var d time.Duration
		for _, p := range append(path, n) {
			switch x := p.(type) {
			case *parser.MatrixSelector:
				d += x.Range
			case *parser.SubqueryExpr:
				d += x.Range + x.OriginalOffset
			case *parser.VectorSelector:
				d += x.OriginalOffset
			}
		}
		reach = max(reach, d)
		return nil
	})
	return reach
}

// keepActionClosure drops every alert without an `action` label and every
// recording rule none of the kept alerts reads, directly or through others.
func (r *Rules) keepActionClosure(p parser.Parser) {
	recorded := map[string]*rule{}
	for _, g := range r.groups {
		for _, ru := range g.rules {
			if ru.record != "" {
				recorded[ru.record] = ru
			}
		}
	}
	keep := map[*rule]bool{}
	var visit func(ru *rule)
	visit = func(ru *rule) {
		if keep[ru] {
			return
		}
		keep[ru] = true
		e, err := p.ParseExpr(ru.expr)
		if err != nil {
			return // reported when the rules are parsed again below
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if dep, ok := recorded[vs.Name]; ok {
					visit(dep)
				}
			}
			return nil
		})
	}
	for _, g := range r.groups {
		for _, ru := range g.rules {
			if ru.alert != "" && ru.labels["action"] != "" {
				visit(ru)
			}
		}
	}
	groups := r.groups[:0]
	for _, g := range r.groups {
		kept := g.rules[:0]
		for _, ru := range g.rules {
			if keep[ru] {
				kept = append(kept, ru)
			}
		}
		g.rules = kept
		if len(kept) > 0 {
			groups = append(groups, g)
		}
	}
	r.groups = groups
}

// RuleNames lists the rules that are evaluated, in order.
func (r *Rules) RuleNames() []string {
	var out []string
	for _, g := range r.groups {
		for _, ru := range g.rules {
			out = append(out, ru.name())
		}
	}
	return out
}

// Reset forgets every alert's state, for a new run over the same rules.
func (r *Rules) Reset() {
	for _, g := range r.groups {
		g.last = time.Time{}
		for _, ru := range g.rules {
			ru.active = map[uint64]*ruleAlert{}
			ru.snap, ru.last, ru.valid = nil, nil, false
		}
	}
}

// eval evaluates the groups due at ts, writes recording rules back into st and returns the
// alerts Prometheus would send to Alertmanager at ts.
func (r *Rules) eval(ctx context.Context, st *memStore, ts time.Time) ([]Alert, error) {
	var out []Alert
	ms := ts.UnixMilli()
	for _, g := range r.groups {
		// Due once per interval from the group's first evaluation, as
		// Prometheus runs a group on its own offset.
		if !g.last.IsZero() && ts.Sub(g.last) < g.interval {
			continue
		}
		g.last = ts
		for _, ru := range g.rules {
			vec, err := r.evalExpr(ctx, st, ru, ts)
			if err != nil {
				return nil, fmt.Errorf("backtest: rule %s (group %s, %s) at %s: %w", ru.name(), g.name, g.file, ts.UTC().Format(time.RFC3339), err)
			}
			if ru.record != "" {
				st.write("rule/"+g.name+"/"+ru.record, ms, ru.recordSamples(vec))
				continue
			}
			if err := ru.evalAlert(vec, ts); err != nil {
				return nil, fmt.Errorf("backtest: alert %s: %w", ru.alert, err)
			}
			out = append(out, ru.toSend(ts, r.opts.ResendDelay, g.interval)...)
		}
	}
	return out, nil
}

// evalExpr evaluates a rule's expression at ts, reusing the last result of a
// pure rule whose inputs have not changed.
func (r *Rules) evalExpr(ctx context.Context, st *memStore, ru *rule, ts time.Time) (promql.Vector, error) {
	if !ru.pure {
		return r.query(ctx, st, ru.expr, ts)
	}
	cur := st.snapshot(ru.sels, ts.UnixMilli(), ru.snap[:0:0])
	if ru.valid && slices.Equal(cur, ru.snap) {
		return ru.last, nil
	}
	vec, err := r.query(ctx, st, ru.expr, ts)
	if err != nil {
		return nil, err
	}
	ru.snap, ru.last, ru.valid = cur, vec, true
	return vec, nil
}

func (r *Rules) query(ctx context.Context, st *memStore, expr string, ts time.Time) (promql.Vector, error) {
	q, err := r.engine.NewInstantQuery(ctx, st, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return append(promql.Vector(nil), v...), nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V, Metric: labels.EmptyLabels()}}, nil
	}
	return nil, fmt.Errorf("rule result is a %s, want a vector", res.Value.Type())
}

func (ru *rule) recordSamples(vec promql.Vector) []Sample {
	out := make([]Sample, 0, len(vec))
	seen := map[uint64]bool{}
	for _, s := range vec {
		if s.H != nil {
			continue
		}
		b := labels.NewBuilder(s.Metric)
		b.Set(labels.MetricName, ru.record)
		for k, v := range ru.labels {
			b.Set(k, v)
		}
		l := b.Labels()
		// Prometheus refuses a result with duplicate series; keep the first.
		if h := l.Hash(); !seen[h] {
			seen[h] = true
			out = append(out, Sample{Labels: l, Value: s.F})
		}
	}
	return out
}

// evalAlert follows rules.AlertingRule.Eval.
func (ru *rule) evalAlert(vec promql.Vector, ts time.Time) error {
	result := map[uint64]*ruleAlert{}
	for _, s := range vec {
		data := tmplData{Labels: s.Metric.Map(), Value: s.F}
		delete(data.Labels, labels.MetricName)
		b := labels.NewBuilder(s.Metric)
		b.Del(labels.MetricName)
		for k, v := range ru.labels {
			b.Set(k, ru.expand(k, v, data))
		}
		b.Set(labels.AlertName, ru.alert)
		ann := make(map[string]string, len(ru.annots))
		for k, v := range ru.annots {
			ann[k] = ru.expand("annotation/"+k, v, data)
		}
		l := b.Labels()
		h := l.Hash()
		if _, dup := result[h]; dup {
			return errors.New("vector contains metrics with the same labelset after applying alert labels")
		}
		result[h] = &ruleAlert{Labels: l, Annotations: ann, ActiveAt: ts, State: StatePending, Value: s.F}
	}
	for h, a := range result {
		if cur, ok := ru.active[h]; ok && cur.State != StateInactive {
			cur.Value, cur.Annotations = a.Value, a.Annotations
			continue
		}
		ru.active[h] = a
	}
	for h, a := range ru.active {
		if _, ok := result[h]; !ok {
			keep := false
			if a.State == StateFiring && ru.keep > 0 {
				if a.KeepSince.IsZero() {
					a.KeepSince = ts
				}
				keep = ts.Sub(a.KeepSince) < ru.keep
			}
			if a.State == StatePending || (!a.ResolvedAt.IsZero() && ts.Sub(a.ResolvedAt) > resolvedRetention) {
				delete(ru.active, h)
			}
			if a.State != StateInactive && !keep {
				a.State = StateInactive
				a.ResolvedAt = ts
			}
			if !keep {
				continue
			}
		} else {
			a.KeepSince = time.Time{}
		}
		if a.State == StatePending && ts.Sub(a.ActiveAt) >= ru.hold {
			a.State = StateFiring
			a.FiredAt = ts
		}
	}
	return nil
}

// toSend follows AlertingRule.sendAlerts and rules.SendAlerts, in label order
// so runs are deterministic.
func (ru *rule) toSend(ts time.Time, resendDelay, interval time.Duration) []Alert {
	var out []Alert
	for _, a := range ru.active {
		if a.State == StatePending {
			continue
		}
		if !a.ResolvedAt.After(a.LastSentAt) && !a.LastSentAt.Add(resendDelay).Before(ts) {
			continue
		}
		a.LastSentAt = ts
		a.ValidUntil = ts.Add(4 * max(interval, resendDelay))
		s := Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.FiredAt, EndsAt: a.ValidUntil, Value: a.Value}
		if !a.ResolvedAt.IsZero() {
			s.EndsAt = a.ResolvedAt
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out
}

// activeAlerts lists the rule's alerts, for tests and the report.
func (r *Rules) activeAlerts() map[string][]ruleAlert {
	out := map[string][]ruleAlert{}
	for _, g := range r.groups {
		for _, ru := range g.rules {
			for _, a := range ru.active {
				out[ru.alert] = append(out[ru.alert], *a)
			}
		}
	}
	return out
}

type tmplData struct {
	Labels map[string]string
	Value  float64
}

// expand renders an alert label or annotation the way Prometheus does, with
// $labels and $value and the humanize functions; an error renders as
// Prometheus renders it.
func (ru *rule) expand(key, text string, data tmplData) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	t, ok := ru.tmpl[key]
	if !ok {
		var err error
		t, err = template.New(key).Option("missingkey=zero").Funcs(tmplFuncs()).
			Parse("{{$labels := .Labels}}{{$value := .Value}}{{$externalLabels := .Labels}}" + text)
		if err != nil {
			t = nil
		}
		ru.tmpl[key] = t
	}
	if t == nil {
		return "<error expanding template: parse>"
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Sprintf("<error expanding template: %s>", err)
	}
	return buf.String()
}

func tmplFuncs() template.FuncMap {
	return template.FuncMap{
		"humanize": func(v float64) string {
			if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Sprintf("%.4g", v)
			}
			return strconv.FormatFloat(v, 'g', 4, 64)
		},
		"humanizePercentage": func(v float64) string { return fmt.Sprintf("%.4g%%", v*100) },
		"humanizeDuration":   func(v float64) string { return model.Duration(time.Duration(v * float64(time.Second))).String() },
		"toUpper":            strings.ToUpper,
		"toLower":            strings.ToLower,
		"title":              strings.ToTitle,
	}
}

// seriesFilter says which series the evaluated rules can read: those that
// match at least one of their selectors. Storing only these keeps the store
// (and every query's scan) tiny.
type seriesFilter struct {
	all    bool
	byName map[string][][]*labels.Matcher
}

func (f *seriesFilter) keeps(l labels.Labels) bool {
	if f.all {
		return true
	}
	for _, ms := range f.byName[l.Get(labels.MetricName)] {
		if matchesAll(l, ms) {
			return true
		}
	}
	return false
}

// filter builds the seriesFilter of the evaluated rules.
func (r *Rules) filter() *seriesFilter {
	p := parser.NewParser(parser.Options{})
	f := &seriesFilter{byName: map[string][][]*labels.Matcher{}}
	for _, g := range r.groups {
		for _, ru := range g.rules {
			e, err := p.ParseExpr(ru.expr)
			if err != nil {
				f.all = true
				continue
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					if vs.Name == "" {
						f.all = true
					} else {
						f.byName[vs.Name] = append(f.byName[vs.Name], vs.LabelMatchers)
					}
				}
				return nil
			})
		}
	}
	return f
}

// purity says whether an expression depends only on the instant values of its
// selectors (no ranges, offsets, @, subqueries or functions of time), and
// returns those selectors.
func purity(e parser.Expr) (bool, []selector) {
	pure := true
	var sels []selector
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		switch x := n.(type) {
		case *parser.MatrixSelector, *parser.SubqueryExpr, *parser.DurationExpr, *parser.StepInvariantExpr:
			pure = false
		case *parser.VectorSelector:
			if x.Timestamp != nil || x.StartOrEnd != 0 || x.OriginalOffset != 0 || x.OriginalOffsetExpr != nil || x.Name == "" {
				pure = false
			}
			sels = append(sels, selector{matchers: x.LabelMatchers, presenceOnly: presenceOnly(x, path)})
		case *parser.Call:
			switch x.Func.Name {
			case "time", "timestamp", "minute", "hour", "day_of_month", "day_of_week", "day_of_year",
				"days_in_month", "month", "year", "start", "end", "range", "step", "info":
				pure = false
			}
		}
		return nil
	})
	return pure, sels
}

// selector is one vector selector of a rule; presenceOnly when its values
// cannot change the result (it is the right-hand side of `and` or `unless`).
type selector struct {
	matchers     []*labels.Matcher
	presenceOnly bool
}

func presenceOnly(vs *parser.VectorSelector, path []parser.Node) bool {
	var child parser.Node = vs
	for i := len(path) - 1; i >= 0; i-- {
		switch p := path[i].(type) {
		case *parser.ParenExpr:
			child = p
			continue
		case *parser.BinaryExpr:
			return (p.Op == parser.LAND || p.Op == parser.LUNLESS) && p.RHS == child
		}
		return false
	}
	return false
}
