package scoring

import (
	"math"
	"slices"
	"time"
)

// Signal names a group-level signal, as in the `signal` label of docs/metrics.md.
type Signal string

// The signals scoring knows. Values are in base units: ratios 0..1, seconds, items.
const (
	CPU          Signal = "cpu"
	Memory       Signal = "memory"
	GPU          Signal = "gpu"
	GPUMemory    Signal = "gpu_memory"
	NPU          Signal = "npu"
	Queue        Signal = "queue"
	ResponseTime Signal = "response_time"
	ErrorRate    Signal = "error_rate"
)

// Kind says which family of seed formulas a signal uses, and so its base unit.
type Kind int

const (
	Ratio   Kind = iota // utilisation or error ratio, 0..1
	Seconds             // response time
	Items               // queue length
)

// Range is a closed interval.
type Range struct{ Min, Max float64 }

// Guardrail bounds what the advisor may set for a signal's thresholds. Domain
// is what the unit allows at all: a value outside it is a misunderstanding (a
// percentage for a ratio), not a bold proposal.
type Guardrail struct {
	Out, In Range
	Domain  Range
}

// SignalSpec is one row of the signal table: what a signal is and the seed
// article's defaults for it, in base units.
type SignalSpec struct {
	Signal Signal
	Kind   Kind
	// Title is the signal for people ("CPU utilisation").
	Title string
	// Threshold is the default scale-out and scale-in threshold.
	Threshold Threshold
	// Weight is the default weight in the composite score. An accelerator's
	// weight counts only while its signal has fresh data (see Accelerator).
	Weight float64
	// Target is the default target of target tracking, in the signal's base
	// unit (items per instance for queue); 0 means not tracked.
	Target float64
	// HoldOut and HoldIn are how long a threshold must be crossed before its
	// alert fires; the rule generator writes every `for:` from them.
	HoldOut, HoldIn time.Duration
	// Accelerator marks GPU and NPU signals. Most groups have no accelerators,
	// so their weights must not dilute a CPU pool's score: they apply only
	// while fresh, and the composite is then renormalised (see Evaluate).
	Accelerator bool
	// Tuned says the advisor tunes this signal, within Guardrail.
	Tuned     bool
	Guardrail Guardrail
}

// unbounded is the domain of seconds and items: any non-negative value.
var unbounded = Range{0, math.MaxFloat64}

// SignalTable returns a copy of the one signal table: every signal in a fixed order with the
// seed article's numbers (DESIGN.md). Config defaults, the advisor, the rule
// generator, the dashboards and the backtest all read it.
//
// The article stops at CPU, memory, response time, queue and error rate; the
// accelerators are held and thresholded like CPU (GPU memory like memory).
// Their weights (0.30, 0.15, 0.30) only count while they have data; the
// error rate has thresholds but no weight, as in the article's code, whose
// 0.05 goes to the trend.
func SignalTable() []SignalSpec { return slices.Clone(table) }

// table is read-only: SignalTable hands out copies, and the hot paths
// (Score, Evaluate) look kinds up here without allocating.
var table = []SignalSpec{
	{Signal: CPU, Kind: Ratio, Title: "CPU utilisation",
		Threshold: Threshold{Out: 0.70, In: 0.30}, Weight: 0.30, Target: 0.6,
		HoldOut: 5 * time.Minute, HoldIn: 5 * time.Minute,
		Tuned: true, Guardrail: Guardrail{Out: Range{0.60, 0.90}, In: Range{0.10, 0.40}, Domain: Range{0, 1}}},
	{Signal: Memory, Kind: Ratio, Title: "Memory utilisation",
		Threshold: Threshold{Out: 0.80, In: 0.40}, Weight: 0.25, Target: 0.7,
		HoldOut: 5 * time.Minute, HoldIn: 5 * time.Minute,
		Tuned: true, Guardrail: Guardrail{Out: Range{0.70, 0.95}, In: Range{0.20, 0.50}, Domain: Range{0, 1}}},
	{Signal: GPU, Kind: Ratio, Title: "GPU utilisation",
		Threshold: Threshold{Out: 0.70, In: 0.30}, Weight: 0.30, Target: 0.6,
		HoldOut: 5 * time.Minute, HoldIn: 5 * time.Minute, Accelerator: true},
	{Signal: GPUMemory, Kind: Ratio, Title: "GPU memory utilisation",
		Threshold: Threshold{Out: 0.80, In: 0.40}, Weight: 0.15, Target: 0.8,
		HoldOut: 5 * time.Minute, HoldIn: 5 * time.Minute, Accelerator: true},
	{Signal: NPU, Kind: Ratio, Title: "NPU utilisation",
		Threshold: Threshold{Out: 0.70, In: 0.30}, Weight: 0.30, Target: 0.6,
		HoldOut: 5 * time.Minute, HoldIn: 5 * time.Minute, Accelerator: true},
	{Signal: Queue, Kind: Items, Title: "Queue length",
		Threshold: Threshold{Out: 100, In: 50}, Weight: 0.15, Target: 20,
		HoldOut: 3 * time.Minute, HoldIn: 3 * time.Minute,
		Tuned: true, Guardrail: Guardrail{Out: Range{50, 200}, In: Range{10, 100}, Domain: unbounded}},
	{Signal: ResponseTime, Kind: Seconds, Title: "Response time",
		Threshold: Threshold{Out: 2.0, In: 0.5}, Weight: 0.25, Target: 1.0,
		HoldOut: 3 * time.Minute, HoldIn: 3 * time.Minute,
		Tuned: true, Guardrail: Guardrail{Out: Range{1.0, 5.0}, In: Range{0.2, 1.0}, Domain: unbounded}},
	{Signal: ErrorRate, Kind: Ratio, Title: "Error rate",
		Threshold: Threshold{Out: 0.05, In: 0.01},
		HoldOut:   2 * time.Minute, HoldIn: 2 * time.Minute},
}

// DefaultTrendWeight is the article's 0.05: the error rate's share, given to
// the CPU trend.
const DefaultTrendWeight = 0.05

// Spec returns the table's row for s.
func Spec(s Signal) (SignalSpec, bool) {
	i, ok := signalIndex(s)
	if !ok {
		return SignalSpec{}, false
	}
	return table[i], true
}

// signalIndex is s's position in the table (and in Signals()).
func signalIndex(s Signal) (int, bool) {
	for i := range table {
		if table[i].Signal == s {
			return i, true
		}
	}
	return -1, false
}

// numSignals sizes the per-signal arrays of a Group.
const numSignals = 8

// Signals returns every known signal in a fixed order.
func Signals() []Signal {
	out := make([]Signal, len(table))
	for i, r := range table {
		out[i] = r.Signal
	}
	return out
}

// IsAccelerator reports whether s is a GPU or NPU signal, whose weight counts
// only while it has data.
func IsAccelerator(s Signal) bool {
	r, _ := Spec(s)
	return r.Accelerator
}

// KindOf is the signal's kind; unknown signals count as ratios.
func KindOf(s Signal) Kind {
	r, _ := Spec(s)
	return r.Kind
}
