package world

import (
	"fmt"
	"sort"
	"strings"
)

// Accelerator is the kind of device a flavour carries.
type Accelerator string

// Accelerator kinds.
const (
	AcceleratorNone Accelerator = ""
	AcceleratorGPU  Accelerator = "gpu"
	AcceleratorNPU  Accelerator = "npu"
)

// Flavor is an ECS flavour: what an instance has and what it costs.
type Flavor struct {
	Name   string
	VCPUs  int
	RAMMiB int
	DiskGB int
	// Devices is the number of GPUs or NPUs, Accelerator their kind.
	Devices     int
	Accelerator Accelerator
	DeviceModel string
	// DeviceMemMiB is the memory of one device.
	DeviceMemMiB int
	// DeviceTDPWatts is the power draw of one GPU at full load.
	DeviceTDPWatts float64
	// PricePerHour is the on-demand price, in CNY, billed per second.
	PricePerHour float64
}

// flavors is the catalogue simcloud knows: Flexus X x1.* CPU flavours, GPU
// flavours (pi2 with NVIDIA T4, p2s with V100, g6 with T4) and Ascend NPU
// flavours (ai1s with Ascend 310). Prices are rough list prices, for relative
// cost only.
func flavors() map[string]Flavor {
	list := []Flavor{
		{Name: "x1.1u.1g", VCPUs: 1, RAMMiB: 1024, DiskGB: 40, PricePerHour: 0.07},
		{Name: "x1.1u.2g", VCPUs: 1, RAMMiB: 2048, DiskGB: 40, PricePerHour: 0.10},
		{Name: "x1.2u.4g", VCPUs: 2, RAMMiB: 4096, DiskGB: 40, PricePerHour: 0.25},
		{Name: "x1.4u.8g", VCPUs: 4, RAMMiB: 8192, DiskGB: 40, PricePerHour: 0.50},
		{Name: "x1.8u.16g", VCPUs: 8, RAMMiB: 16384, DiskGB: 40, PricePerHour: 1.00},
		{Name: "x1.16u.32g", VCPUs: 16, RAMMiB: 32768, DiskGB: 40, PricePerHour: 2.00},
		{Name: "g6.xlarge.4", VCPUs: 4, RAMMiB: 16384, DiskGB: 40, Devices: 1, Accelerator: AcceleratorGPU, DeviceModel: "Tesla T4", DeviceMemMiB: 15360, DeviceTDPWatts: 70, PricePerHour: 5.13},
		{Name: "pi2.2xlarge.4", VCPUs: 8, RAMMiB: 32768, DiskGB: 40, Devices: 1, Accelerator: AcceleratorGPU, DeviceModel: "Tesla T4", DeviceMemMiB: 15360, DeviceTDPWatts: 70, PricePerHour: 6.51},
		{Name: "pi2.4xlarge.4", VCPUs: 16, RAMMiB: 65536, DiskGB: 40, Devices: 2, Accelerator: AcceleratorGPU, DeviceModel: "Tesla T4", DeviceMemMiB: 15360, DeviceTDPWatts: 70, PricePerHour: 13.02},
		{Name: "pi2.8xlarge.4", VCPUs: 32, RAMMiB: 131072, DiskGB: 40, Devices: 4, Accelerator: AcceleratorGPU, DeviceModel: "Tesla T4", DeviceMemMiB: 15360, DeviceTDPWatts: 70, PricePerHour: 26.04},
		{Name: "p2s.2xlarge.8", VCPUs: 8, RAMMiB: 65536, DiskGB: 40, Devices: 1, Accelerator: AcceleratorGPU, DeviceModel: "Tesla V100", DeviceMemMiB: 32768, DeviceTDPWatts: 300, PricePerHour: 17.50},
		{Name: "ai1s.large.4", VCPUs: 2, RAMMiB: 8192, DiskGB: 40, Devices: 1, Accelerator: AcceleratorNPU, DeviceModel: "Ascend 310", DeviceMemMiB: 8192, PricePerHour: 1.95},
		{Name: "ai1s.xlarge.4", VCPUs: 4, RAMMiB: 16384, DiskGB: 40, Devices: 1, Accelerator: AcceleratorNPU, DeviceModel: "Ascend 310", DeviceMemMiB: 8192, PricePerHour: 2.60},
		{Name: "ai1s.2xlarge.4", VCPUs: 8, RAMMiB: 32768, DiskGB: 40, Devices: 2, Accelerator: AcceleratorNPU, DeviceModel: "Ascend 310", DeviceMemMiB: 8192, PricePerHour: 5.20},
	}
	m := make(map[string]Flavor, len(list))
	for _, f := range list {
		m[f.Name] = f
	}
	return m
}

// LookupFlavor returns the named flavour from the catalogue.
func LookupFlavor(name string) (Flavor, error) {
	all := flavors()
	if f, ok := all[name]; ok {
		return f, nil
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	return Flavor{}, fmt.Errorf("unknown flavor %q: use one of %s", name, strings.Join(names, ", "))
}

// deviceOrigin is the real device id the Cloud Eye agent reports for device i:
// a PCI bus id for GPUs, npu-N for Ascend NPUs.
func deviceOrigin(kind Accelerator, i int) string {
	if kind == AcceleratorNPU {
		return fmt.Sprintf("npu-%d", i)
	}
	return fmt.Sprintf("0000:00:%02x.0", 0x0d+i)
}
