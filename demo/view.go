package demo

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Links are the pages a user can open while the demo runs.
type Links struct {
	Prometheus, Alertmanager, Exporter, Actuator, Simcloud string
	// ActuatorToken is the bearer token the actuator's API asks for.
	ActuatorToken string
}

// DecisionsCurl is the command line that lists the actuator's decisions.
func (l Links) DecisionsCurl() string {
	return fmt.Sprintf("curl -H \"Authorization: Bearer %s\" %s/api/v1/decisions", l.ActuatorToken, l.Actuator)
}

// View draws the live terminal view. On a terminal it redraws in place;
// elsewhere (a log, CI) it appends one compact block per refresh.
type View struct {
	W        io.Writer
	TTY      bool
	Links    Links
	Scenario Scenario
}

// Draw renders the record as of now.
func (v View) Draw(s Snapshot, now time.Time) {
	var b strings.Builder
	if v.TTY {
		b.WriteString("\033[H\033[2J")
	}
	elapsed := now.Sub(s.Start)
	total := v.Scenario.Length()
	phase, idx := v.Scenario.At(elapsed)
	name := phase.Name
	if idx < 0 && len(v.Scenario.Phases) > 0 {
		// Past the end: the last phase's demand still holds.
		idx = len(v.Scenario.Phases) - 1
		phase = v.Scenario.Phases[idx]
		name = phase.Name + ", done"
	}
	fmt.Fprintf(&b, "flexus demo  %s / %s  %s  phase %d/%d: %s (demand ×%.1f)\n",
		fmtClock(elapsed), fmtClock(total), bar(elapsed, total, 30), idx+1, len(v.Scenario.Phases), name, phase.Multiplier)
	if v.TTY {
		fmt.Fprintf(&b, "  Prometheus   %s/alerts\n  Alertmanager %s\n  exporter     %s/metrics\n  actuator     %s\n  simcloud     %s/-/sim/state\n\n",
			v.Links.Prometheus, v.Links.Alertmanager, v.Links.Exporter, v.Links.DecisionsCurl(), v.Links.Simcloud)
	}

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "group\tdemand\tdesired\tin service\tpending\tutil\tqueue\tresp.\tscore\tcpu fc 5m\trecommended\t")
	for _, g := range s.Groups {
		ss := s.Samples[g]
		if len(ss) == 0 {
			continue
		}
		l := ss[len(ss)-1]
		st := l.State
		fmt.Fprintf(tw, "%s\t%.0f/s ×%.1f\t%d\t%d\t%d\t%.0f%%\t%.0f\t%.2fs\t%s\t%s\t%s\t\n",
			g, st.Demand, st.DemandMultiplier, st.Desired, st.InService, st.Pending, 100*st.Utilization, st.Queue, st.ResponseTimeSeconds,
			num(l.Score, "%+.2f"), pct(l.Forecast), num(l.Recommended, "%.0f"))
	}
	tw.Flush()

	b.WriteString("\nlast decisions:\n")
	var shown []Decision
	dups := 0
	for _, d := range s.Decisions {
		if d.Outcome == "duplicate" {
			dups++
			continue
		}
		shown = append(shown, d)
	}
	last := lastDecisions(shown, 5)
	if len(last) == 0 {
		b.WriteString("  none yet: the actuator acts when Prometheus fires a scaling alert and Alertmanager calls it\n")
	}
	for _, d := range last {
		graded := ""
		if v := d.Verdict(); v != "" {
			graded = "  [graded: " + v + "]" // in hindsight, once its lead time passed
		}
		fmt.Fprintf(&b, "  %s  %-8s %-9s %-8s %d→%d  %s%s\n", fmtClock(d.Time.Sub(s.Start)), d.Group, d.Action, d.Outcome, d.From, d.To, d.Why(), graded)
	}
	if dups > 0 {
		fmt.Fprintf(&b, "  (%d repeated deliveries of notifications already applied were recognised and changed nothing)\n", dups)
	}
	if len(s.Errors) > 0 {
		keys := make([]string, 0, len(s.Errors))
		for k := range s.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  (%s not answering: %s)\n", k, firstLine(s.Errors[k]))
		}
	}
	if !v.TTY {
		b.WriteString("\n")
	}
	io.WriteString(v.W, b.String())
}

func lastDecisions(ds []Decision, n int) []Decision {
	if len(ds) > n {
		return ds[len(ds)-n:]
	}
	return ds
}

func fmtClock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func bar(done, total time.Duration, width int) string {
	f := 0.0
	if total > 0 {
		f = math.Min(1, math.Max(0, float64(done)/float64(total)))
	}
	n := int(f * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func num(v float64, format string) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
