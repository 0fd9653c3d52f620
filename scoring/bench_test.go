package scoring

import (
	"math"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared machine it says
// what a cycle costs better than the wall clock does.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var benchSignals = []Signal{CPU, Memory, GPU, Queue, ResponseTime, ErrorRate}

func benchValue(s Signal, g int, at time.Time) float64 {
	h := float64(at.Unix()%86400) / 3600
	base := 0.5 + 0.3*math.Sin(2*math.Pi*h/24+float64(g))
	switch s {
	case Queue:
		return 100 * base
	case ResponseTime:
		return 2 * base
	case ErrorRate:
		return 0.01 * base
	}
	return base + 0.02*math.Sin(float64(at.Unix()/60)*1.7)
}

// warmGroups builds n groups with eight days of hourly history and three hours
// of one-minute samples on six signals, so every model is running.
func warmGroups(b *testing.B, n int) ([]*Group, time.Time) {
	b.Helper()
	start := t0
	live := start.Add(8 * 24 * time.Hour)
	groups := make([]*Group, n)
	for g := range groups {
		grp, err := NewGroup(Defaults())
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range benchSignals {
			var times []time.Time
			var values []float64
			for at := start; at.Before(live); at = at.Add(time.Hour) {
				times = append(times, at)
				values = append(values, benchValue(s, g, at))
			}
			if err := grp.WarmStart(s, times, values, time.Hour); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < 180; i++ {
				at := live.Add(time.Duration(i) * time.Minute)
				grp.Observe(at, s, benchValue(s, g, at))
			}
		}
		groups[g] = grp
	}
	return groups, live.Add(180 * time.Minute)
}

// BenchmarkEvaluate1000Groups is one collection cycle of the exporter: a new
// sample on each of 6 signals of 1,000 groups, then Evaluate for every group.
func BenchmarkEvaluate1000Groups(b *testing.B) {
	groups, now := warmGroups(b, 1000)
	state := GroupState{Current: 10, Desired: 10, Min: 1, Max: 40}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		now = now.Add(time.Minute)
		for g, grp := range groups {
			for _, s := range benchSignals {
				grp.Observe(now, s, benchValue(s, g, now))
			}
			grp.Evaluate(now, state)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "wall-ms/cycle")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/cycle")
	bytes := 0
	for _, sr := range groups[0].Evaluate(now, state).Signals {
		bytes = max(bytes, sr.Bytes)
	}
	b.ReportMetric(float64(bytes), "bytes/series")
}

// BenchmarkBacktest30Days drives one group in virtual time at one-minute steps
// for 30 days, as the backtest does for each policy.
func BenchmarkBacktest30Days(b *testing.B) {
	state := GroupState{Current: 10, Desired: 10, Min: 1, Max: 40}
	for b.Loop() {
		grp, err := NewGroup(Defaults())
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 30*24*60; i++ {
			now := t0.Add(time.Duration(i) * time.Minute)
			for _, s := range benchSignals {
				grp.Observe(now, s, benchValue(s, 0, now))
			}
			grp.Evaluate(now, state)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	groups, now := warmGroups(b, 1)
	grp := groups[0]
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Minute)
		grp.Observe(now, CPU, benchValue(CPU, 0, now))
	}
}
