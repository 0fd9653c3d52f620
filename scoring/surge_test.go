package scoring

import (
	"math"
	"testing"
	"time"
)

// feedSurge drives a surge with one demand sample a minute, each seen at once,
// and returns the calibrated factor at the end.
func feedSurge(s *surge, start time.Time, demand func(i int) float64, minutes int, lead time.Duration, level, slo, budget float64) (time.Time, float64) {
	now := start
	k := 0.0
	for i := range minutes {
		now = start.Add(time.Duration(i) * time.Minute)
		s.observe(now, now.UnixNano(), demand(i), lead)
		k = s.factor(now, level, slo, budget, 1)
	}
	return now, k
}

func TestSurgeCoversTheFlashCrowdsItHasSeen(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// 2.0 instances of demand, and every 30 minutes a minute at 3.0: a 1.5x
	// jump within the lead time that the level alone never covers.
	crowd := func(i int) float64 {
		if i%30 == 29 {
			return 3
		}
		return 2
	}
	var s surge
	_, k := feedSurge(&s, start, crowd, 3*24*60, 2*time.Minute, 0.7, 0.9, 2)
	// Sized on 2.0 the provision must hold 3.0 under 90%: ceil(k*2/0.7) >= 4
	// instances, so k > 1.05; and the smallest such k is no more than 1.4.
	if got := math.Ceil(k * 2 / 0.7); got < math.Ceil(3/0.9) {
		t.Errorf("k = %.3f provisions %v instances at 2.0, want at least %v to hold the crowd of 3.0 under 90%%", k, got, math.Ceil(3/0.9))
	}
	if k > 1.4 {
		t.Errorf("k = %.3f: more than the crowds need", k)
	}
}

func TestSurgeStaysWithinItsBudget(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	// A ten-fold crowd once an hour: covering it would cost about 10x, so a
	// budget of 1.2 must cap the headroom well below it.
	crowd := func(i int) float64 {
		if i%60 == 59 {
			return 10
		}
		return 1
	}
	var s surge
	_, k := feedSurge(&s, start, crowd, 2*24*60, 2*time.Minute, 0.9, 0.9, 1.2)
	cost, oracle := 0.0, 0.0
	for i := range s.n {
		cost += math.Max(1, math.Ceil(k*float64(s.seen[i])/0.9-1e-9))
		oracle += math.Max(1, math.Ceil(float64(s.peak[i])/0.9-1e-9))
	}
	if cost > 1.2*oracle+1e-9 {
		t.Errorf("k = %.3f costs %.0f instance-minutes, more than 1.2 x the %.0f of exact provisioning", k, cost, oracle)
	}
	if k < 1 {
		t.Errorf("k = %.3f: the budget leaves room for at least the demand itself", k)
	}
}

func TestSurgeReferenceCarriesTheRiseForward(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var s surge
	// Demand rising 0.2 a minute: over a 3-minute lead the reference is
	// the newest value plus 0.6.
	for i := range 5 {
		now := start.Add(time.Duration(i) * time.Minute)
		s.observe(now, now.UnixNano(), 1+0.2*float64(i), 3*time.Minute)
	}
	if got, want := s.reference(3*time.Minute), 1.8+0.6; math.Abs(got-want) > 1e-9 {
		t.Errorf("reference = %v, want %v", got, want)
	}
	// A fall is not carried forward: the reference is the newest value.
	var f surge
	for i := range 5 {
		now := start.Add(time.Duration(i) * time.Minute)
		f.observe(now, now.UnixNano(), 2-0.2*float64(i), 3*time.Minute)
	}
	if got := f.reference(3 * time.Minute); math.Abs(got-1.2) > 1e-9 {
		t.Errorf("reference of a falling demand = %v, want the newest value 1.2", got)
	}
}

func TestSurgeWaitsForAnHourOfHistory(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var s surge
	if _, k := feedSurge(&s, start, func(int) float64 { return 1 }, 30, 2*time.Minute, 0.7, 0.9, 1.1); k != 0 {
		t.Errorf("k = %v after 30 minutes, want 0 (not calibrated yet)", k)
	}
}

// The predictive policy with the headroom asks for more than without it on
// a group whose demand jumps, and the same on a steady one.
func TestPredictiveHeadroomOnlyWhereDemandJumps(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	run := func(budget float64, jump bool) int {
		p := Defaults()
		p.Headroom.Budget = budget
		g, err := NewGroup(p)
		if err != nil {
			t.Fatal(err)
		}
		n, rec := 4, 0
		for i := range 2 * 24 * 60 {
			now := start.Add(time.Duration(i) * time.Minute)
			cpu := 0.5
			if jump && i%20 >= 18 {
				cpu = 0.9 // a two-minute crowd every 20 minutes
			}
			_ = g.Observe(now, CPU, cpu)
			rec = g.Evaluate(now, GroupState{Current: n, Desired: n, Min: 1, Max: 20}).Recommended[PolicyPredictive]
		}
		return rec
	}
	if with, without := run(1.5, true), run(0, true); with <= without {
		t.Errorf("jumpy demand: %d instances with the headroom, %d without; want more with it", with, without)
	}
	if with, without := run(1.5, false), run(0, false); with != without {
		t.Errorf("steady demand: %d instances with the headroom, %d without; want the same", with, without)
	}
}
