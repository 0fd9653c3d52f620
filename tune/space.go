// Package tune searches a group's thresholds, targets and guards for the
// config that would have cost less without breaking the SLO more, by
// replaying the group's own history through the backtest: the seed article's
// ThresholdOptimizer, measured instead of guessed.
//
// The search stays inside the seed's ranges (CPU scale-out 60–90%, scale-in
// 10–40%, memory 70–95% and 20–50%, response time 1–5 s and 0.2–1 s, queue
// 50–200 and 10–100), with scale-out above scale-in and each target between
// its two thresholds, and inside sane spans for the group's own knobs (the
// predictive quantile, cooldowns, scale-in stabilisation, step bounds). A
// coarse grid over the primary knobs comes first, refined with half the step;
// a compass search over every knob then walks from the default and from the
// frontier points beside it towards a config that beats the default on both
// counts. Runs go in parallel, at most GOMAXPROCS at once.
package tune

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// Knob names one searched value: a signal's field, "cpu.target", or one of
// the group's own settings by its YAML path under the group, "risk" or
// "scaling.cooldown_in" (durations in seconds).
type Knob string

// The fields a signal knob sets.
const (
	FieldScaleOut = "scale_out"
	FieldScaleIn  = "scale_in"
	FieldTarget   = "target"
)

// The group's own knobs.
const (
	KnobRisk                 Knob = "risk"
	KnobCooldownOut          Knob = "scaling.cooldown_out"
	KnobCooldownIn           Knob = "scaling.cooldown_in"
	KnobScaleInStabilization Knob = "scaling.scale_in_stabilization"
	KnobMaxStepOutPercent    Knob = "scaling.max_step_out_percent"
	KnobMaxStepInPercent     Knob = "scaling.max_step_in_percent"
	KnobMaxStepIn            Knob = "scaling.max_step_in"
)

// Of builds a signal knob's name.
func Of(signal, field string) Knob { return Knob(signal + "." + field) }

// Split returns a signal knob's signal and field.
func (k Knob) Split() (signal, field string) {
	s, f, _ := strings.Cut(string(k), ".")
	return s, f
}

// unit is how a knob's value is written in the config.
type unit int

const (
	unitNumber  unit = iota // a float, as written
	unitSeconds             // a duration, kept in seconds
	unitCount               // a whole number
)

// groupKnob is one of the group's own settings: where it is in the YAML and
// how to read it from a parsed group.
type groupKnob struct {
	path []string
	unit unit
	get  func(g *config.Group) float64
}

// groupKnobOf resolves the group's own knobs; ok is false for a signal knob.
func groupKnobOf(k Knob) (groupKnob, bool) {
	secs := func(d time.Duration) float64 { return d.Seconds() }
	path := strings.Split(string(k), ".")
	switch k {
	case KnobRisk:
		return groupKnob{path, unitNumber, func(g *config.Group) float64 { return g.Risk }}, true
	case KnobCooldownOut:
		return groupKnob{path, unitSeconds, func(g *config.Group) float64 { return secs(g.Scaling.CooldownOut) }}, true
	case KnobCooldownIn:
		return groupKnob{path, unitSeconds, func(g *config.Group) float64 { return secs(g.Scaling.CooldownIn) }}, true
	case KnobScaleInStabilization:
		return groupKnob{path, unitSeconds, func(g *config.Group) float64 { return secs(g.Scaling.ScaleInStabilization) }}, true
	case KnobMaxStepOutPercent:
		return groupKnob{path, unitNumber, func(g *config.Group) float64 { return g.Scaling.MaxStepOutPercent }}, true
	case KnobMaxStepInPercent:
		return groupKnob{path, unitNumber, func(g *config.Group) float64 { return g.Scaling.MaxStepInPercent }}, true
	case KnobMaxStepIn:
		return groupKnob{path, unitCount, func(g *config.Group) float64 { return float64(g.Scaling.MaxStepIn) }}, true
	}
	return groupKnob{}, false
}

// path is where the knob is set under the group.
func (k Knob) path() []string {
	if gk, ok := groupKnobOf(k); ok {
		return gk.path
	}
	sig, field := k.Split()
	return []string{"signals", sig, field}
}

// yamlValue is v as the config writes the knob, with its YAML tag.
func (k Knob) yamlValue(v float64) (value, tag string) {
	gk, _ := groupKnobOf(k)
	switch gk.unit {
	case unitSeconds:
		return time.Duration(math.Round(v) * float64(time.Second)).String(), "!!str"
	case unitCount:
		return strconv.Itoa(int(math.Round(v))), "!!int"
	}
	return strconv.FormatFloat(v, 'f', -1, 64), "!!float"
}

