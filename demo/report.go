package demo

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"os"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

func rgb(v uint32) color.RGBA {
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}

// Colours of the report, one per series kind.
const (
	colDemand   = 0xd62728
	colCapacity = 0x1f77b4
	colDesired  = 0xff7f0e
	colService  = 0x2ca02c
	colForecast = 0x9467bd
	colPhase    = 0x999999
	colOut      = 0xd62728
	colIn       = 0x1f77b4
)

// groupPlots draws a group's six plots: demand and capacity, instances with
// the decisions, utilisation with the forecast, response time against the
// SLO, the scaling score, and the queue.
func groupPlots(s Snapshot, g string, slo time.Duration) ([]*plot.Plot, error) {
	ss := s.Samples[g]
	x := func(t time.Time) float64 { return t.Sub(s.Start).Minutes() }
	series := func(f func(Sample) float64) plotter.XYs {
		var xys plotter.XYs
		for _, smp := range ss {
			v := f(smp)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x(smp.T), Y: v})
		}
		return xys
	}
	type line struct {
		name  string
		col   uint32
		dash  bool
		xys   plotter.XYs
		steps bool
	}
	// yr, when given, is the least y range to show (min, max).
	build := func(title, ylabel string, lines []line, decisions bool, yr ...float64) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "minutes since start"
		p.Y.Label.Text = ylabel
		p.Legend.Top = true
		p.Legend.Left = true
		p.Add(plotter.NewGrid())
		for _, l := range lines {
			if len(l.xys) == 0 {
				continue
			}
			pl, err := plotter.NewLine(l.xys)
			if err != nil {
				return nil, fmt.Errorf("plot %q: %w", title, err)
			}
			pl.Color = rgb(l.col)
			pl.Width = vg.Points(1.5)
			if l.steps {
				pl.StepStyle = plotter.PostStep
			}
			if l.dash {
				pl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(pl)
			p.Legend.Add(l.name, pl)
		}
		p.Y.Min = math.Min(p.Y.Min, 0)
		// Headroom above the data for the legend, so it hides no point.
		entries := len(lines)
		if decisions {
			entries += 2
		}
		p.Y.Max = math.Max(p.Y.Max*(1.05+0.12*float64(entries)), p.Y.Min+1)
		if len(yr) == 2 {
			p.Y.Min, p.Y.Max = math.Min(p.Y.Min, yr[0]), math.Max(p.Y.Max, yr[1])
		}
		for _, ph := range s.Phases {
			if err := vline(p, x(ph.At), colPhase, true); err != nil {
				return nil, err
			}
		}
		if decisions {
			var out, in plotter.XYs
			for _, d := range s.Decisions {
				if d.Group != g || !d.Applied() {
					continue
				}
				pt := plotter.XY{X: x(d.Time), Y: float64(d.To)}
				if d.Action == "scale_out" {
					out = append(out, pt)
				} else {
					in = append(in, pt)
				}
			}
			for _, m := range []struct {
				name  string
				xys   plotter.XYs
				col   uint32
				shape draw.GlyphDrawer
			}{{"scale-out decision", out, colOut, draw.TriangleGlyph{}}, {"scale-in decision", in, colIn, draw.BoxGlyph{}}} {
				if len(m.xys) == 0 {
					continue
				}
				sc, err := plotter.NewScatter(m.xys)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle.Color = rgb(m.col)
				sc.GlyphStyle.Shape = m.shape
				sc.GlyphStyle.Radius = vg.Points(4)
				p.Add(sc)
				p.Legend.Add(m.name, sc)
			}
		}
		return p, nil
	}

	demand, err := build("Demand and capacity — "+g, "requests per second", []line{
		{name: "demand", col: colDemand, xys: series(func(s Sample) float64 { return s.State.Demand })},
		{name: "capacity in service", col: colCapacity, xys: series(func(s Sample) float64 { return s.State.Capacity }), steps: true},
	}, false)
	if err != nil {
		return nil, err
	}
	inst, err := build("Instances and decisions — "+g, "instances", []line{
		{name: "desired", col: colDesired, xys: series(func(s Sample) float64 { return float64(s.State.Desired) }), steps: true},
		{name: "in service", col: colService, xys: series(func(s Sample) float64 { return float64(s.State.InService) }), steps: true},
		{name: "recommended", col: colForecast, dash: true, xys: series(func(s Sample) float64 { return s.Recommended })},
	}, true)
	if err != nil {
		return nil, err
	}
	util, err := build("Utilisation and forecast — "+g, "percent", []line{
		{name: "utilisation", col: colDemand, xys: series(func(s Sample) float64 { return 100 * s.State.Utilization })},
		{name: "CPU", col: colCapacity, xys: series(func(s Sample) float64 { return s.State.CPU })},
		{name: "CPU forecast, 5m ahead", col: colForecast, dash: true, xys: series(func(s Sample) float64 { return 100 * s.Forecast })},
	}, false)
	if err != nil {
		return nil, err
	}
	rt, err := build("Response time — "+g, "seconds", []line{
		{name: "response time", col: colDemand, xys: series(func(s Sample) float64 { return s.State.ResponseTimeSeconds })},
		{name: "SLO", col: colPhase, dash: true, xys: series(func(Sample) float64 { return slo.Seconds() })},
	}, false)
	if err != nil {
		return nil, err
	}
	score, err := build("Scaling score — "+g, "score (-1..1)", []line{
		{name: "scaling score", col: colDesired, xys: series(func(s Sample) float64 { return s.Score })},
		{name: "scale out above", col: colOut, dash: true, xys: series(func(Sample) float64 { return 0.3 })},
		{name: "scale in below", col: colIn, dash: true, xys: series(func(Sample) float64 { return -0.3 })},
	}, false, -1, 1)
	if err != nil {
		return nil, err
	}
	queue, err := build("Request queue — "+g, "requests waiting", []line{
		{name: "queue", col: colCapacity, xys: series(func(s Sample) float64 { return s.State.Queue })},
	}, false)
	if err != nil {
		return nil, err
	}
	return []*plot.Plot{demand, inst, util, rt, score, queue}, nil
}

