// Package cost holds what scaling spends, wastes and earns, as pure functions:
// the Flexus X flavour catalogue, prices with their config overrides, the cost
// rate and idle capacity of a group, and right-sizing to a flavour of the
// same family. It does no I/O: the exporter brings the prices (hwcloud's BSS
// client) and the utilisation, and publishes what these functions compute.
package cost

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Flavor is an ECS flavour as the catalogue knows it.
type Flavor struct {
	// Name is the flavour id, e.g. x1.2u.4g.
	Name string
	// Family is the flavour type before the first dot: x1, or x1e with
	// performance mode on. Right-sizing stays inside a family.
	Family    string
	VCPUs     int
	MemoryGiB float64
}

// ParseFlavor reads a Flexus X flavour name, family.Nu.Mg (x1.2u.4g). Other
// ECS flavours (c7.large.2, pi2.2xlarge.4) do not carry their size in the
// name and are refused: right-sizing does not cover them.
func ParseFlavor(name string) (Flavor, error) {
	parts := strings.Split(name, ".")
	if len(parts) != 3 || !strings.HasSuffix(parts[1], "u") || !strings.HasSuffix(parts[2], "g") {
		return Flavor{}, fmt.Errorf("cost: flavour %q is not a Flexus X flavour like x1.2u.4g", name)
	}
	cpus, err := strconv.Atoi(strings.TrimSuffix(parts[1], "u"))
	if err != nil || cpus < 1 {
		return Flavor{}, fmt.Errorf("cost: flavour %q: %q is not a vCPU count like 2u", name, parts[1])
	}
	mem, err := strconv.ParseFloat(strings.TrimSuffix(parts[2], "g"), 64)
	if err != nil || mem <= 0 {
		return Flavor{}, fmt.Errorf("cost: flavour %q: %q is not a memory size like 4g", name, parts[2])
	}
	return Flavor{Name: name, Family: parts[0], VCPUs: cpus, MemoryGiB: mem}, nil
}

// FlexusX is the Flexus X catalogue: families x1 (default) and x1e
// (performance mode), each with vCPU counts 1..16 at the memory ratios 1:1,
// 1:2, 1:4 and 1:8.
//
// Source: "Instance Specifications" of Flexus X
// (https://support.huaweicloud.com/productdesc-flexusx/pd_01_0003.html) and
// the flavour naming rule of its API reference
// (https://support.huaweicloud.com/api-flexusx/api_0001.html). Huawei notes
// that the vCPU and memory offered vary slightly by region: a recommended
// flavour the region lacks is refused by CreateServers, so check the console.
func FlexusX() []Flavor {
	var out []Flavor
	for _, family := range []string{"x1", "x1e"} {
		for _, cpus := range []int{1, 2, 4, 8, 12, 16} {
			for _, ratio := range []int{1, 2, 4, 8} {
				mem := cpus * ratio
				if mem > 64 {
					continue
				}
				name := fmt.Sprintf("%s.%du.%dg", family, cpus, mem)
				out = append(out, Flavor{Name: name, Family: family, VCPUs: cpus, MemoryGiB: float64(mem)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		if a.VCPUs != b.VCPUs {
			return a.VCPUs < b.VCPUs
		}
		return a.MemoryGiB < b.MemoryGiB
	})
	return out
}

// Family returns the catalogue's flavours of family, smallest first.
func Family(catalogue []Flavor, family string) []Flavor {
	var out []Flavor
	for _, f := range catalogue {
		if f.Family == family {
			out = append(out, f)
		}
	}
	return out
}
