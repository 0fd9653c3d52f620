package tune

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

// Options describe a search.
type Options struct {
	// Config is the config file's text; nil means the backtest's built-in
	// group (the seed article's defaults, 1..20 instances).
	Config []byte
	// Group names the group to tune (default: the first).
	Group string
	// LoadRules loads the rule files once per worker: a rule set keeps alert
	// state and is not shared between concurrent replays.
	LoadRules func() (*backtest.Rules, error)
	// Backtest is the replay's template (peak, Alertmanager timing, SLO);
	// its Config, Group and Rules are set per run.
	Backtest backtest.Options
	// Ranges default to SeedRanges; Knobs to KnobsFor(the group's policy).
	Ranges map[Knob]Range
	Knobs  []Knob
	// Refinements is how many times the two best points are refined with
	// half the step (default 1).
	Refinements int
	// Parallel bounds the replays at once (default GOMAXPROCS).
	Parallel int
}

// Outcome is one configuration's replay.
type Outcome struct {
	Settings          map[Knob]float64 `json:"settings"`
	InstanceHours     float64          `json:"instance_hours"`
	CostRatioToOracle float64          `json:"cost_ratio_to_oracle"`
	ViolationMinutes  int              `json:"slo_violation_minutes"`
	ScalingActions    int              `json:"scaling_actions"`
	point             Point
}

// Recommendation is the outcome to adopt and the YAML that adopts it.
type Recommendation struct {
	Outcome
	// Changed is false when nothing tried beat the present config.
	Changed bool `json:"changed"`
	// Config is the fragment to paste into the group (its name and signals).
	Config string `json:"config"`
}

// Result is what tune found.
type Result struct {
	Trace       string         `json:"trace"`
	Group       string         `json:"group"`
	Policy      string         `json:"policy"`
	Days        float64        `json:"days"`
	Runs        int            `json:"runs"`
	Default     Outcome        `json:"default"`
	Recommended Recommendation `json:"recommended"`
	// Frontier is every outcome no other beats on both cost and violation
	// minutes, cheapest first.
	Frontier []Outcome `json:"frontier"`
	// full is the config file with the recommendation applied.
	full []byte
}

// Written is the whole config file with the recommendation applied.
func (r *Result) Written() []byte { return r.full }

// Run searches the knobs over tr and recommends the cheapest configuration
// that is no worse than the present one on violation minutes, or on cost when
// it has fewer violations; strictly better on at least one.
func Run(ctx context.Context, tr trace.Series, opts Options) (*Result, error) {
	src := opts.Config
	if src == nil {
		src = []byte(builtinConfig)
	}
	base, err := config.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	if opts.Group == "" {
		opts.Group = base.Groups[0].Name
	}
	g, ok := base.Group(opts.Group)
	if !ok {
		return nil, fmt.Errorf("tune: group %q is not in the config", opts.Group)
	}
	if opts.LoadRules == nil {
		return nil, fmt.Errorf("tune: no rules: give the rule files the group is alerted by")
	}
	if opts.Ranges == nil {
		opts.Ranges = SeedRanges()
	}
	if opts.Knobs == nil {
		opts.Knobs = KnobsFor(g.Policy)
	}
	if opts.Refinements == 0 {
		opts.Refinements = 1
	}
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.GOMAXPROCS(0)
	}
	policy := backtest.Policy(g.Policy)
	s := &search{ctx: ctx, tr: tr, src: src, group: opts.Group, policy: policy, opts: opts, seen: map[string]*Outcome{}}
	s.rules = make(chan *backtest.Rules, opts.Parallel)
	for range opts.Parallel {
		r, err := opts.LoadRules()
		if err != nil {
			return nil, err
		}
		s.rules <- r
	}
	oo := opts.Backtest
	oo.Config, oo.Group = base, opts.Group
	oracle, err := backtest.Run(ctx, tr, []backtest.Policy{backtest.PolicyOracle}, oo)
	if err != nil {
		return nil, err
	}
	s.oracleHours = oracle.Figures[backtest.PolicyOracle].InstanceHours

	def := Current(g, opts.Knobs)
	points := append([]Point{def}, grid(opts.Knobs, g, opts.Ranges)...)
	if err := s.evaluate(points); err != nil {
		return nil, err
	}
	defOut := *s.seen[def.Key()]
	step := 0.5
	for range opts.Refinements {
		var next []Point
		for _, o := range s.leaders(defOut, 2) {
			next = append(next, neighbours(o.point, opts.Knobs, g, opts.Ranges, step)...)
		}
		if err := s.evaluate(next); err != nil {
			return nil, err
		}
		step /= 2
	}

	res := &Result{Trace: tr.Name, Group: opts.Group, Policy: string(policy), Days: tr.End().Sub(tr.Start).Hours() / 24,
		Runs: len(s.seen), Default: defOut, Frontier: s.frontier()}
	best, changed := defOut, false
	if l := s.leaders(defOut, 1); len(l) > 0 && dominates(l[0], defOut) {
		best, changed = l[0], true
	}
	res.Recommended = Recommendation{Outcome: best, Changed: changed, Config: fragment(opts.Group, best.point)}
	res.full, err = apply(src, opts.Group, best.point)
	if err != nil {
		return nil, err
	}
	return res, nil
}

