package backtest

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"math"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/trace"
)

// diurnal is a synthetic trace: a daily sine with a sharp morning ramp.
func diurnal(days int, step time.Duration) trace.Series {
	n := int(time.Duration(days) * 24 * time.Hour / step)
	s := trace.Series{Name: "diurnal", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Step: step, Values: make([]float64, n)}
	for i := range s.Values {
		h := float64(time.Duration(i)*step) / float64(time.Hour)
		s.Values[i] = 100 + 80*math.Sin(2*math.Pi*(h-9)/24)
	}
	return s
}

// BenchmarkRunDay replays one day at one-minute steps; the figure to watch is
// seconds per simulated day per policy (30 days × 5 policies must stay under 60 s).
func BenchmarkRunDay(b *testing.B) {
	rules, err := LoadRules("../rules", RuleOptions{ActionOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	tr := diurnal(1, 5*time.Minute)
	for _, p := range Policies() {
		b.Run(string(p), func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(context.Background(), tr, []Policy{p}, Options{Rules: rules}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*30/float64(b.N), "s/30days")
		})
	}
}

// BenchmarkRulesEval is one evaluation of the project's scaling rules over a
// store holding one group's series, with inputs changing every time (no reuse).
func BenchmarkRulesEval(b *testing.B) {
	rules := loadRules(b)
	st := newMemStore(rules.Retention.Milliseconds())
	in := exporterSeries()
	lsets := make([]labels.Labels, len(in))
	for i, s := range in {
		l, err := parserForTest().ParseMetric(s.series)
		if err != nil {
			b.Fatal(err)
		}
		lsets[i] = l
	}
	t0 := time.Unix(1700000000, 0)
	k := 0
	for b.Loop() {
		ts := t0.Add(time.Duration(k) * time.Minute)
		smp := make([]Sample, len(in))
		for i, s := range in {
			smp[i] = Sample{Labels: lsets[i], Value: s.values[k%len(s.values)] + float64(k)*1e-6}
		}
		st.write("scrape", ts.UnixMilli(), smp)
		if _, err := rules.eval(context.Background(), st, ts); err != nil {
			b.Fatal(err)
		}
		k++
	}
}

func parserForTest() parser.Parser { return parser.NewParser(parser.Options{}) }
