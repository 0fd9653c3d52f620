package backtest

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// Sources say how late each source's data reaches the exporter, so that the
// replay sees a demand change no sooner than a live deployment would. The
// other delays of the path to a decision are modelled where they live: the
// rules' `for:` holds by the rule files themselves (evaluated once a step),
// Alertmanager's group_wait by Options.Alertmanager, and boot and warm-up by
// the world.
type Sources struct {
	// CloudEyePeriod is the period of a Cloud Eye data point (default 60 s,
	// the raw period): CPU and memory are its mean, stamped at its start.
	CloudEyePeriod time.Duration
	// CloudEyeLag is how long after its period ends a point is published
	// (Options.CloudEyeDelay, default 60 s). A point is thus between
	// CloudEyeLag and CloudEyeLag+CloudEyePeriod old when first read, and its
	// newest second CloudEyeLag old.
	//
	// AppScrape is the Prometheus scrape interval of the application's own
	// signals, queue depth and response time (default 15 s). The rules read
	// the last scrape, taken at worst one interval before they run.
	AppScrape time.Duration
	// NoRequestRate says the service exports no request rate. By default
	// its rate, scraped as the other app signals, feeds the predictive
	// policy's demand (scoring.Group.ObserveArrivals).
	NoRequestRate bool
}

func (s Sources) withDefaults(tick time.Duration) (Sources, error) {
	if s.CloudEyePeriod == 0 {
		s.CloudEyePeriod = time.Minute
	}
	if s.AppScrape == 0 {
		s.AppScrape = 15 * time.Second
	}
	if s.CloudEyePeriod < tick || s.CloudEyePeriod%tick != 0 {
		return s, fmt.Errorf("backtest: Cloud Eye period %s must be a multiple of the tick %s", s.CloudEyePeriod, tick)
	}
	if s.AppScrape < 0 || s.AppScrape > 10*time.Minute {
		return s, fmt.Errorf("backtest: app scrape interval %s must be between 0 and 10m, e.g. 15s", s.AppScrape)
	}
	return s, nil
}

// sources replays what each source publishes, fed the world's state once a
// tick: Cloud Eye's period means, published CloudEyeLag after the period
// ends, and the application's signals as last scraped.
type sources struct {
	period, lag, scrape time.Duration

	// The open period: its start and the sums of its ticks.
	open         time.Time
	cpu, mem     float64
	ticks        int
	closed       []cePoint // closed and not yet published, oldest first
	published    cePoint
	hasPublished bool

	// recent are the last ticks' states, oldest first, for the app scrape.
	recent []tickState
}

// cePoint is one Cloud Eye data point: the mean over [start, start+period).
type cePoint struct {
	start, end time.Time
	cpu, mem   float64
}

type tickState struct {
	at time.Time
	st world.GroupState
}

func newSources(s Sources, lag time.Duration) *sources {
	return &sources{period: s.CloudEyePeriod, lag: lag, scrape: s.AppScrape}
}

// tick records the world's state at t, which closes the tick ending at t.
func (s *sources) tick(t time.Time, st world.GroupState) {
	// The tick ending at t covers (t-tick, t]: it belongs to the period
	// that holds t-1ns, as Cloud Eye buckets its raw samples.
	start := t.Add(-1).Truncate(s.period)
	if s.ticks > 0 && !start.Equal(s.open) {
		s.closePeriod()
	}
	if s.ticks == 0 {
		s.open = start
	}
	s.cpu += st.CPU
	s.mem += st.Memory
	s.ticks++
	keep := int(s.scrape/time.Second) + 1 // ample: ticks are at least a second
	s.recent = append(s.recent, tickState{at: t, st: st})
	if len(s.recent) > 2*keep {
		s.recent = append(s.recent[:0], s.recent[len(s.recent)-keep:]...)
	}
}

func (s *sources) closePeriod() {
	n := float64(s.ticks)
	s.closed = append(s.closed, cePoint{start: s.open, end: s.open.Add(s.period), cpu: s.cpu / n, mem: s.mem / n})
	s.cpu, s.mem, s.ticks = 0, 0, 0
}

