package backtest

import (
	"context"
	"time"

	"github.com/flexus-autoscaler/flexus/actuator"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// Grading in the backtest: the live actuator grades its decisions as in
// production (actuator.GradeDue), and what followed each one comes from the
// world instead of Prometheus: the offered load and the instances in
// service of every replayed minute.

// worldHindsight is the Hindsight of a replay: one entry a minute, as the
// runner accounted it.
type worldHindsight struct {
	capacity float64 // requests per second one instance serves at 100%
	minutes  map[int64]hindsightMinute
}

type hindsightMinute struct {
	load      float64
	inService int
}

var _ actuator.Hindsight = (*worldHindsight)(nil)

func newWorldHindsight(capacity float64) *worldHindsight {
	return &worldHindsight{capacity: capacity, minutes: map[int64]hindsightMinute{}}
}

// record keeps the minute ending at t.
func (h *worldHindsight) record(t time.Time, st world.GroupState) {
	load := 0.0
	if h.capacity > 0 {
		load = st.Demand / h.capacity
	}
	h.minutes[t.Unix()/60] = hindsightMinute{load: load, inService: st.InService}
}

// Aftermath returns the replayed minutes from from to to.
func (h *worldHindsight) Aftermath(_ context.Context, _ string, from, to time.Time) (actuator.Aftermath, error) {
	var after actuator.Aftermath
	for m := (from.Unix() + 59) / 60; m <= to.Unix()/60; m++ {
		if x, ok := h.minutes[m]; ok {
			after.Load = append(after.Load, x.load)
			after.InService = append(after.InService, x.inService)
		}
	}
	return after, nil
}

// gradingConfig is the config the replay's actuator runs under: the live
// one, grading against the backtest's SLO as soon as the lead time passed
// (the world has no scrape delay).
func gradingConfig(c *config.Config, slo SLO) *config.Config {
	out := *c
	a := out.Actuator
	a.Grading = &config.Grading{MaxUtilization: slo.MaxUtilization, Interval: stepOf, Timeout: time.Second}
	out.Actuator = a
	return &out
}

// awaitGrade notes when an applied decision falls due, so the replay asks
// the actuator to grade only in the minutes when something is due.
func (r *runner) awaitGrade(rec actuator.Record) {
	if rec.Outcome == actuator.OutcomeApplied {
		r.dues = append(r.dues, rec.Time.Add(r.g.LeadTime()))
	}
}

// grade has the actuator grade what fell due by t and keeps the grades.
func (r *runner) grade(ctx context.Context, t time.Time, st world.GroupState) error {
	r.after.record(t, st)
	due := false
	kept := r.dues[:0]
	for _, d := range r.dues {
		if d.After(t) {
			kept = append(kept, d)
		} else {
			due = true
		}
	}
	r.dues = kept
	if !due {
		return nil
	}
	r.clock.Set(t)
	graded, err := r.act.GradeDue(ctx)
	r.grades = append(r.grades, graded...)
	return err
}

// effectiveness is the seed's score of every decision graded in the replay.
func (r *runner) effectiveness() *actuator.Effectiveness {
	e := actuator.ScoreGrades(r.g, r.grades, r.opts.SLO.MaxUtilization)
	return &e
}
