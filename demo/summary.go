package demo

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// GroupSummary is what one group went through during the run.
type GroupSummary struct {
	Group string
	// ScaleOuts and ScaleIns count applied decisions; Refused counts the
	// others (guarded, duplicates, dry-run, failed).
	ScaleOuts, ScaleIns, Refused int
	// SpikeToRequest is from the start of the load spike to the first applied
	// scale-out; SpikeToCapacity to the moment that capacity was in service.
	// Negative when it did not happen.
	SpikeToRequest, SpikeToCapacity time.Duration
	// AlertToAction is, for each scaling alert that fired, the time from its
	// firing in Prometheus to the actuator's first decision on it (through
	// Alertmanager), whatever the decision was.
	AlertToAction []time.Duration
	InstanceHours float64
	// MinutesOverSLO is how long the response time was above the SLO.
	MinutesOverSLO float64
	// MinInstances and MaxInstances are the lowest and highest instance counts
	// (desired or existing) seen; Bounds are the group's min..max.
	MinSeen, MaxSeen     int
	BoundMin, BoundMax   int
	StartCount, EndCount int
	// Verdicts counts the applied decisions graded in hindsight by verdict;
	// GradePending those whose lead time had not passed by the end.
	Verdicts     map[string]int
	GradePending int
}

// verdictPending is the grade the actuator shows before a decision's due time.
const verdictPending = "pending"

// Accuracy is the share of graded decisions with a good verdict (needed or
// safe), the seed's accuracy; ok is false when none was graded.
func (g GroupSummary) Accuracy() (share float64, ok bool) {
	var good, n int
	for v, c := range g.Verdicts {
		if v == "ungraded" {
			continue
		}
		n += c
		if v == "needed" || v == "safe" {
			good += c
		}
	}
	if n == 0 {
		return 0, false
	}
	return float64(good) / float64(n), true
}

// Summary is the whole run.
type Summary struct {
	Length time.Duration
	SLO    time.Duration
	Groups []GroupSummary
}

// Bounds are a group's min and max instance counts as the actuator enforces them.
type Bounds struct{ Min, Max int }

// Summarize reduces a record; slo is the response time objective, bounds
// the groups' min..max (simcloud's own when a group is missing).
func Summarize(s Snapshot, slo time.Duration, bounds map[string]Bounds) Summary {
	out := Summary{Length: s.End.Sub(s.Start), SLO: slo}
	var spike time.Time
	for _, p := range s.Phases {
		if p.Name == PhaseSpike {
			spike = p.At
		}
	}
	for _, g := range s.Groups {
		ss := s.Samples[g]
		gs := GroupSummary{Group: g, SpikeToRequest: -1, SpikeToCapacity: -1, MinSeen: math.MaxInt}
		if len(ss) == 0 {
			out.Groups = append(out.Groups, gs)
			continue
		}
		first, last := ss[0].State, ss[len(ss)-1].State
		gs.BoundMin, gs.BoundMax = first.Min, first.Max
		if b, ok := bounds[g]; ok {
			gs.BoundMin, gs.BoundMax = b.Min, b.Max
		}
		gs.StartCount, gs.EndCount = first.Desired, last.Desired
		gs.InstanceHours = (last.CostInstanceSeconds - first.CostInstanceSeconds) / 3600
		for i, smp := range ss {
			st := smp.State
			gs.MinSeen = min(gs.MinSeen, st.Desired, st.Live())
			gs.MaxSeen = max(gs.MaxSeen, st.Desired, st.Live())
			if i > 0 && st.ResponseTimeSeconds > slo.Seconds() {
				gs.MinutesOverSLO += smp.T.Sub(ss[i-1].T).Minutes()
			}
		}
		for _, d := range s.Decisions {
			if d.Group != g {
				continue
			}
			if !d.Applied() {
				gs.Refused++
				continue
			}
			switch d.Action {
			case "scale_out":
				gs.ScaleOuts++
			case "scale_in":
				gs.ScaleIns++
			}
			switch v := d.Verdict(); v {
			case "":
			case verdictPending:
				gs.GradePending++
			default:
				if gs.Verdicts == nil {
					gs.Verdicts = map[string]int{}
				}
				gs.Verdicts[v]++
			}
			if d.Action == "scale_out" && !spike.IsZero() && !d.Time.Before(spike) && gs.SpikeToRequest < 0 {
				gs.SpikeToRequest = d.Time.Sub(spike)
				if at, ok := inService(ss, d); ok {
					gs.SpikeToCapacity = at.Sub(spike)
				}
			}
		}
		gs.AlertToAction = alertToAction(s.Fires, s.Decisions, g)
		out.Groups = append(out.Groups, gs)
	}
	return out
}