// snap rounds v to what the knob can hold: whole seconds, whole numbers, or
// a thousandth.
func (k Knob) snap(v float64) float64 {
	if gk, ok := groupKnobOf(k); ok && gk.unit != unitNumber {
		return math.Round(v)
	}
	return round(v)
}

// Range is the allowed span of a knob and its search step: the coarse grid's
// for primary knobs, the first move's for the compass search.
type Range struct {
	Min, Max, Step float64
}

// SeedRanges are the seed article's threshold ranges (DESIGN.md, the advisor
// guardrails), in base units, and the spans searched for the group's own
// knobs: wide enough to matter, short of the absurd (no cooldown past 30
// minutes, no quantile past 0.99).
func SeedRanges() map[Knob]Range {
	return map[Knob]Range{
		Of(config.SignalCPU, FieldScaleOut):          {0.60, 0.90, 0.10},
		Of(config.SignalCPU, FieldScaleIn):           {0.10, 0.40, 0.10},
		Of(config.SignalMemory, FieldScaleOut):       {0.70, 0.95, 0.05},
		Of(config.SignalMemory, FieldScaleIn):        {0.20, 0.50, 0.10},
		Of(config.SignalResponseTime, FieldScaleOut): {1, 5, 1},
		Of(config.SignalResponseTime, FieldScaleIn):  {0.2, 1, 0.2},
		Of(config.SignalQueue, FieldScaleOut):        {50, 200, 50},
		Of(config.SignalQueue, FieldScaleIn):         {10, 100, 30},
		// A target lies between its signal's thresholds; the span here is
		// cut to them point by point (valid).
		Of(config.SignalCPU, FieldTarget):          {0.50, 0.80, 0.10},
		Of(config.SignalResponseTime, FieldTarget): {0.5, 2.5, 0.5},

		KnobRisk:                 {0.5, 0.99, 0.05},
		KnobCooldownOut:          {0, 600, 120},
		KnobCooldownIn:           {60, 1800, 300},
		KnobScaleInStabilization: {0, 1800, 300},
		KnobMaxStepOutPercent:    {50, 300, 50},
		KnobMaxStepInPercent:     {10, 100, 20},
		KnobMaxStepIn:            {1, 10, 2},
	}
}

// KnobsFor are the primary knobs of a policy, searched on a grid: the seed
// loop acts on its thresholds' scores; target tracking and prediction act on
// targets, with the scale-out threshold holding back scale-in. CPU is the
// signal the backtest's world loads first.
func KnobsFor(policy string) []Knob {
	if policy == config.PolicySeed {
		return []Knob{Of(config.SignalCPU, FieldScaleOut), Of(config.SignalCPU, FieldScaleIn)}
	}
	return []Knob{Of(config.SignalCPU, FieldTarget), Of(config.SignalCPU, FieldScaleOut)}
}

// ExtraKnobsFor are the further knobs the compass search moves one at a
// time, most telling first: the backtest's seed loop keeps the article's own
// check and cooldown, so only its thresholds matter; the alerting pipeline
// of target and predictive goes through the actuator's guards (cooldowns,
// stabilisation, step bounds), and prediction provisions for the risk
// quantile.
func ExtraKnobsFor(policy string) []Knob {
	switch policy {
	case config.PolicySeed:
		return nil
	case config.PolicyTarget:
		return []Knob{KnobScaleInStabilization, KnobCooldownIn, KnobMaxStepInPercent, KnobCooldownOut,
			KnobMaxStepOutPercent, Of(config.SignalCPU, FieldScaleIn)}
	}
	return []Knob{KnobRisk, KnobScaleInStabilization, KnobCooldownIn, KnobMaxStepInPercent, KnobCooldownOut,
		KnobMaxStepOutPercent, Of(config.SignalCPU, FieldScaleIn)}
}

// Point is one configuration tried: a value per knob.
type Point map[Knob]float64

// Key is a stable text form, for de-duplication and output.
func (p Point) Key() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%g", k, p[Knob(k)])
	}
	return b.String()
}

// Current reads the knobs' values from a group's config.
func Current(g *config.Group, knobs []Knob) Point {
	p := Point{}
	for _, k := range knobs {
		if gk, ok := groupKnobOf(k); ok {
			p[k] = gk.get(g)
			continue
		}
		sig, field := k.Split()
		s := g.Signals[sig]
		switch field {
		case FieldScaleOut:
			p[k] = s.ScaleOut
		case FieldScaleIn:
			p[k] = s.ScaleIn
		case FieldTarget:
			p[k] = s.Target
		}
	}
	return p
}

