// Package tune searches a group's thresholds and targets for the config that
// would have cost least without breaking the SLO more, by replaying the
// group's own history through the backtest: the seed article's
// ThresholdOptimizer, measured instead of guessed.
//
// The search stays inside the seed's ranges (CPU scale-out 60–90%, scale-in
// 10–40%, memory 70–95% and 20–50%, response time 1–5 s and 0.2–1 s, queue
// 50–200 and 10–100), with scale-out above scale-in and each target between
// its two thresholds. A coarse grid comes first; the best points are then
// refined with half the step. Runs go in parallel, at most GOMAXPROCS at once.
package tune

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/flexus-autoscaler/flexus/config"
)

// Knob names one searched value: signal and field, "cpu.target".
type Knob string

// The fields a knob sets.
const (
	FieldScaleOut = "scale_out"
	FieldScaleIn  = "scale_in"
	FieldTarget   = "target"
)

// Of builds a knob name.
func Of(signal, field string) Knob { return Knob(signal + "." + field) }

// Split returns the knob's signal and field.
func (k Knob) Split() (signal, field string) {
	s, f, _ := strings.Cut(string(k), ".")
	return s, f
}

// Range is the allowed span of a knob and the coarse grid's step.
type Range struct {
	Min, Max, Step float64
}

// SeedRanges are the seed article's threshold ranges (DESIGN.md, the advisor
// guardrails), in base units.
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
	}
}

// KnobsFor are the knobs that move a policy's decisions: the seed loop acts
// on its thresholds' scores; target tracking and prediction act on targets,
// with the scale-out threshold holding back scale-in. CPU is the signal the
// backtest's world loads first; other knobs can be searched through
// Options.Knobs, at the price of a grid that grows with each.
func KnobsFor(policy string) []Knob {
	if policy == config.PolicySeed {
		return []Knob{Of(config.SignalCPU, FieldScaleOut), Of(config.SignalCPU, FieldScaleIn)}
	}
	return []Knob{Of(config.SignalCPU, FieldTarget), Of(config.SignalCPU, FieldScaleOut)}
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

// valid keeps a point inside the ranges, with scale-out above scale-in and
// every target strictly between them.
func valid(p Point, g *config.Group, ranges map[Knob]Range) bool {
	for k, v := range p {
		r, ok := ranges[k]
		if !ok || v < r.Min-1e-9 || v > r.Max+1e-9 {
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
			if s, _ := k.Split(); s == sig {
				touched = true
			}
		}
		if touched && target > 0 && (target <= in || target >= out) {
			return false
		}
	}
	return true
}

// grid is every combination of the knobs' coarse steps that is valid.
func grid(knobs []Knob, g *config.Group, ranges map[Knob]Range) []Point {
	points := []Point{{}}
	for _, k := range knobs {
		r := ranges[k]
		var next []Point
		for _, p := range points {
			for v := r.Min; v <= r.Max+1e-9; v += r.Step {
				q := clonePoint(p)
				q[k] = round(v)
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
			q[a] = round(q[a] + da*ranges[a].Step*step)
			if valid(q, g, ranges) {
				out = append(out, q)
			}
			for _, b := range knobs[i+1:] {
				for _, db := range []float64{-1, 1} {
					r := clonePoint(q)
					r[b] = round(r[b] + db*ranges[b].Step*step)
					if valid(r, g, ranges) {
						out = append(out, r)
					}
				}
			}
		}
	}
	return out
}

func clonePoint(p Point) Point {
	q := make(Point, len(p))
	for k, v := range p {
		q[k] = v
	}
	return q
}

func round(v float64) float64 { return math.Round(v*1000) / 1000 }