type search struct {
	ctx         context.Context
	tr          trace.Series
	src         []byte
	group       string
	policy      backtest.Policy
	opts        Options
	rules       chan *backtest.Rules
	oracleHours float64

	mu   sync.Mutex
	seen map[string]*Outcome
}

// evaluate replays the points not seen yet, at most Parallel at once.
func (s *search) evaluate(points []Point) error {
	var todo []Point
	s.mu.Lock()
	for _, p := range points {
		if _, ok := s.seen[p.Key()]; !ok {
			s.seen[p.Key()] = nil
			todo = append(todo, p)
		}
	}
	s.mu.Unlock()
	errs := make(chan error, len(todo))
	var wg sync.WaitGroup
	for _, p := range todo {
		rules := <-s.rules
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { s.rules <- rules }()
			o, err := s.replay(p, rules)
			if err != nil {
				errs <- err
				return
			}
			s.mu.Lock()
			s.seen[p.Key()] = o
			s.mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (s *search) replay(p Point, rules *backtest.Rules) (*Outcome, error) {
	text, err := apply(s.src, s.group, p)
	if err != nil {
		return nil, err
	}
	c, err := config.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("tune: %s: %w", p.Key(), err)
	}
	o := s.opts.Backtest
	o.Config, o.Group, o.Rules = c, s.group, rules
	res, err := backtest.Run(s.ctx, s.tr, []backtest.Policy{s.policy}, o)
	if err != nil {
		return nil, fmt.Errorf("tune: %s: %w", p.Key(), err)
	}
	f := res.Figures[s.policy]
	out := &Outcome{Settings: map[Knob]float64(p), InstanceHours: f.InstanceHours, ViolationMinutes: f.ViolationMinutes,
		ScalingActions: f.ScalingActions, point: p}
	if s.oracleHours > 0 {
		out.CostRatioToOracle = f.InstanceHours / s.oracleHours
	}
	return out, nil
}

func (s *search) outcomes() []Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Outcome
	for _, o := range s.seen {
		if o != nil {
			out = append(out, *o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].InstanceHours != out[j].InstanceHours {
			return out[i].InstanceHours < out[j].InstanceHours
		}
		if out[i].ViolationMinutes != out[j].ViolationMinutes {
			return out[i].ViolationMinutes < out[j].ViolationMinutes
		}
		return out[i].point.Key() < out[j].point.Key()
	})
	return out
}

// dominates: a is no worse than b on cost and violations, better on one.
func dominates(a, b Outcome) bool {
	const eps = 1e-9
	noWorse := a.InstanceHours <= b.InstanceHours+eps && a.ViolationMinutes <= b.ViolationMinutes
	better := a.InstanceHours < b.InstanceHours-eps || a.ViolationMinutes < b.ViolationMinutes
	return noWorse && better
}

// leaders are the n best points that dominate def, best first: the most
// saved of cost and violation minutes, each relative to def's. When none
// dominates, the frontier points nearest def lead the refinement instead.
func (s *search) leaders(def Outcome, n int) []Outcome {
	var dom []Outcome
	for _, o := range s.outcomes() {
		if dominates(o, def) {
			dom = append(dom, o)
		}
	}
	gain := func(o Outcome) float64 {
		g := 0.0
		if def.InstanceHours > 0 {
			g += (def.InstanceHours - o.InstanceHours) / def.InstanceHours
		}
		g += float64(def.ViolationMinutes-o.ViolationMinutes) / float64(max(def.ViolationMinutes, 1))
		return g
	}
	if len(dom) == 0 {
		dom = s.frontier()
		sort.SliceStable(dom, func(i, j int) bool { return distance(dom[i], def) < distance(dom[j], def) })
	} else {
		sort.SliceStable(dom, func(i, j int) bool { return gain(dom[i]) > gain(dom[j]) })
	}
	return dom[:min(n, len(dom))]
}

func distance(a, b Outcome) float64 {
	dc := (a.InstanceHours - b.InstanceHours) / max(b.InstanceHours, 1)
	dv := float64(a.ViolationMinutes-b.ViolationMinutes) / float64(max(b.ViolationMinutes, 1))
	return dc*dc + dv*dv
}

// frontier is the outcomes no other dominates, cheapest first; of settings
// that replay identically only the first (in key order) is kept.
func (s *search) frontier() []Outcome {
	all := s.outcomes()
	var out []Outcome
	for i, o := range all {
		if i > 0 && all[i-1].InstanceHours == o.InstanceHours && all[i-1].ViolationMinutes == o.ViolationMinutes {
			continue
		}
		beaten := false
		for _, p := range all {
			if dominates(p, o) {
				beaten = true
				break
			}
		}
		if !beaten {
			out = append(out, o)
		}
	}
	return out
}