// value is p's value for signal.field, or the group's when p leaves it out.
func value(p Point, g *config.Group, signal, field string) float64 {
	if v, ok := p[Of(signal, field)]; ok {
		return v
	}
	return Current(g, []Knob{Of(signal, field)})[Of(signal, field)]
}

// valid keeps a point inside the ranges (a knob may also keep the group's
// own value, in range or not), with scale-out above scale-in and every
// target of a signal the point sets strictly between them.
func valid(p Point, g *config.Group, ranges map[Knob]Range) bool {
	for k, v := range p {
		r, ok := ranges[k]
		inRange := ok && v >= r.Min-1e-9 && v <= r.Max+1e-9
		if !inRange && v != Current(g, []Knob{k})[k] {
			return false
		}
	}
	for _, sig := range []string{config.SignalCPU, config.SignalMemory, config.SignalResponseTime, config.SignalQueue} {
		if _, ok := g.Signals[sig]; !ok {
			continue
		}
		out, in, target := value(p, g, sig, FieldScaleOut), value(p, g, sig, FieldScaleIn), value(p, g, sig, FieldTarget)
		if out <= in {
			return false
		}
		touched := false
		for k := range p {
			if _, isGroup := groupKnobOf(k); !isGroup {
				if s, _ := k.Split(); s == sig {
					touched = true
				}
			}
		}
		if touched && target > 0 && (target <= in || target >= out) {
			return false
		}
	}
	return true
}

// grid is every valid combination of the knobs' coarse steps, each laid over
// base (the other knobs' values).
func grid(base Point, knobs []Knob, g *config.Group, ranges map[Knob]Range) []Point {
	points := []Point{clonePoint(base)}
	for _, k := range knobs {
		r := ranges[k]
		var next []Point
		for _, p := range points {
			for v := r.Min; v <= r.Max+1e-9; v += r.Step {
				q := clonePoint(p)
				q[k] = k.snap(v)
				next = append(next, q)
			}
		}
		points = next
	}
	var out []Point
	for _, p := range points {
		if valid(p, g, ranges) {
			out = append(out, p)
		}
	}
	return out
}

// neighbours are the points one half-step away on one or two knobs.
func neighbours(p Point, knobs []Knob, g *config.Group, ranges map[Knob]Range, step float64) []Point {
	var out []Point
	for i, a := range knobs {
		for _, da := range []float64{-1, 1} {
			q := clonePoint(p)
			q[a] = a.snap(q[a] + da*ranges[a].Step*step)
			if valid(q, g, ranges) {
				out = append(out, q)
			}
			for _, b := range knobs[i+1:] {
				for _, db := range []float64{-1, 1} {
					r := clonePoint(q)
					r[b] = b.snap(r[b] + db*ranges[b].Step*step)
					if valid(r, g, ranges) {
						out = append(out, r)
					}
				}
			}
		}
	}
	return out
}

// direction is a set of knobs the compass search moves together, each by
// the first one's step: one knob alone, or a target with the threshold above
// it, which would otherwise block the target's way up.
type direction []Knob

// directions are each knob alone, then each signal's target moved together
// with its scale-out threshold when both are searched.
func directions(knobs []Knob) []direction {
	var out []direction
	has := map[Knob]bool{}
	for _, k := range knobs {
		out = append(out, direction{k})
		has[k] = true
	}
	for _, k := range knobs {
		if _, isGroup := groupKnobOf(k); isGroup {
			continue
		}
		if sig, field := k.Split(); field == FieldTarget && has[Of(sig, FieldScaleOut)] {
			out = append(out, direction{k, Of(sig, FieldScaleOut)})
		}
	}
	return out
}

// move is p with dir's knobs moved by sign steps of dir's first knob, times
// scale, clipped to their ranges; ok is false when nothing moves or the
// point is not valid.
func move(p Point, dir direction, sign, scale float64, g *config.Group, ranges map[Knob]Range) (Point, bool) {
	q := clonePoint(p)
	delta := sign * ranges[dir[0]].Step * scale
	moved := false
	for _, k := range dir {
		r := ranges[k]
		v := k.snap(math.Min(r.Max, math.Max(r.Min, p[k]+delta)))
		if gk, isGroup := groupKnobOf(k); isGroup && gk.unit != unitNumber && v == p[k] && delta != 0 {
			// A whole-number knob still moves by one when the step rounds to nothing.
			v = math.Min(r.Max, math.Max(r.Min, p[k]+math.Copysign(1, delta)))
		}
		if v != p[k] {
			moved = true
		}
		q[k] = v
	}
	return q, moved && valid(q, g, ranges)
}

func clonePoint(p Point) Point {
	q := make(Point, len(p))
	for k, v := range p {
		q[k] = v
	}
	return q
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }
