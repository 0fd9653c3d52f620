package tune

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
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
	// Ranges default to SeedRanges; Knobs, the primary knobs searched on a
	// grid, to KnobsFor(the group's policy); Extra, the knobs only the
	// compass search moves, to ExtraKnobsFor(the policy) (empty: none).
	Ranges map[Knob]Range
	Knobs  []Knob
	Extra  []Knob
	// Refinements is how many times the two best points are refined with
	// half the step (default 1).
	Refinements int
	// Budget bounds the replays of the whole search (default DefaultBudget):
	// the grid and its refinement first, the compass search with the rest.
	Budget int
	// Parallel bounds the replays at once (default GOMAXPROCS).
	Parallel int
}

// DefaultBudget is the replays a search makes at most: the grid and its
// refinement take about 20, the compass search the rest.
const DefaultBudget = 150

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
	Trace  string  `json:"trace"`
	Group  string  `json:"group"`
	Policy string  `json:"policy"`
	Days   float64 `json:"days"`
	Runs   int     `json:"runs"`
	// Budget is the most replays the search was allowed.
	Budget      int            `json:"budget"`
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

// Run searches the knobs over tr and recommends a configuration that
// dominates the present one: no worse on cost nor on violation minutes, and
// strictly better on one. Among those it picks the best trade, the greatest
// sum of the relative savings (instance-hours over the default's, violation
// minutes over the default's or 1); when none dominates it keeps the present
// config.
//
// The search is a grid over the primary knobs, refined with half the step
// around the two leaders; then every knob (primary and extra) is moved a
// step either way from the default, pairs of moves predicted to dominate are
// tried, and a compass search polishes the best; memoised, within Budget
// replays.
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
	if opts.Extra == nil {
		opts.Extra = ExtraKnobsFor(g.Policy)
	}
	all := append(slices.Clone(opts.Knobs), opts.Extra...)
	for _, k := range all {
		if _, ok := opts.Ranges[k]; !ok {
			return nil, fmt.Errorf("tune: knob %q has no range: give one in Options.Ranges", k)
		}
	}
	if opts.Refinements == 0 {
		opts.Refinements = 1
	}
	if opts.Budget <= 0 {
		opts.Budget = DefaultBudget
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

	// Every point carries every knob, the default's where the search leaves
	// it, so that one config has one key.
	def := Current(g, all)
	if err := s.evaluate([]Point{def}); err != nil {
		return nil, err
	}
	defOut := *s.seen[def.Key()]
	if err := s.evaluate(s.within(grid(def, opts.Knobs, g, opts.Ranges))); err != nil {
		return nil, err
	}
	step := 0.5
	for range opts.Refinements {
		var next []Point
		for _, o := range s.leaders(defOut, 2) {
			next = append(next, neighbours(o.point, opts.Knobs, g, opts.Ranges, step)...)
		}
		if err := s.evaluate(s.within(next)); err != nil {
			return nil, err
		}
		step /= 2
	}
	if err := s.compass(defOut, g, directions(all)); err != nil {
		return nil, err
	}

	res := &Result{Trace: tr.Name, Group: opts.Group, Policy: string(policy), Days: tr.End().Sub(tr.Start).Hours() / 24,
		Runs: s.runs(), Budget: opts.Budget, Default: defOut, Frontier: s.frontier()}
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

// compass looks for a config that dominates def across every knob, in
// three steps. It moves each direction a step either way from the default,
// which measures what each knob alone trades. It then combines two moves
// already replayed on different knobs (the grid's included) whose effects,
// added, are predicted to beat the default on both counts: one knob that
// saves cost for violations with another that buys violations back more
// cheaply, the trade the 2-D frontier alone cannot make. The best point so
// far then leads a compass search with what is left of the budget.
func (s *search) compass(def Outcome, g *config.Group, dirs []direction) error {
	var sweep []Point
	for _, d := range dirs {
		for _, sign := range []float64{-1, 1} {
			if q, ok := move(def.point, d, sign, 1, g, s.opts.Ranges); ok {
				sweep = append(sweep, q)
			}
		}
	}
	if err := s.evaluate(s.within(sweep)); err != nil {
		return err
	}
	left := s.opts.Budget - s.runs()
	if err := s.evaluate(s.within(s.pairs(def, g, left/2))); err != nil {
		return err
	}
	// The best point besides the default: the best trade when one
	// dominates, else the one nearest to dominating.
	var best *Outcome
	for _, o := range s.outcomes() {
		if o.point.Key() != def.point.Key() && (best == nil || objective(o, def) < objective(*best, def)-1e-12) {
			best = &o
		}
	}
	if best == nil {
		return nil
	}
	return s.descend(best.point, def, g, dirs, s.opts.Budget)
}

// pairs are at most n untried configs, each two replayed moves from def on
// different knobs laid together, whose added effects beat def on both
// counts, the best predicted first.
func (s *search) pairs(def Outcome, g *config.Group, n int) []Point {
	type moved struct {
		o     Outcome
		knobs map[Knob]bool
	}
	var ms []moved
	for _, o := range s.outcomes() {
		m := moved{o, map[Knob]bool{}}
		for k, v := range o.point {
			if v != def.point[k] {
				m.knobs[k] = true
			}
		}
		if len(m.knobs) > 0 {
			ms = append(ms, m)
		}
	}
	type pair struct {
		p Point
		f float64
	}
	var ps []pair
	seen := map[string]bool{}
	for i, a := range ms {
		for _, b := range ms[i+1:] {
			overlap := false
			for k := range b.knobs {
				overlap = overlap || a.knobs[k]
			}
			if overlap {
				continue
			}
			q := clonePoint(a.o.point)
			for k := range b.knobs {
				q[k] = b.o.point[k]
			}
			predicted := Outcome{
				InstanceHours:    a.o.InstanceHours + b.o.InstanceHours - def.InstanceHours,
				ViolationMinutes: a.o.ViolationMinutes + b.o.ViolationMinutes - def.ViolationMinutes,
			}
			if !dominates(predicted, def) || !valid(q, g, s.opts.Ranges) || seen[q.Key()] || s.outcome(q) != nil {
				continue
			}
			seen[q.Key()] = true
			ps = append(ps, pair{q, objective(predicted, def)})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].f < ps[j].f })
	out := make([]Point, 0, min(n, len(ps)))
	for _, p := range ps[:min(n, len(ps))] {
		out = append(out, p.p)
	}
	return out
}

