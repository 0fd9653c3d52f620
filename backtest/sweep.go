package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"maps"
	"slices"
	"sort"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/trace"
)

// Sweep says which knob values a sweep runs: the predictive policy at each
// risk (a quantile) and the target policy at each CPU target utilisation.
type Sweep struct {
	Risks   []float64
	Targets []float64
}

// DefaultSweep spans each knob from cheap to safe.
func DefaultSweep() Sweep {
	return Sweep{
		Risks:   []float64{0.5, 0.7, 0.8, 0.9, 0.95, 0.99},
		Targets: []float64{0.4, 0.5, 0.6, 0.7, 0.8},
	}
}

// SweepPoint is one run of a sweep: a policy at one knob value.
type SweepPoint struct {
	Policy Policy `json:"policy"`
	// Knob is "risk" (predictive) or "target_utilization" (target).
	Knob             string  `json:"knob"`
	Value            float64 `json:"value"`
	InstanceHours    float64 `json:"instance_hours"`
	CostRatio        float64 `json:"cost_ratio_to_oracle"`
	ViolationMinutes int     `json:"slo_violation_minutes"`
	// Frontier marks the points no other point of the same policy beats on
	// both cost and violations (the Pareto frontier).
	Frontier bool `json:"frontier"`
}

// SweepResult is a sweep of one trace: the oracle's figures and every point.
type SweepResult struct {
	Trace  string       `json:"trace"`
	Oracle *Figures     `json:"oracle"`
	Points []SweepPoint `json:"points"`
}

// RunSweep replays tr once for the oracle and once per knob value, each run
// with the group's config changed in that knob alone.
func RunSweep(ctx context.Context, tr trace.Series, sw Sweep, opts Options) (*SweepResult, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	opts.KeepSeries = false
	or, err := Run(ctx, tr, []Policy{PolicyOracle}, opts)
	if err != nil {
		return nil, err
	}
	out := &SweepResult{Trace: tr.Name, Oracle: or.Figures[PolicyOracle]}
	point := func(p Policy, knob string, v float64, change func(*config.Group)) error {
		o := opts
		o.Config = withGroup(opts.Config, opts.Group, change)
		res, err := Run(ctx, tr, []Policy{p}, o)
		if err != nil {
			return fmt.Errorf("backtest: sweep %s %s=%g: %w", p, knob, v, err)
		}
		f := res.Figures[p]
		pt := SweepPoint{Policy: p, Knob: knob, Value: v, InstanceHours: f.InstanceHours, ViolationMinutes: f.ViolationMinutes}
		if out.Oracle.InstanceHours > 0 {
			pt.CostRatio = f.InstanceHours / out.Oracle.InstanceHours
		}
		out.Points = append(out.Points, pt)
		return nil
	}
	for _, risk := range sw.Risks {
		if !(risk >= 0.5 && risk <= 0.999) {
			return nil, fmt.Errorf("backtest: sweep risk %g must be a quantile in [0.5, 0.999]", risk)
		}
		if err := point(PolicyPredictive, "risk", risk, func(g *config.Group) { g.Risk = risk }); err != nil {
			return nil, err
		}
	}
	for _, u := range sw.Targets {
		if !(u > 0 && u <= 1) {
			return nil, fmt.Errorf("backtest: sweep target utilisation %g must be in (0, 1]", u)
		}
		err := point(PolicyTarget, "target_utilization", u, func(g *config.Group) {
			s := g.Signals[config.SignalCPU]
			s.Target = u
			g.Signals[config.SignalCPU] = s
		})
		if err != nil {
			return nil, err
		}
	}
	markFrontier(out.Points)
	return out, nil
}

// withGroup is a copy of c whose group name is changed by change; c is untouched.
func withGroup(c *config.Config, name string, change func(*config.Group)) *config.Config {
	cc := *c
	cc.Groups = slices.Clone(c.Groups)
	for i := range cc.Groups {
		if cc.Groups[i].Name == name {
			cc.Groups[i].Signals = maps.Clone(cc.Groups[i].Signals)
			change(&cc.Groups[i])
		}
	}
	return &cc
}

