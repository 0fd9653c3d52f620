package collector

import (
	"math"
	"strconv"
)

// scaled converts a Cloud Eye value to base units. Dividing a percent by 100
// leaves binary noise that is no part of the datapoint (17.62/100 is
// 0.17620000000000002), so a fraction's result is rounded to 10 significant
// digits, a relative 1e-9, far below the two decimals Cloud Eye publishes.
// Whole factors (MiB to bytes, 1) are exact and left alone.
func scaled(v, factor float64) float64 {
	x := v * factor
	if factor >= 1 || x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 10, 64), 64)
	if err != nil {
		return x
	}
	return r
}
