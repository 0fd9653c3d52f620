package actuator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// Grading in hindsight, wired: an applied decision leaves a pending Grade in
// its group's state (written with the decision itself); once its lead time
// has passed, GradeDue asks a Hindsight what followed, judges it (Judge)
// and writes the verdict under the group's lock. Only a write that turns a
// pending grade into a verdict counts it, so a restart (the state file) or
// a second replica (etcd) never counts one twice.

// Hindsight tells what followed a decision: the real boundary is the
// Prometheus that scraped the exporter (PrometheusHindsight).
type Hindsight interface {
	// Aftermath returns one entry a minute from from to to.
	Aftermath(ctx context.Context, group string, from, to time.Time) (Aftermath, error)
}

// Grade is an applied decision's grade in hindsight, kept in its group's
// state. Time and Action name the decision, as its Record does.
type Grade struct {
	Time   time.Time `json:"time"`
	Action Action    `json:"action"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	// Due is the end of the decision's lead time: what followed is known then.
	Due time.Time `json:"due"`
	// Verdict is empty while the grade is pending.
	Verdict  Judgement `json:"verdict,omitempty"`
	GradedAt time.Time `json:"graded_at,omitzero"`
	// After is what followed, kept for the effectiveness score.
	After *Aftermath `json:"after,omitempty"`
}

// Pending reports a grade still waiting for its verdict.
func (g Grade) Pending() bool { return g.Verdict == "" }

// names reports whether g is the grade of the decision at t with action act.
func (g Grade) names(t time.Time, act Action) bool { return g.Action == act && g.Time.Equal(t) }

const (
	// maxGrades bounds a group's grades in its state; the oldest graded go first.
	maxGrades = 64
	// gradingGiveUp is how long after its due time a decision whose
	// aftermath cannot be read is retried; then it is judged ungraded.
	gradingGiveUp = time.Hour
)

func cloneGrades(gs []Grade) []Grade {
	if gs == nil {
		return nil
	}
	out := make([]Grade, len(gs))
	for i, g := range gs {
		out[i] = g
		if g.After != nil {
			a := Aftermath{Load: append([]float64(nil), g.After.Load...), InService: append([]int(nil), g.After.InService...)}
			out[i].After = &a
		}
	}
	return out
}

// awaitGrade keeps an applied decision for grading once lead has passed.
func (s *GroupState) awaitGrade(d Decision, lead time.Duration) {
	s.Grades = append(s.Grades, Grade{Time: d.Time, Action: d.Action, From: d.From, To: d.To, Due: d.Time.Add(lead)})
	for len(s.Grades) > maxGrades {
		drop := 0 // the oldest, unless an older graded one can go instead
		for i, g := range s.Grades {
			if !g.Pending() {
				drop = i
				break
			}
		}
		s.Grades = append(s.Grades[:drop], s.Grades[drop+1:]...)
	}
}

// gradeOf returns the grade of the decision at t with action act.
func (s *GroupState) gradeOf(t time.Time, act Action) (Grade, bool) {
	for _, g := range s.Grades {
		if g.names(t, act) {
			return g, true
		}
	}
	return Grade{}, false
}

// hindsight is the source of what followed: the one given in Options, or
// the configured Prometheus (read at each round, so a reload takes effect).
func (a *Actuator) hindsight(gc *config.Grading) Hindsight {
	if a.after != nil {
		return a.after
	}
	return PrometheusHindsight{URL: gc.PrometheusURL, Client: a.httpClient, Timeout: gc.Timeout}
}

// RunGrading grades due decisions every actuator.grading.interval until ctx
// ends; without actuator.grading it only waits for a reload that adds it.
func (a *Actuator) RunGrading(ctx context.Context) {
	for {
		interval := time.Minute
		if gc := a.Config().Actuator.Grading; gc != nil {
			interval = gc.Interval
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := a.GradeDue(ctx); err != nil {
			a.logger.Warn("grading decisions in hindsight", "err", err)
		}
	}
}

// GradeDue grades every decision whose lead time has passed, once, and
// returns the grades it wrote (the backtest scores them all).
func (a *Actuator) GradeDue(ctx context.Context) ([]Grade, error) {
	cfg := a.Config()
	gc := cfg.Actuator.Grading
	if gc == nil {
		return nil, nil
	}
	h := a.hindsight(gc)
	var all []Grade
	var errs []error
	for i := range cfg.Groups {
		graded, err := a.gradeGroup(ctx, &cfg.Groups[i], gc, h)
		all = append(all, graded...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

// gradeGroup reads what followed outside the group's lock (a slow
// Prometheus must not hold up a decision), then writes the verdicts under
// it, to the grades still pending there.
func (a *Actuator) gradeGroup(ctx context.Context, g *config.Group, gc *config.Grading, h Hindsight) ([]Grade, error) {
	now := a.clock.Now()
	gs, err := a.store.Group(ctx, g.Name)
	if err != nil {
		return nil, err
	}
	var judged []Grade
	var errs []error
	for _, gr := range gs.Grades {
		if !gr.Pending() || now.Before(gr.Due.Add(gc.Delay)) {
			continue
		}
		after, err := h.Aftermath(ctx, g.Name, gr.Time, gr.Due)
		if err != nil {
			if now.Before(gr.Due.Add(gradingGiveUp)) {
				errs = append(errs, fmt.Errorf("group %q, %s at %s: %w", g.Name, gr.Action, gr.Time.UTC().Format(time.RFC3339), err))
				continue // retried at the next round
			}
			after = Aftermath{}
		}
		gr.Verdict = Judge(gr.Action, OutcomeApplied, gr.From, gr.To, after, gc.MaxUtilization)
		gr.GradedAt = now
		if gr.Verdict != JudgedUngraded {
			gr.After = &after
		}
		judged = append(judged, gr)
	}
	if len(judged) == 0 {
		return nil, errors.Join(errs...)
	}
	lk, err := a.store.Lock(ctx, g.Name)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	defer lk.Unlock()
	local, err := lk.Group(ctx)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	var counted []Grade
	for i, gr := range local.Grades {
		if !gr.Pending() {
			continue // graded already, by this replica before a restart or by another
		}
		for _, j := range judged {
			if gr.names(j.Time, j.Action) {
				local.Grades[i] = j
				counted = append(counted, j)
			}
		}
	}
	if len(counted) == 0 {
		return nil, errors.Join(errs...)
	}
	if err := lk.PutGroup(ctx, local); err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	for _, gr := range counted {
		a.metrics.graded.WithLabelValues(g.Name, string(gr.Action), string(gr.Verdict)).Inc()
		a.logger.Info("decision graded", "group", g.Name, "action", gr.Action, "time", gr.Time, "from", gr.From, "to", gr.To, "verdict", gr.Verdict)
	}
	return counted, errors.Join(errs...)
}

// verdictsFor are the verdicts an action can get, for the series that exist
// before the first grade.
func verdictsFor(act Action) []Judgement {
	if act == ScaleOut {
		return []Judgement{JudgedNeeded, JudgedUnneeded, JudgedUngraded}
	}
	return []Judgement{JudgedSafe, JudgedPremature, JudgedUngraded}
}

// effectiveness is the seed's score of a group's graded decisions kept in
// its state.
func effectiveness(g *config.Group, gs *GroupState, maxUtilization float64) Effectiveness {
	return ScoreGrades(g, gs.Grades, maxUtilization)
}

// ScoreGrades is the seed's effectiveness of grades (pending ones left
// out), against the group's CPU target.
func ScoreGrades(g *config.Group, grades []Grade, maxUtilization float64) Effectiveness {
	var ds []Graded
	for _, gr := range grades {
		if gr.Pending() {
			continue
		}
		d := Graded{Action: gr.Action, Judgement: gr.Verdict}
		if gr.After != nil {
			d.After = *gr.After
		}
		ds = append(ds, d)
	}
	return Score(ds, g.Signals[config.SignalCPU].Target, maxUtilization)
}
