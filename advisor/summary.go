package advisor

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/flexus-autoscaler/flexus/trace"
)

// Summary is what the exporter tells the advisor about one group. It holds only
// aggregates and the group's name: no instance ids, no addresses, no credentials.
type Summary struct {
	Group string
	// Window is how much history the statistics cover.
	Window time.Duration
	// Current are the thresholds and weights in force.
	Current Settings
	// Signals holds the statistics of each signal with data; a missing signal is sent as absent.
	Signals  map[Signal]SignalStats
	Outcomes Outcomes
	// Demand is the group's recent load in instance-equivalents (CPU
	// utilisation × instances in service), evenly spaced: what a proposal is
	// replayed over before it counts (check.go). It is not sent to the model.
	Demand trace.Series
}

// SignalStats describe one signal over the window, in its base unit.
// Fill it with SummariseSignal, or by hand.
type SignalStats struct {
	Samples                          int
	Mean, StdDev, Min, P50, P95, Max float64
	// HourlyMean is the mean per hour of day (UTC); NaN where the hour has no samples.
	HourlyMean [24]float64
	// AboveOutRatio and BelowInRatio are the share of samples above the scale-out
	// threshold and below the scale-in threshold in force.
	AboveOutRatio, BelowInRatio float64
}

// Outcomes say what scaling did over the window and what it cost.
type Outcomes struct {
	ScaleOuts, ScaleIns int
	// Refused counts actions the actuator's guards refused (cooldown, bounds, step).
	Refused int
	// ViolationSeconds is time the response time spent above its scale-out threshold
	// (under-provisioned); IdleSeconds time every signal spent below its scale-in threshold.
	ViolationSeconds, IdleSeconds float64
	MinInstances, MaxInstances    int
	MeanInstances                 float64
}

// SummariseSignal computes SignalStats from samples, skipping NaN and ±Inf.
// times and values are parallel; band is the thresholds in force for the signal.
func SummariseSignal(times []time.Time, values []float64, band Band) SignalStats {
	var st SignalStats
	var sums, counts [24]float64
	clean := make([]float64, 0, len(values))
	above, below := 0, 0
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) || i >= len(times) {
			continue
		}
		clean = append(clean, v)
		h := times[i].UTC().Hour()
		sums[h] += v
		counts[h]++
		if v > band.Out {
			above++
		}
		if v < band.In {
			below++
		}
	}
	for h := range st.HourlyMean {
		st.HourlyMean[h] = math.NaN()
		if counts[h] > 0 {
			st.HourlyMean[h] = sums[h] / counts[h]
		}
	}
	st.Samples = len(clean)
	if st.Samples == 0 {
		nan := math.NaN()
		st.Mean, st.StdDev, st.Min, st.P50, st.P95, st.Max = nan, nan, nan, nan, nan, nan
		return st
	}
	n := float64(st.Samples)
	// Summing offsets from the first sample keeps a constant series exactly constant.
	shift := 0.0
	for _, v := range clean {
		shift += v - clean[0]
	}
	st.Mean = clean[0] + shift/n
	for _, v := range clean {
		st.StdDev += (v - st.Mean) * (v - st.Mean)
	}
	st.StdDev = math.Sqrt(st.StdDev / n)
	slices.Sort(clean)
	st.Min, st.Max = clean[0], clean[len(clean)-1]
	st.P50, st.P95 = quantile(clean, 0.5), quantile(clean, 0.95)
	st.AboveOutRatio, st.BelowInRatio = float64(above)/n, float64(below)/n
	return st
}

// quantile interpolates linearly between closest ranks of sorted xs.
func quantile(xs []float64, q float64) float64 {
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
}

// num prints with 4 significant digits (the prompt stays short) and NaN/Inf as null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 4, 64), nil
}

type promptBand struct {
	ScaleOut num `json:"scale_out"`
	ScaleIn  num `json:"scale_in"`
}

type promptSignal struct {
	Samples       int     `json:"samples"`
	Mean          num     `json:"mean"`
	StdDev        num     `json:"stddev"`
	Min           num     `json:"min"`
	P50           num     `json:"p50"`
	P95           num     `json:"p95"`
	Max           num     `json:"max"`
	HourlyMeanUTC [24]num `json:"hourly_mean_utc"`
	AboveOut      num     `json:"share_above_scale_out"`
	BelowIn       num     `json:"share_below_scale_in"`
}

type promptSummary struct {
	Group         string                  `json:"group"`
	WindowSeconds int64                   `json:"window_seconds"`
	Signals       map[Signal]promptSignal `json:"signals"`
	Current       struct {
		Thresholds  map[Signal]promptBand `json:"thresholds"`
		Weights     map[Signal]num        `json:"weights"`
		TrendWeight num                   `json:"trend_weight"`
	} `json:"current"`
	Outcomes struct {
		ScaleOuts        int `json:"scale_out_actions"`
		ScaleIns         int `json:"scale_in_actions"`
		Refused          int `json:"refused_actions"`
		ViolationSeconds num `json:"seconds_response_time_above_scale_out"`
		IdleSeconds      num `json:"seconds_all_signals_below_scale_in"`
		MinInstances     int `json:"min_instances"`
		MaxInstances     int `json:"max_instances"`
		MeanInstances    num `json:"mean_instances"`
	} `json:"outcomes"`
}

// promptJSON renders the summary compactly; only the four tuned signals are sent.
func (s Summary) promptJSON() ([]byte, error) {
	p := promptSummary{Group: s.Group, WindowSeconds: int64(s.Window.Seconds()), Signals: map[Signal]promptSignal{}}
	p.Current.Thresholds = map[Signal]promptBand{}
	p.Current.Weights = map[Signal]num{}
	p.Current.TrendWeight = num(s.Current.TrendWeight)
	for _, sig := range Signals() {
		if b, ok := s.Current.Thresholds[sig]; ok {
			p.Current.Thresholds[sig] = promptBand{ScaleOut: num(b.Out), ScaleIn: num(b.In)}
		}
		if w, ok := s.Current.Weights[sig]; ok {
			p.Current.Weights[sig] = num(w)
		}
		st, ok := s.Signals[sig]
		if !ok || st.Samples == 0 {
			continue
		}
		ps := promptSignal{
			Samples: st.Samples, Mean: num(st.Mean), StdDev: num(st.StdDev), Min: num(st.Min),
			P50: num(st.P50), P95: num(st.P95), Max: num(st.Max),
			AboveOut: num(st.AboveOutRatio), BelowIn: num(st.BelowInRatio),
		}
		for h, v := range st.HourlyMean {
			ps.HourlyMeanUTC[h] = num(v)
		}
		p.Signals[sig] = ps
	}
	o := s.Outcomes
	p.Outcomes.ScaleOuts, p.Outcomes.ScaleIns, p.Outcomes.Refused = o.ScaleOuts, o.ScaleIns, o.Refused
	p.Outcomes.ViolationSeconds, p.Outcomes.IdleSeconds = num(o.ViolationSeconds), num(o.IdleSeconds)
	p.Outcomes.MinInstances, p.Outcomes.MaxInstances, p.Outcomes.MeanInstances = o.MinInstances, o.MaxInstances, num(o.MeanInstances)
	return json.Marshal(p)
}

// hasData says whether there is anything worth asking about.
func (s Summary) hasData() bool {
	for _, st := range s.Signals {
		if st.Samples > 0 {
			return true
		}
	}
	return false
}
