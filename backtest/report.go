package backtest

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// maxPoints bounds each plotted line; longer runs are folded into buckets
// (the bucket's maximum, so a short peak or shortfall stays visible).
const maxPoints = 1500

// WriteHTML writes a self-contained report: the figures table and SVG plots
// of demand, capacity per policy and SLO violations over time. The result
// must have been run with KeepSeries.
func (r *Result) WriteHTML(w io.Writer) error {
	if len(r.Demand) == 0 {
		return fmt.Errorf("backtest: the report needs the per-step series: run with KeepSeries")
	}
	capPlot, err := r.capacityPlot()
	if err != nil {
		return err
	}
	violPlot, err := r.violationPlot()
	if err != nil {
		return err
	}
	var table bytes.Buffer
	if err := r.WriteText(&table); err != nil {
		return err
	}
	type row struct {
		Policy                                        Policy
		Hours, Worst, Ratio                           string
		Violations, Actions, Reversals, Notifications int
	}
	var rows []row
	for _, p := range r.Order {
		f := r.Figures[p]
		ratio := "-"
		if f.CostRatioToOracle > 0 {
			ratio = fmt.Sprintf("%.3f", f.CostRatioToOracle)
		}
		rows = append(rows, row{Policy: p, Hours: fmt.Sprintf("%.1f", f.InstanceHours), Worst: fmt.Sprintf("%.2f", f.WorstQueueDelaySeconds),
			Ratio: ratio, Violations: f.ViolationMinutes, Actions: f.ScalingActions, Reversals: f.Reversals, Notifications: f.Notifications})
	}
	data := map[string]any{
		"Trace": r.Trace, "Start": r.Start.UTC().Format(time.RFC3339), "Minutes": r.Steps, "Peak": r.Peak,
		"SLOUtil": fmt.Sprintf("%.0f%%", r.SLO.MaxUtilization*100), "SLODelay": r.SLO.MaxQueueDelay.String(),
		"Rows": rows, "Capacity": template.HTML(capPlot), "Violations": template.HTML(violPlot),
	}
	return reportTmpl.Execute(w, data)
}

var reportTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flexus backtest: {{.Trace}}</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}</style></head>
<body><h1>Backtest of {{.Trace}}</h1>
<p>{{.Minutes}} minutes from {{.Start}}, demand scaled so its peak needs {{.Peak}} instances at the target utilisation.
A minute violates the SLO when the offered load is above {{.SLOUtil}} of the in-service capacity or requests queue longer than {{.SLODelay}}.
Cost is billed per second, in instance-hours.</p>
<table><tr><th>policy</th><th>instance-hours</th><th>SLO-violation minutes</th><th>worst queue delay (s)</th><th>scaling actions</th><th>direction reversals</th><th>cost / oracle</th><th>notifications</th></tr>
{{range .Rows}}<tr><td>{{.Policy}}</td><td>{{.Hours}}</td><td>{{.Violations}}</td><td>{{.Worst}}</td><td>{{.Actions}}</td><td>{{.Reversals}}</td><td>{{.Ratio}}</td><td>{{.Notifications}}</td></tr>
{{end}}</table>
<h2>Demand and in-service capacity</h2>{{.Capacity}}
<h2>SLO violations over time (cumulative minutes)</h2>{{.Violations}}
</body></html>
`))

// bucket folds n values into at most maxPoints, keeping each bucket's max.
func bucket(vals []float64) (xs []float64, ys []float64, per int) {
	per = max(1, (len(vals)+maxPoints-1)/maxPoints)
	for i := 0; i < len(vals); i += per {
		m := math.Inf(-1)
		for _, v := range vals[i:min(i+per, len(vals))] {
			m = math.Max(m, v)
		}
		xs = append(xs, float64(i+1)/60)
		ys = append(ys, m)
	}
	return xs, ys, per
}

func xy(xs, ys []float64) plotter.XYs {
	pts := make(plotter.XYs, len(xs))
	for i := range xs {
		pts[i].X, pts[i].Y = xs[i], ys[i]
	}
	return pts
}

func (r *Result) capacityPlot() (string, error) {
	p, err := r.capacityPlotP()
	if err != nil {
		return "", err
	}
	return svg(p)
}

func (r *Result) capacityPlotP() (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "hours from start"
	p.Y.Label.Text = "instances"
	p.Legend.Top = true
	need := make([]float64, len(r.Demand))
	for i, d := range r.Demand {
		need[i] = d / r.SLO.MaxUtilization
	}
	xs, ys, per := bucket(need)
	l, err := plotter.NewLine(xy(xs, ys))
	if err != nil {
		return nil, err
	}
	l.Color = color.Black
	l.Width = vg.Points(1.5)
	p.Add(l)
	p.Legend.Add(fmt.Sprintf("demand (instances at %.0f%%)", r.SLO.MaxUtilization*100), l)
	for i, pol := range r.Order {
		s := r.Series[pol]
		if s == nil {
			continue
		}
		xs, ys, _ := bucket(s.InService)
		l, err := plotter.NewLine(xy(xs, ys))
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1)
		p.Add(l)
		p.Legend.Add(string(pol), l)
	}
	if per > 1 {
		p.Title.Text = fmt.Sprintf("each point is the max over %d minutes", per)
	}
	return p, nil
}

func (r *Result) violationPlot() (string, error) {
	p := plot.New()
	p.X.Label.Text = "hours from start"
	p.Y.Label.Text = "SLO-violation minutes so far"
	p.Legend.Top = true
	p.Legend.Left = true
	for i, pol := range r.Order {
		s := r.Series[pol]
		if s == nil {
			continue
		}
		cum := make([]float64, len(s.Violation))
		n := 0.0
		for k, v := range s.Violation {
			if v {
				n++
			}
			cum[k] = n
		}
		xs, ys, _ := bucket(cum)
		l, err := plotter.NewLine(xy(xs, ys))
		if err != nil {
			return "", err
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1)
		p.Add(l)
		p.Legend.Add(string(pol), l)
	}
	return svg(p)
}

func svg(p *plot.Plot) (string, error) {
	c := vgsvg.New(28*vg.Centimeter, 11*vg.Centimeter)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("backtest: plot: %w", err)
	}
	// Drop the XML prolog so the SVG can sit inline in HTML.
	out := b.Bytes()
	if i := bytes.Index(out, []byte("<svg")); i > 0 {
		out = out[i:]
	}
	return string(out), nil
}