// cloudEye is the newest point published by now, if any.
func (s *sources) cloudEye(now time.Time) (cePoint, bool) {
	if s.ticks > 0 && !now.Before(s.open.Add(s.period)) {
		s.closePeriod()
	}
	k := 0
	for k < len(s.closed) && !s.closed[k].end.Add(s.lag).After(now) {
		s.published, s.hasPublished = s.closed[k], true
		k++
	}
	s.closed = append(s.closed[:0], s.closed[k:]...)
	return s.published, s.hasPublished
}

// app is the state the application's signals were last scraped at: the
// newest tick at or before now-AppScrape (the oldest kept early on, and cur
// before the first tick).
func (s *sources) app(now time.Time, cur world.GroupState) (world.GroupState, time.Time) {
	if len(s.recent) == 0 {
		return cur, now
	}
	at := now.Add(-s.scrape)
	best := 0
	for i, r := range s.recent {
		if r.at.After(at) {
			break
		}
		best = i
	}
	r := s.recent[best]
	return r.st, r.at
}

// Detection is how long a policy took to answer demand that outgrew its
// capacity: for each step-up of the offered load above the SLO's share of
// the in-service capacity (from a minute within it), the time until the
// first scale-out decision.
type Detection struct {
	// StepUps counts the step-ups; Decided those answered by a scale-out
	// (one already ordered and booting counts as answered at once).
	StepUps int `json:"step_ups"`
	Decided int `json:"decided"`
	// Absorbed counts step-ups that ended before any decision; AtMax those
	// that began with the group at its maximum, which no decision can answer.
	Absorbed int `json:"absorbed"`
	AtMax    int `json:"at_max"`
	// MedianMinutes and P90Minutes are over the decided step-ups.
	MedianMinutes float64 `json:"median_minutes"`
	P90Minutes    float64 `json:"p90_minutes"`
}

// detector follows the step-ups of one run.
type detector struct {
	level  float64
	open   bool
	onset  time.Time
	delays []float64
	d      Detection
}

// minute looks at the minute that ended at t.
func (d *detector) minute(t time.Time, st world.GroupState) {
	over := st.Demand > d.level*st.Capacity
	switch {
	case over && !d.open:
		d.d.StepUps++
		switch {
		case st.Pending > 0 && st.Desired > st.InService:
			d.decided(0)
		case st.Desired >= st.Max:
			d.d.AtMax++
		default:
			d.open, d.onset = true, t
		}
	case !over && d.open:
		d.open = false
		d.d.Absorbed++
	}
}

// scaledOut notes a scale-out decision at t.
func (d *detector) scaledOut(t time.Time) {
	if d.open {
		d.open = false
		d.decided(t.Sub(d.onset).Minutes())
	}
}

func (d *detector) decided(minutes float64) {
	d.d.Decided++
	d.delays = append(d.delays, minutes)
}

// figures closes the run: a step-up still open at the end is neither decided nor absorbed.
func (d *detector) figures() *Detection {
	out := d.d
	if len(d.delays) > 0 {
		s := slices.Clone(d.delays)
		slices.Sort(s)
		out.MedianMinutes = nearestRank(s, 0.5)
		out.P90Minutes = nearestRank(s, 0.9)
	}
	return &out
}

// nearestRank is the p quantile of sorted s by the nearest-rank rule: a
// delay that some decision actually took.
func nearestRank(s []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// writeDetection prints each policy's detection delays under the table.
func (r *Result) writeDetection(w io.Writer) {
	for _, p := range r.Order {
		d := r.Figures[p].Detection
		if d == nil {
			continue
		}
		fmt.Fprintf(w, "detection %s: %d step-ups above %.0f%% of capacity, %d answered by a scale-out (median %.1f min, p90 %.1f min), %d over before one, %d at max\n",
			p, d.StepUps, r.SLO.MaxUtilization*100, d.Decided, d.MedianMinutes, d.P90Minutes, d.Absorbed, d.AtMax)
	}
}
