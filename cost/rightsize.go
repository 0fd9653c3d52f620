package cost

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Sample is one observation of a group over the right-sizing window:
// instances in service and their mean utilisation, ratios 0..1 (NaN when the
// signal was not measured).
type Sample struct {
	Instances        int
	CPU, Memory, GPU float64
}

// Targets are the utilisation a group aims for (its signals' targets).
type Targets struct{ CPU, Memory float64 }

// RightSizeOptions tune the advice.
type RightSizeOptions struct {
	// Quantile of the window's demand that must fit (default 0.95).
	Quantile float64
	// MinSaving is the fraction of the present cost a change must save to be
	// advised (default 0.05): a flavour change restarts servers, and a few
	// percent is within the noise of the window.
	MinSaving float64
}

// Advice is the right-sizing of one group.
type Advice struct {
	Current, Recommended Flavor
	// CurrentInstances and RecommendedInstances carry the window's demand
	// quantile at the targets with each flavour.
	CurrentInstances, RecommendedInstances int
	// CurrentPerHour and RecommendedPerHour are what those instances cost;
	// SavingPerHour is the difference (0 when no change is advised).
	CurrentPerHour, RecommendedPerHour, SavingPerHour float64
	// Reason says in words why, for the info metric and the log.
	Reason string
	// CPUQuantile, MemoryQuantile and GPUQuantile are the window's per-instance
	// utilisation at the quantile (NaN when not measured).
	CPUQuantile, MemoryQuantile, GPUQuantile float64
}

// Changed reports advice to change the flavour.
func (a Advice) Changed() bool { return a.Recommended.Name != a.Current.Name }

// RightSize finds the flavour of the current one's family that carries the
// window's demand (the quantile of vCPUs and of GiB in use) at the targets
// for the least money. fleet gives the hourly price of n instances of a
// flavour, so a group with an on-demand base and the rest on spot is priced
// as it would run (MarketPrices.Fleet); flavours it cannot price are
// skipped. Horizontal scaling stays: a smaller flavour means more instances,
// and the advice compares whole groups.
func RightSize(current string, window []Sample, targets Targets, catalogue []Flavor, fleet func(f Flavor, n int) (float64, bool), opts RightSizeOptions) (Advice, error) {
	if opts.Quantile == 0 {
		opts.Quantile = 0.95
	}
	if opts.MinSaving == 0 {
		opts.MinSaving = 0.05
	}
	cur, err := ParseFlavor(current)
	if err != nil {
		return Advice{}, err
	}
	if targets.CPU <= 0 || targets.CPU > 1 || targets.Memory <= 0 || targets.Memory > 1 {
		return Advice{}, fmt.Errorf("cost: targets cpu %g and memory %g must be within (0, 1]", targets.CPU, targets.Memory)
	}
	var cpuUse, memUse, cpuUtil, memUtil, gpuUtil []float64
	for _, s := range window {
		if s.Instances <= 0 {
			continue
		}
		if !math.IsNaN(s.CPU) {
			cpuUse = append(cpuUse, float64(s.Instances)*float64(cur.VCPUs)*s.CPU)
			cpuUtil = append(cpuUtil, s.CPU)
		}
		if !math.IsNaN(s.Memory) {
			memUse = append(memUse, float64(s.Instances)*cur.MemoryGiB*s.Memory)
			memUtil = append(memUtil, s.Memory)
		}
		if !math.IsNaN(s.GPU) {
			gpuUtil = append(gpuUtil, s.GPU)
		}
	}
	a := Advice{Current: cur, Recommended: cur,
		CPUQuantile: quantile(cpuUtil, opts.Quantile), MemoryQuantile: quantile(memUtil, opts.Quantile), GPUQuantile: quantile(gpuUtil, opts.Quantile)}
	if len(cpuUse) == 0 || len(memUse) == 0 {
		return a, errors.New("cost: right-sizing needs CPU and memory utilisation over the window; none was measured")
	}
	if len(gpuUtil) > 0 {
		a.Reason = "GPUs in use: accelerated flavours are not in the Flexus X catalogue"
		return a, nil
	}
	vcpus, gib := quantile(cpuUse, opts.Quantile), quantile(memUse, opts.Quantile)
	need := func(f Flavor) int {
		n := math.Max(vcpus/(float64(f.VCPUs)*targets.CPU), gib/(f.MemoryGiB*targets.Memory))
		return max(int(math.Ceil(n-1e-9)), 1)
	}
	a.CurrentInstances = need(cur)
	curCost, ok := fleet(cur, a.CurrentInstances)
	if !ok {
		return a, fmt.Errorf("cost: no price for the current flavour %s", cur.Name)
	}
	a.CurrentPerHour = curCost
	a.RecommendedInstances, a.RecommendedPerHour = a.CurrentInstances, a.CurrentPerHour
	candidates := Family(catalogue, cur.Family)
	sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].Name < candidates[j].Name })
	best, bestN, bestCost := cur, a.CurrentInstances, a.CurrentPerHour
	for _, f := range candidates {
		n := need(f)
		c, ok := fleet(f, n)
		if !ok {
			continue
		}
		if c < bestCost-1e-12 {
			best, bestN, bestCost = f, n, c
		}
	}
	bound := "memory"
	if vcpus/(float64(cur.VCPUs)*targets.CPU) >= gib/(cur.MemoryGiB*targets.Memory) {
		bound = "CPU"
	}
	if best.Name == cur.Name || a.CurrentPerHour-bestCost < opts.MinSaving*a.CurrentPerHour {
		a.Reason = fmt.Sprintf("%s keeps the cost lowest: the group is %s-bound (p%.0f CPU %.0f%%, memory %.0f%%)",
			cur.Name, bound, opts.Quantile*100, a.CPUQuantile*100, a.MemoryQuantile*100)
		return a, nil
	}
	a.Recommended, a.RecommendedInstances, a.RecommendedPerHour = best, bestN, bestCost
	a.SavingPerHour = a.CurrentPerHour - bestCost
	a.Reason = fmt.Sprintf("%d × %s carry p%.0f demand (%.1f vCPU, %.1f GiB) for %.0f%% less than %d × %s: the group is %s-bound (CPU %.0f%%, memory %.0f%%)",
		bestN, best.Name, opts.Quantile*100, vcpus, gib, 100*a.SavingPerHour/a.CurrentPerHour, a.CurrentInstances, cur.Name, bound, a.CPUQuantile*100, a.MemoryQuantile*100)
	return a, nil
}

// quantile is the q-quantile of xs by linear interpolation; NaN when empty.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (s[i+1]-s[i])*(pos-float64(i))
}