// markFrontier marks, per policy, the points that no other point of the
// policy dominates (no more cost and no more violations, one of them fewer).
func markFrontier(pts []SweepPoint) {
	for i := range pts {
		pts[i].Frontier = true
		for j := range pts {
			a, b := pts[i], pts[j]
			if i == j || a.Policy != b.Policy {
				continue
			}
			if b.InstanceHours <= a.InstanceHours && b.ViolationMinutes <= a.ViolationMinutes &&
				(b.InstanceHours < a.InstanceHours || b.ViolationMinutes < a.ViolationMinutes) {
				pts[i].Frontier = false
				break
			}
		}
	}
}

// frontier is one policy's frontier points, cheapest first.
func (s *SweepResult) frontier(p Policy) []SweepPoint {
	var out []SweepPoint
	for _, pt := range s.Points {
		if pt.Policy == p && pt.Frontier {
			out = append(out, pt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceHours < out[j].InstanceHours })
	return out
}

// WriteText prints every point, frontier points marked with *.
func (s *SweepResult) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "sweep of %s: oracle %.1f instance-hours, %d SLO-violation minutes; * marks the cost-violation frontier of each policy\n",
		s.Trace, s.Oracle.InstanceHours, s.Oracle.ViolationMinutes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tknob\tvalue\tinstance-hours\tcost/oracle\tSLO-violation min\tfrontier\t")
	for _, pt := range s.Points {
		mark := ""
		if pt.Frontier {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%g\t%.1f\t%.3f\t%d\t%s\t\n", pt.Policy, pt.Knob, pt.Value, pt.InstanceHours, pt.CostRatio, pt.ViolationMinutes, mark)
	}
	return tw.Flush()
}

// WriteJSON prints the sweep as one object.
func (s *SweepResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteHTML writes a self-contained page: the points and a plot of each
// policy's frontier (cost over the oracle's against violation minutes) with
// the oracle's point.
func (s *SweepResult) WriteHTML(w io.Writer) error {
	p, err := s.frontierPlot()
	if err != nil {
		return err
	}
	plotSVG, err := svg(p)
	if err != nil {
		return err
	}
	var table bytes.Buffer
	if err := s.WriteText(&table); err != nil {
		return err
	}
	return sweepTmpl.Execute(w, map[string]any{"Trace": s.Trace, "Table": table.String(), "Plot": template.HTML(plotSVG)})
}

var sweepTmpl = template.Must(template.New("sweep").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flexus sweep: {{.Trace}}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}</style></head>
<body><h1>Cost-violation frontier on {{.Trace}}</h1>
<p>Predictive at each risk (the quantile of demand over the lead time it provisions for) and target
tracking at each CPU target utilisation. Lower left is better; the oracle knows the future.</p>
{{.Plot}}
<pre>{{.Table}}</pre>
</body></html>
`))

func (s *SweepResult) frontierPlot() (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "cost / oracle"
	p.Y.Label.Text = "SLO-violation minutes"
	p.Legend.Top = true
	for i, pol := range []Policy{PolicyTarget, PolicyPredictive} {
		f := s.frontier(pol)
		if len(f) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(f))
		for k, pt := range f {
			pts[k].X, pts[k].Y = pt.CostRatio, float64(pt.ViolationMinutes)
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		l.Color, sc.Color = plotutil.Color(i+1), plotutil.Color(i+1)
		l.Width = vg.Points(1.5)
		p.Add(l, sc)
		p.Legend.Add(string(pol)+" frontier", l, sc)
	}
	o, err := plotter.NewScatter(plotter.XYs{{X: 1, Y: float64(s.Oracle.ViolationMinutes)}})
	if err != nil {
		return nil, err
	}
	o.Color = color.Black
	o.Shape = draw.PyramidGlyph{}
	o.Radius = vg.Points(4)
	p.Add(o)
	p.Legend.Add("oracle", o)
	return p, nil
}
