package collector

import (
	"math"
	"strconv"
	"testing"
)

func TestScaledDropsTheNoiseOfAPercentDivisionOnly(t *testing.T) {
	for _, tc := range []struct {
		name          string
		v, factor     float64
		want          float64
		wantPrintable string
	}{
		{"a percent becomes the ratio it names", 17.62, 0.01, 0.1762, "0.1762"},
		{"another percent", 25.92, 0.01, 0.2592, "0.2592"},
		{"a tiny ratio keeps its digits", 0.0012345678, 0.01, 0.000012345678, "1.2345678e-05"},
		{"MiB to bytes is exact and untouched", 16001, mib, 16001 * mib, "1.6778264576e+10"},
		{"a factor of 1 is untouched", 0.30000000000000004, 1, 0.30000000000000004, "0.30000000000000004"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scaled(tc.v, tc.factor)
			if got != tc.want {
				t.Errorf("scaled(%v, %v) = %v, want %v", tc.v, tc.factor, got, tc.want)
			}
			if s := strconv.FormatFloat(got, 'g', -1, 64); s != tc.wantPrintable {
				t.Errorf("prints as %s, want %s", s, tc.wantPrintable)
			}
		})
	}
	if !math.IsNaN(scaled(math.NaN(), 0.01)) {
		t.Error("NaN must stay NaN")
	}
}