// alertToAction pairs each firing of a group's scaling alerts with the
// actuator's first decision on that group and action after it.
func alertToAction(fires []AlertFire, ds []Decision, group string) []time.Duration {
	var out []time.Duration
	for _, f := range fires {
		if f.Group != group {
			continue
		}
		for _, d := range ds {
			if d.Group == group && d.Action == f.Action && !d.Time.Before(f.FiredAt) {
				out = append(out, d.Time.Sub(f.FiredAt))
				break
			}
		}
	}
	return out
}

// inService returns when, after d, as many instances served as d asked for.
func inService(ss []Sample, d Decision) (time.Time, bool) {
	target := d.To
	for _, smp := range ss {
		if smp.T.Before(d.Time) {
			continue
		}
		if target == 0 {
			target = smp.State.Desired
		}
		if smp.State.InService >= target {
			return smp.T, true
		}
	}
	return time.Time{}, false
}

// Write prints the summary for people.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "\nSummary of %s (response-time SLO %s)\n", s.Length.Round(time.Second), s.SLO)
	for _, g := range s.Groups {
		fmt.Fprintf(w, "  group %s\n", g.Group)
		fmt.Fprintf(w, "    actions taken          %d scale-out, %d scale-in (%d refused by guards, duplicates or failures)\n", g.ScaleOuts, g.ScaleIns, g.Refused)
		fmt.Fprintf(w, "    instances              %d at start, %d at end, %d..%d seen (bounds %d..%d)\n", g.StartCount, g.EndCount, g.MinSeen, g.MaxSeen, g.BoundMin, g.BoundMax)
		fmt.Fprintf(w, "    load spike → scale-out %s\n", durOrNever(g.SpikeToRequest))
		fmt.Fprintf(w, "    load spike → capacity  %s\n", durOrNever(g.SpikeToCapacity))
		fmt.Fprintf(w, "    alert → decision       %s\n", durList(g.AlertToAction))
		fmt.Fprintf(w, "    cost                   %.3f instance-hours\n", g.InstanceHours)
		fmt.Fprintf(w, "    over the SLO           %.1f minutes\n", g.MinutesOverSLO)
		fmt.Fprintf(w, "    graded in hindsight    %s\n", g.grades())
	}
}

// grades says how the group's applied decisions were graded.
func (g GroupSummary) grades() string {
	var parts []string
	for _, v := range []string{"needed", "unneeded", "safe", "premature", "ungraded"} {
		if n := g.Verdicts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n))
		}
	}
	s := "none yet"
	if len(parts) > 0 {
		s = strings.Join(parts, ", ")
	}
	if a, ok := g.Accuracy(); ok {
		s += fmt.Sprintf(" (accuracy %.0f%%)", 100*a)
	}
	if g.GradePending > 0 {
		s += fmt.Sprintf("; %d pending (lead time not yet passed)", g.GradePending)
	}
	return s
}

func durOrNever(d time.Duration) string {
	if d < 0 {
		return "did not happen"
	}
	return d.Round(100 * time.Millisecond).String()
}

func durList(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(10 * time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}
