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

func TestQuantileAtInterpolatesBetweenPublishedLevels(t *testing.T) {
	q := [NumQuantiles]float64{1, 5, 9, 10, 14}
	for _, tc := range []struct {
		name string
		p    float64
		want float64
	}{
		{"a published level is read as it is", 0.9, 9},
		{"between 0.9 and 0.95 is linear", 0.925, 9.5},
		{"between 0.5 and 0.9 is linear", 0.7, 7},
		{"above 0.99 holds the top level", 0.999, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := quantileAt(q, tc.p); !ok || math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("quantileAt(%v) = %v, %v; want %v", tc.p, got, ok, tc.want)
			}
		})
	}
	if _, ok := quantileAt([NumQuantiles]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}, 0.9); ok {
		t.Error("ungraded quantiles (NaN) must not be read")
	}
}

func TestUpperOverLead(t *testing.T) {
	at := func(h time.Duration, point, q90 float64) Forecast {
		return Forecast{Horizon: h, Value: point, Quantiles: [NumQuantiles]float64{0, point, q90, q90, q90}}
	}
	fcs := []Forecast{at(5*time.Minute, 10, 20), at(15*time.Minute, 10, 40), at(time.Hour, 5, 10)}
	for _, tc := range []struct {
		name string
		now  float64
		lead time.Duration
		want float64
	}{
		{"a lead inside the first horizon interpolates from the current value", 10, 150 * time.Second, 15},
		{"a lead past a horizon takes the highest quantile within it", 10, 10 * time.Minute, 30},
		{"the current value counts when it is the highest", 50, 10 * time.Minute, 50},
		{"a falling forecast past the peak keeps the peak", 10, time.Hour, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := upperOverLead(tc.now, fcs, tc.lead, 0.9); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("upperOverLead = %v, want %v", got, tc.want)
			}
		})
	}
	ungraded := []Forecast{{Horizon: 5 * time.Minute, Value: 30, Quantiles: [NumQuantiles]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}}}
	if got := upperOverLead(10, ungraded, 5*time.Minute, 0.9); got != 30 {
		t.Errorf("ungraded horizon: %v, want its point forecast 30", got)
	}
}

// TestPredictiveReadsArrivalsFromAGrowingBacklog: Cloud Eye's CPU stops at
// 100%, so it cannot say how far demand is above capacity; the queue's growth,
// scraped fresh, can. Four instances serving 100/s each, CPU at 100%, a
// backlog of 12,000 to drain in 2 minutes (one instance's worth), held at the
// 0.7 scale-out threshold.
func TestPredictiveReadsArrivalsFromAGrowingBacklog(t *testing.T) {
	const n, rate, backlog = 4, 100.0, 12000.0
	drain := backlog / (120 * rate)
	for _, tc := range []struct {
		name     string
		growth   float64 // items per second over the last minute
		arrivals float64 // instances at 100%
	}{
		{"a standing backlog: arrivals are what the instances serve", 0, n},
		{"a backlog growing by 100/s: one instance's worth more arrives than they serve", 100, n + 1},
		{"a backlog growing by 250/s: two and a half more", 250, n + 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(t, func(p *Params) { p.ServiceRate = rate; p.DrainWindow = 2 * time.Minute })
			feed(t, g, CPU, t0, 10, time.Minute, func(int) float64 { return 1 })
			last := feed(t, g, Queue, t0, 10, time.Minute, func(i int) float64 { return backlog - float64(9-i)*tc.growth*60 })
			r := g.Evaluate(last, GroupState{Current: n, Min: 1, Max: 100})
			want := int(math.Ceil((tc.arrivals + drain) / 0.7))
			if got := r.Recommended[PolicyPredictive]; got != want {
				t.Errorf("predictive = %d, want ceil((%g arriving + %g to drain) / 0.7) = %d", got, tc.arrivals, drain, want)
			}
		})
	}
}

func TestBacklogGrowthIsTheSlopeOfTheLastTwoFreshSamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   []time.Duration
		v    []float64
		now  time.Duration
		want float64
	}{
		{"rising by 600 in a minute is 10/s", []time.Duration{0, time.Minute}, []float64{100, 700}, time.Minute, 10},
		{"only the last two samples count", []time.Duration{0, time.Minute, 2 * time.Minute}, []float64{0, 6000, 6060}, 2 * time.Minute, 1},
		{"a draining backlog is no growth", []time.Duration{0, time.Minute}, []float64{700, 100}, time.Minute, 0},
		{"one sample has no slope", []time.Duration{0}, []float64{700}, 0, 0},
		{"samples older than stale say nothing", []time.Duration{0, time.Minute}, []float64{100, 700}, 10 * time.Minute, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b backlogGrowth
			for i, d := range tc.at {
				b.observe(t0.Add(d), tc.v[i])
			}
			if got := b.rate(t0.Add(tc.now), 5*time.Minute); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("rate = %g, want %g", got, tc.want)
			}
		})
	}
}

// TestPredictiveSizesOnTheFresherDemand: Cloud Eye's CPU says what demand
// was two minutes ago; the service's request rate, scraped, says what it is.
// The predictive policy forecasts whichever is newer.
func TestPredictiveSizesOnTheFresherDemand(t *testing.T) {
	const n, rate = 4, 100.0
	for _, tc := range []struct {
		name      string
		rps       float64       // the request rate, constant
		rateAge   time.Duration // how old its newest scrape is at evaluation
		wantUnits float64       // the demand sized, in instances at 100%
	}{
		{"a fresh request rate of 400/s stands for the CPU's 2 instances", 400, 15 * time.Second, 4},
		{"a request rate older than the CPU's point is ignored", 400, 3 * time.Minute, n * 0.5},
		{"no request rate: the CPU's load", 0, -1, n * 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTestGroup(t, func(p *Params) { p.ServiceRate = rate })
			var r Result
			for i := range 20 {
				now := t0.Add(time.Duration(i) * time.Minute)
				if err := g.Observe(now.Add(-2*time.Minute), CPU, 0.5); err != nil {
					t.Fatal(err)
				}
				if tc.rateAge >= 0 {
					if err := g.ObserveArrivals(now.Add(-tc.rateAge), tc.rps); err != nil {
						t.Fatal(err)
					}
				}
				r = g.Evaluate(now, GroupState{Current: n, Min: 1, Max: 100})
			}
			want := int(math.Ceil(tc.wantUnits/0.7 - 1e-9))
			if got := r.Recommended[PolicyPredictive]; got != want {
				t.Errorf("predictive = %d, want ceil(%g / 0.7) = %d", got, tc.wantUnits, want)
			}
		})
	}
	g := newTestGroup(t, nil)
	if err := g.ObserveArrivals(t0, 100); err == nil {
		t.Error("arrivals without a service rate were accepted: they cannot be read as instances")
	}
}
