package metricnames

import (
	"strings"
	"testing"

	"github.com/flexus-autoscaler/flexus/scoring"
)

func TestEachSignalHasTheFamiliesOfItsUnit(t *testing.T) {
	for _, tc := range []struct {
		signal                     scoring.Signal
		value, threshold, forecast string
	}{
		{scoring.CPU, "flexus_signal_ratio", "flexus_threshold_ratio", "flexus_forecast_ratio"},
		{scoring.Memory, "flexus_signal_ratio", "flexus_threshold_ratio", "flexus_forecast_ratio"},
		{scoring.GPU, "flexus_signal_ratio", "flexus_threshold_ratio", "flexus_forecast_ratio"},
		{scoring.GPUMemory, "flexus_signal_ratio", "flexus_threshold_ratio", "flexus_forecast_ratio"},
		{scoring.NPU, "flexus_signal_ratio", "flexus_threshold_ratio", "flexus_forecast_ratio"},
		{scoring.ErrorRate, "flexus_signal_ratio", "flexus_threshold_ratio", "flexus_forecast_ratio"},
		{scoring.ResponseTime, "flexus_signal_seconds", "flexus_threshold_seconds", "flexus_forecast_seconds"},
		{scoring.Queue, "flexus_signal_items", "flexus_threshold_items", "flexus_forecast_items"},
	} {
		if got := Signal(tc.signal); got != tc.value {
			t.Errorf("%s: value family %s, want %s", tc.signal, got, tc.value)
		}
		if got := Threshold(tc.signal); got != tc.threshold {
			t.Errorf("%s: threshold family %s, want %s", tc.signal, got, tc.threshold)
		}
		if got := Forecast(tc.signal); got != tc.forecast {
			t.Errorf("%s: forecast family %s, want %s", tc.signal, got, tc.forecast)
		}
	}
}

func TestEveryTableSignalIsInAListedUnitNamedAsItsSuffix(t *testing.T) {
	units := map[Unit]bool{}
	for _, u := range Units() {
		units[u] = true
	}
	for _, r := range scoring.SignalTable() {
		u := UnitOf(r.Signal)
		if !units[u] {
			t.Errorf("%s: unit %q is not in Units(), so no rule or descriptor is written for it", r.Signal, u)
		}
		for _, name := range []string{Signal(r.Signal), Threshold(r.Signal), Forecast(r.Signal)} {
			if !strings.HasSuffix(name, "_"+string(u)) {
				t.Errorf("%s: family %s does not end in its unit %q", r.Signal, name, u)
			}
		}
	}
}