// descend is a compass search from start: each direction in turn is tried a
// step either way, and a move that lowers the objective is taken and tried
// again; after a sweep that moves nothing the steps halve, down to a
// quarter. It stops when the replays reach limit.
func (s *search) descend(start Point, def Outcome, g *config.Group, dirs []direction, limit int) error {
	x := start
	if err := s.evaluate([]Point{x}); err != nil {
		return err
	}
	fx := objective(*s.outcome(x), def)
	for scale := 1.0; scale >= 0.25; scale /= 2 {
		for moved := true; moved; {
			moved = false
			for _, d := range dirs {
				for {
					var cand []Point
					for _, sign := range []float64{-1, 1} {
						if q, ok := move(x, d, sign, scale, g, s.opts.Ranges); ok {
							cand = append(cand, q)
						}
					}
					cand = s.withinLimit(cand, limit)
					if len(cand) == 0 {
						break
					}
					if err := s.evaluate(cand); err != nil {
						return err
					}
					best, fbest := x, fx
					for _, q := range cand {
						if f := objective(*s.outcome(q), def); f < fbest-1e-12 {
							best, fbest = q, f
						}
					}
					if fbest >= fx-1e-12 {
						break
					}
					x, fx, moved = best, fbest, true
				}
			}
			if s.runs() >= limit {
				return nil
			}
		}
	}
	return nil
}

// objective ranks an outcome against def's, lower better. Above 0 it is how
// far the outcome is from dominating: its relative excess of instance-hours
// plus that of violation minutes (over def's or 1). At 0 or below, it is
// minus the relative saving on both, the trade the recommendation ranks by.
func objective(o, def Outcome) float64 {
	dc := (o.InstanceHours - def.InstanceHours) / math.Max(def.InstanceHours, 1e-9)
	dv := float64(o.ViolationMinutes-def.ViolationMinutes) / float64(max(def.ViolationMinutes, 1))
	if excess := math.Max(dc, 0) + math.Max(dv, 0); excess > 1e-12 {
		return excess
	}
	return dc + dv
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

// runs is how many configurations were replayed or are being replayed.
func (s *search) runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// outcome is p's replay; p must have been evaluated.
func (s *search) outcome(p Point) *Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[p.Key()]
}

// within keeps the points the budget still allows: those seen already
// (free) and as many new ones as are left.
func (s *search) within(points []Point) []Point { return s.withinLimit(points, s.opts.Budget) }

func (s *search) withinLimit(points []Point, limit int) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := limit - len(s.seen)
	var out []Point
	fresh := map[string]bool{}
	for _, p := range points {
		k := p.Key()
		if _, ok := s.seen[k]; ok {
			out = append(out, p)
			continue
		}
		if !fresh[k] && left > 0 {
			fresh[k] = true
			left--
			out = append(out, p)
		}
	}
	return out
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