// vline draws a vertical line across the plot's current y range.
func vline(p *plot.Plot, x float64, c uint32, dashed bool) error {
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: p.Y.Min}, {X: x, Y: p.Y.Max}})
	if err != nil {
		return err
	}
	l.Color = rgb(c)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	}
	p.Add(l)
	return nil
}

func svgOf(p *plot.Plot) (template.HTML, error) {
	c := vgsvg.New(vg.Points(560), vg.Points(260))
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	// The SVG comes from our own plots, not from user input.
	return template.HTML(b.String()), nil
}

// WritePNG renders the first group's plots stacked in one picture (for the README).
func WritePNG(w io.Writer, s Snapshot, slo time.Duration) error {
	if len(s.Groups) == 0 {
		return fmt.Errorf("report: no group was observed")
	}
	ps, err := groupPlots(s, s.Groups[0], slo)
	if err != nil {
		return err
	}
	const cols = 2
	rows := (len(ps) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i, p := range ps {
		grid[i/cols] = append(grid[i/cols], p)
	}
	img := vgimg.New(vg.Points(1100), vg.Points(float64(280*rows)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(10), PadY: vg.Points(10), PadTop: vg.Points(5), PadBottom: vg.Points(5), PadLeft: vg.Points(5), PadRight: vg.Points(5)}
	canvases := plot.Align(grid, tiles, dc)
	for r := range grid {
		for c, p := range grid[r] {
			p.Draw(canvases[r][c])
		}
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

const reportHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flexus demo report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:.9em}
.plots{display:flex;flex-wrap:wrap;gap:8px} .plots svg{border:1px solid #eee}
pre{background:#f6f6f6;padding:1em;overflow:auto}
</style></head><body>
<h1>flexus demo report</h1>
<p>Started {{.Start}}, ran {{.Length}}. Simcloud stood in for Huawei Cloud; the real Prometheus and
Alertmanager evaluated the project's demo rules and called the actuator's webhook.</p>
<h2>Scenario</h2>
<table><tr><th>phase</th><th>began after</th></tr>
{{range .Phases}}<tr><td>{{.Name}}</td><td>{{.Offset}}</td></tr>{{end}}
</table>
<h2>Summary</h2>
<pre>{{.Summary}}</pre>
{{range .Groups}}
<h2>Group {{.Name}}</h2>
<div class="plots">{{range .Plots}}{{.}}{{end}}</div>
{{end}}
<h2>Decisions of the actuator</h2>
<table><tr><th>after</th><th>group</th><th>action</th><th>outcome</th><th>from → to</th><th>graded in hindsight</th><th>why</th></tr>
{{range .Decisions}}<tr><td>{{.Offset}}</td><td>{{.Group}}</td><td>{{.Action}}</td><td>{{.Outcome}}</td><td>{{.From}} → {{.To}}</td><td>{{.Verdict}}</td><td>{{.Why}}</td></tr>{{end}}
</table>
<h2>Scaling alerts fired by Prometheus</h2>
<table><tr><th>fired after</th><th>alert</th><th>group</th><th>action</th></tr>
{{range .Fires}}<tr><td>{{.Offset}}</td><td>{{.Name}}</td><td>{{.Group}}</td><td>{{.Action}}</td></tr>{{end}}
</table>
</body></html>
`

// WriteReport writes the HTML report with inline SVG plots.
func WriteReport(w io.Writer, s Snapshot, sum Summary) error {
	type phase struct{ Name, Offset string }
	type group struct {
		Name  string
		Plots []template.HTML
	}
	type decision struct {
		Decision
		Offset string
	}
	type fire struct {
		AlertFire
		Offset string
	}
	off := func(t time.Time) string { return fmtClock(t.Sub(s.Start)) }
	var sb bytes.Buffer
	sum.Write(&sb)
	data := struct {
		Start, Length, Summary string
		Phases                 []phase
		Groups                 []group
		Decisions              []decision
		Fires                  []fire
	}{Start: s.Start.UTC().Format(time.RFC3339), Length: s.End.Sub(s.Start).Round(time.Second).String(), Summary: sb.String()}
	for _, p := range s.Phases {
		data.Phases = append(data.Phases, phase{p.Name, off(p.At)})
	}
	for _, g := range s.Groups {
		ps, err := groupPlots(s, g, sum.SLO)
		if err != nil {
			return err
		}
		gr := group{Name: g}
		for _, p := range ps {
			h, err := svgOf(p)
			if err != nil {
				return err
			}
			gr.Plots = append(gr.Plots, h)
		}
		data.Groups = append(data.Groups, gr)
	}
	for _, d := range s.Decisions {
		data.Decisions = append(data.Decisions, decision{d, off(d.Time)})
	}
	for _, f := range s.Fires {
		data.Fires = append(data.Fires, fire{f, off(f.FiredAt)})
	}
	tmpl, err := template.New("report").Parse(reportHTML)
	if err != nil {
		return err
	}
	return tmpl.Execute(w, data)
}

// WriteReportFile writes the report to path.
func WriteReportFile(path string, s Snapshot, sum Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := WriteReport(f, s, sum); err != nil {
		f.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	return f.Close()
}
