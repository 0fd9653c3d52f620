package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/flexus-autoscaler/flexus/trace"
)

// Comparison is a trace replayed twice for each policy, under a base and a
// variant that adds one feature (a warm pool, spot), from the same start and
// seed.
type Comparison struct {
	Trace    string
	Feature  string
	Policies []Pair
	f        feature
}

// Pair is one policy's figures in the base run and the variant run.
type Pair struct {
	Policy        Policy
	Base, Variant RunFigures
	// CostSaved is the base's bill minus the variant's, in on-demand
	// instance-hours (negative: the variant costs more); CostSavedRatio
	// is its share of the base's bill.
	CostSaved      float64
	CostSavedRatio float64
	// ViolationMinutesAdded is the variant's minutes over the SLO minus the base's.
	ViolationMinutesAdded int
}

// RunFigures are one policy's figures in one run of a comparison. Every
// comparison reports every field, zero where its feature is off.
type RunFigures struct {
	InstanceHours float64 `json:"instance_hours"`
	// Cost is the bill in on-demand instance-hours: a running hour counts
	// 1, a stopped (pooled) one its stopped cost, a spot one 1 − discount.
	Cost float64 `json:"cost_on_demand_instance_hours"`
	// CostRatioToOracle is Cost over the oracle's in the same run (0 when
	// oracle did not run).
	CostRatioToOracle float64 `json:"cost_ratio_to_oracle"`
	ViolationMinutes  int     `json:"slo_violation_minutes"`
	// PoolHours is how long instances were stopped in the warm pool.
	PoolHours float64 `json:"pool_hours"`
	Reclaims  int     `json:"spot_reclaims"`
}

// feature is what a variant adds, as the comparison prints it.
type feature struct {
	// name is the feature's; runs label the base and the variant (the JSON
	// keys of each policy's two runs, in text with spaces).
	name string
	runs [2]string
	// setup follows the trace's name in the text heading; params are the
	// same settings as top-level JSON keys.
	setup  string
	params map[string]any
	// cause is what the variant's violation minutes are "added by".
	cause string
	// extra are columns of the variant's figures, printed after the saving.
	extra []column
}

type column struct {
	head string
	cell func(RunFigures) string
}

// describe names what variant adds to base: spot, else a warm pool.
func describe(base, variant Options) (feature, error) {
	switch {
	case variant.Spot != nil && base.Spot == nil:
		return variant.Spot.feature(), nil
	case variant.Pool.Size > 0 && base.Pool.Size == 0:
		return variant.Pool.feature()
	}
	return feature{}, errors.New("backtest: the two runs to compare differ in neither spot nor a warm pool: " +
		"give --spot.reclaim-rate R, or --warm-pool N of at least 1 to compare with none")
}

// Compare replays tr for each policy under base and under variant, and
// pairs the figures.
func Compare(ctx context.Context, tr trace.Series, policies []Policy, base, variant Options) (*Comparison, error) {
	f, err := describe(base, variant)
	if err != nil {
		return nil, err
	}
	a, err := Run(ctx, tr, policies, base)
	if err != nil {
		return nil, err
	}
	b, err := Run(ctx, tr, policies, variant)
	if err != nil {
		return nil, err
	}
	c := &Comparison{Trace: tr.Name, Feature: f.name, f: f}
	ra, rb := runFigures(a), runFigures(b)
	for _, p := range a.Order {
		pr := Pair{Policy: p, Base: ra[p], Variant: rb[p]}
		pr.CostSaved = pr.Base.Cost - pr.Variant.Cost
		if pr.Base.Cost > 0 {
			pr.CostSavedRatio = pr.CostSaved / pr.Base.Cost
		}
		pr.ViolationMinutesAdded = pr.Variant.ViolationMinutes - pr.Base.ViolationMinutes
		c.Policies = append(c.Policies, pr)
	}
	return c, nil
}

// runFigures reads a run's figures per policy, with cost ratios of the bill.
func runFigures(r *Result) map[Policy]RunFigures {
	out := make(map[Policy]RunFigures, len(r.Figures))
	for p, f := range r.Figures {
		rf := RunFigures{InstanceHours: f.InstanceHours, Cost: f.InstanceHours, ViolationMinutes: f.ViolationMinutes, PoolHours: f.PoolHours}
		if f.Spot != nil {
			rf.Cost, rf.Reclaims = f.Spot.CostInstanceHours, f.Spot.Reclaims
		}
		out[p] = rf
	}
	if o, ok := out[PolicyOracle]; ok && o.Cost > 0 {
		for p, rf := range out {
			rf.CostRatioToOracle = rf.Cost / o.Cost
			out[p] = rf
		}
	}
	return out
}

// WriteText prints one row per policy: cost over the oracle's, the bill and
// the minutes over the SLO in both runs, what the variant saved and the
// minutes it added, and the feature's own figures.
func (c *Comparison) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "trace %s: %s\n", c.Trace, c.f.setup)
	b, v := strings.ReplaceAll(c.f.runs[0], "_", " "), strings.ReplaceAll(c.f.runs[1], "_", " ")
	head := []string{"policy", "cost/oracle " + b, v, "cost h " + b, v, "saved"}
	for _, x := range c.f.extra {
		head = append(head, x.head)
	}
	head = append(head, "SLO-violation min "+b, v, "added by "+c.f.cause)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, p := range c.Policies {
		row := []string{string(p.Policy), ratio(p.Base.CostRatioToOracle), ratio(p.Variant.CostRatioToOracle),
			fmt.Sprintf("%.1f", p.Base.Cost), fmt.Sprintf("%.1f", p.Variant.Cost), fmt.Sprintf("%.1f%%", p.CostSavedRatio*100)}
		for _, x := range c.f.extra {
			row = append(row, x.cell(p.Variant))
		}
		row = append(row, fmt.Sprint(p.Base.ViolationMinutes), fmt.Sprint(p.Variant.ViolationMinutes), fmt.Sprintf("%+d", p.ViolationMinutesAdded))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

// ratio prints a cost ratio to the oracle, "-" without one.
func ratio(r float64) string {
	if r <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", r)
}

// WriteJSON prints one object: the trace, the feature, its settings, the
// two runs' labels, and per policy both runs' figures under those labels
// with the saving and the minutes added.
func (c *Comparison) WriteJSON(w io.Writer) error {
	out := object{{"trace", c.Trace}, {"feature", c.Feature}}
	for _, k := range slices.Sorted(maps.Keys(c.f.params)) {
		out = append(out, field{k, c.f.params[k]})
	}
	ps := make([]object, 0, len(c.Policies))
	for _, p := range c.Policies {
		ps = append(ps, object{{"policy", p.Policy}, {c.f.runs[0], p.Base}, {c.f.runs[1], p.Variant},
			{"cost_saved_on_demand_instance_hours", p.CostSaved}, {"cost_saved_ratio", p.CostSavedRatio},
			{"violation_minutes_added", p.ViolationMinutesAdded}})
	}
	out = append(out, field{"runs", c.f.runs}, field{"policies", ps})
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// object is a JSON object whose keys are printed in order: the runs'
// labels are data, so no struct can carry them.
type object []field

type field struct {
	key   string
	value any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
