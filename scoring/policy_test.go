package scoring

import (
	"math"
	"testing"
	"time"
)

func TestSeedRecommend(t *testing.T) {
	p := Defaults()
	for _, tc := range []struct {
		name          string
		n             int
		score         float64
		lo, hi, wantN int
	}{
		{"above 0.3 scales out by max(1, int(n*score*0.5))", 10, 0.8, 1, 20, 14},
		{"a small group still scales out by at least 1", 2, 0.4, 1, 20, 3},
		{"scale-out is capped at max", 10, 0.8, 1, 12, 12},
		{"exactly 0.3 holds", 10, 0.3, 1, 20, 10},
		{"below -0.3 scales in by max(1, int(n*|score|*0.3))", 10, -1, 1, 20, 7},
		{"a small scale-in is at least 1", 10, -0.31, 1, 20, 9},
		{"scale-in is floored at min", 10, -1, 8, 20, 8},
		{"exactly -0.3 holds", 10, -0.3, 1, 20, 10},
		{"holding still clamps into min..max", 25, 0, 1, 20, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SeedRecommend(tc.n, tc.score, p, tc.lo, tc.hi); got != tc.wantN {
				t.Errorf("SeedRecommend(%d, %v) = %d, want %d", tc.n, tc.score, got, tc.wantN)
			}
		})
	}
}

func TestTargetDesiredIsTheHPAFormula(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		ratio float64
		want  int
	}{
		{"inside the 10% tolerance band nothing changes (above)", 10, 1.09, 10},
		{"inside the 10% tolerance band nothing changes (below)", 10, 0.91, 10},
		{"outside the band it is ceil(n*ratio)", 10, 1.2, 12},
		{"ceil rounds a partial instance up", 10, 1.21, 13},
		{"scale-in halves at half the target", 10, 0.5, 5},
		{"with no instances the base is one", 0, 3, 3},
		{"an absurd ratio is capped instead of overflowing", 10, 1e300, maxInstances},
		{"a NaN ratio holds", 10, math.NaN(), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TargetDesired(tc.n, tc.ratio, 0.1); got != tc.want {
				t.Errorf("TargetDesired(%d, %v) = %d, want %d", tc.n, tc.ratio, got, tc.want)
			}
		})
	}
}

func TestUsageRatioPerSignal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sig    Signal
		v      float64
		n      int
		target float64
		want   float64
	}{
		{"utilisation over its target", CPU, 0.9, 4, 0.6, 1.5},
		{"queue items per instance over the per-instance target", Queue, 400, 10, 20, 2},
		{"response time in seconds over the target in seconds", ResponseTime, 1.5, 10, 1.0, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := usageRatio(tc.sig, tc.v, tc.n, tc.target)
			if !ok || !near(got, tc.want) {
				t.Errorf("usageRatio = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
	if _, ok := usageRatio(ErrorRate, 0.5, 10, 0); ok {
		t.Error("a signal without a target must not be tracked")
	}
}

func TestStabilizerHoldsScaleInForTheWindow(t *testing.T) {
	var s stabilizer
	t0 := time.Unix(1_700_000_000, 0)
	w := 5 * time.Minute
	steps := []struct {
		at   time.Duration
		rec  int
		want int
	}{
		{0, 10, 10},
		{time.Minute, 6, 10},      // scale-in waits
		{4 * time.Minute, 6, 10},  // still inside the window of the 10
		{5 * time.Minute, 6, 6},   // the 10 has left the window
		{6 * time.Minute, 12, 12}, // scale-out passes at once
	}
	for _, st := range steps {
		if got := s.add(t0.Add(st.at), w, st.rec); got != st.want {
			t.Errorf("at %v recommending %d: got %d, want %d", st.at, st.rec, got, st.want)
		}
	}
}
