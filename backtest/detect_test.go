package backtest

import (
	"context"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
	"github.com/flexus-autoscaler/flexus/trace"
)

// TestCloudEyeSeesAStepLaterThanTheAppSignalByTheModelledDelay steps CPU and
// queue together at a period boundary and reads both sources each tick: Cloud
// Eye shows the step once its period has closed and its lag passed, the app
// signal one scrape after the tick that saw it.
func TestCloudEyeSeesAStepLaterThanTheAppSignalByTheModelledDelay(t *testing.T) {
	const tick = 15 * time.Second
	cases := []struct {
		name string
		src  Sources
		lag  time.Duration
	}{
		{"defaults: 1m periods published 1m late, 15s scrape", Sources{}, time.Minute},
		{"5m periods published 2m late, 30s scrape", Sources{CloudEyePeriod: 5 * time.Minute, AppScrape: 30 * time.Second}, 2 * time.Minute},
		{"no lag, scrape every tick", Sources{AppScrape: tick}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := c.src.withDefaults(tick)
			if err != nil {
				t.Fatal(err)
			}
			s := newSources(src, c.lag)
			t0 := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
			step := t0.Add(10 * src.CloudEyePeriod)
			var seenCE, seenApp time.Time
			for now := t0.Add(tick); now.Before(step.Add(time.Hour)); now = now.Add(tick) {
				st := world.GroupState{CPU: 20, Queue: 0}
				if now.After(step) { // the tick ending at now covers (now-tick, now]
					st = world.GroupState{CPU: 90, Queue: 500}
				}
				s.tick(now, st)
				if p, ok := s.cloudEye(now); ok && p.cpu > 50 && seenCE.IsZero() {
					seenCE = now
				}
				if a, _ := s.app(now, st); a.Queue > 0 && seenApp.IsZero() {
					seenApp = now
				}
			}
			if want := step.Add(src.CloudEyePeriod + c.lag); !seenCE.Equal(want) {
				t.Errorf("Cloud Eye showed the step at +%s, want its period %s plus its lag %s", seenCE.Sub(step), src.CloudEyePeriod, c.lag)
			}
			if want := step.Add(tick + src.AppScrape); !seenApp.Equal(want) {
				t.Errorf("the app signal showed the step at +%s, want one tick %s plus one scrape %s", seenApp.Sub(step), tick, src.AppScrape)
			}
			if gap, want := seenCE.Sub(seenApp), src.CloudEyePeriod+c.lag-tick-src.AppScrape; gap != want {
				t.Errorf("Cloud Eye trails the app signal by %s, want %s", gap, want)
			}
		})
	}
}

// TestDetectionCountsTheMinutesFromAStepUpToTheFirstScaleOut runs a flat
// trace that jumps to four times its level: every policy that scales sees
// one step-up above its capacity and answers it within its pipeline's delay.
func TestDetectionCountsTheMinutesFromAStepUpToTheFirstScaleOut(t *testing.T) {
	vals := make([]float64, 48)
	for i := range vals {
		vals[i] = 25
		if i >= 12 {
			vals[i] = 100
		}
	}
	tr := trace.Series{Name: "jump", Start: time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC), Step: 5 * time.Minute, Values: vals}
	res, err := Run(context.Background(), tr, []Policy{PolicyTarget, PolicyPredictive, PolicyStaticPeak}, Options{Rules: loadRules(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Policy{PolicyTarget, PolicyPredictive} {
		d := res.Figures[p].Detection
		if d == nil || d.StepUps < 1 || d.Decided < 1 {
			t.Fatalf("%s: detection %+v, want the jump counted and answered", p, d)
		}
		// Boot plus warm-up bound how long the jump can stay above capacity
		// once answered; the answer itself must come within a few minutes.
		if d.P90Minutes > 5 || d.MedianMinutes > d.P90Minutes {
			t.Errorf("%s: median %.1f, p90 %.1f min from the step-up to the scale-out: want at most 5, median <= p90", p, d.MedianMinutes, d.P90Minutes)
		}
	}
	if d := res.Figures[PolicyStaticPeak].Detection; d.StepUps != 0 {
		t.Errorf("static-peak holds the peak's instances, yet counted %d step-ups above capacity", d.StepUps)
	}
}

func TestNearestRankIsADelayThatHappened(t *testing.T) {
	cases := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"median of an odd count is the middle", []float64{1, 2, 3}, 0.5, 2},
		{"median of an even count is the lower middle", []float64{1, 2, 3, 4}, 0.5, 2},
		{"p90 of ten is the ninth", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"one delay is every quantile", []float64{2.5}, 0.9, 2.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := nearestRank(c.sorted, c.p); got != c.want {
				t.Errorf("nearestRank(%v, %g) = %g, want %g", c.sorted, c.p, got, c.want)
			}
		})
	}
}
