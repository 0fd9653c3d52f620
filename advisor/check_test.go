package advisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/trace"
	"github.com/flexus-autoscaler/flexus/tune"
)

// checkedGroup follows the seed loop on CPU alone, so that the replay turns
// on the thresholds the advisor proposes.
const checkedGroup = `cloud:
  region: cn-north-4
  project_id: check
groups:
  - name: web
    discovery: {as_group_id: web}
    min_instances: 1
    max_instances: 10
    policy: seed
    signals:
      cpu: {weight: 0.9}
      memory: {weight: 0}
      response_time: {weight: 0}
      queue: {weight: 0}
`

// cpuOnly are checkedGroup's settings in force, with CPU's band replaced.
func cpuOnly(out, in float64) Settings {
	s := SeedSettings()
	s.Thresholds[CPU] = Band{Out: out, In: in}
	s.Weights = map[Signal]float64{CPU: 0.9, Memory: 0, ResponseTime: 0, Queue: 0}
	return s
}

// hump is two and a half hours of load, in busy instances: quiet, a climb
// to a plateau, and a long quiet tail. A config that scales out late breaks
// the SLO on the climb; one that never scales in pays for the tail.
func hump(start time.Time) trace.Series {
	s := trace.Series{Name: "web", Start: start, Step: time.Minute}
	for i := range 150 {
		v := 0.4
		switch {
		case i >= 20 && i < 35:
			v = 0.4 + 1.6*float64(i-20)/15
		case i >= 35 && i < 65:
			v = 2
		case i >= 65 && i < 75:
			v = 2 - 1.6*float64(i-65)/10
		}
		s.Values = append(s.Values, v)
	}
	return s
}

func newTestChecker(t *testing.T) *Checker {
	t.Helper()
	c, err := NewChecker(CheckOptions{
		Config: func() ([]byte, error) { return []byte(checkedGroup), nil },
		LoadRules: func() (*backtest.Rules, error) {
			return backtest.LoadRules("../rules", backtest.RuleOptions{EvalInterval: time.Minute, ActionOnly: true, Logger: promslog.NewNopLogger()})
		},
		Clock:  clock.NewFake(t0),
		Logger: promslog.NewNopLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKnobsAreTheEnabledSignalsThresholdsAndWeights(t *testing.T) {
	s := SeedSettings()
	tests := []struct {
		name    string
		enabled []Signal
		want    tune.Point
	}{
		{"every tuned signal gives its band and weight", Signals(), tune.Point{
			"cpu.scale_out": 0.7, "cpu.scale_in": 0.3, "cpu.weight": 0.3,
			"memory.scale_out": 0.8, "memory.scale_in": 0.4, "memory.weight": 0.25,
			"response_time.scale_out": 2, "response_time.scale_in": 0.5, "response_time.weight": 0.25,
			"queue.scale_out": 100, "queue.scale_in": 50, "queue.weight": 0.15,
		}},
		{"a disabled signal is left to the config", []Signal{CPU, Queue}, tune.Point{
			"cpu.scale_out": 0.7, "cpu.scale_in": 0.3, "cpu.weight": 0.3,
			"queue.scale_out": 100, "queue.scale_in": 50, "queue.weight": 0.15,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Knobs(s, tt.enabled); !maps.Equal(got, tt.want) {
				t.Errorf("Knobs = %v, want %v", got, tt.want)
			}
		})
	}
	if _, ok := Knobs(s, Signals())["trend.weight"]; ok {
		t.Error("the trend weight is not the advisor's to propose: it must not be replayed as a proposal")
	}
}

func TestCheckRefusesOnlyWhatTheReplayFindsWorseOnBothCounts(t *testing.T) {
	start := t0.Add(-150 * time.Minute)
	tests := []struct {
		name     string
		proposed Settings
		want     CheckResult
	}{
		{"scaling out later and in only below 20 % is worse on both and refused", cpuOnly(0.8, 0.2), CheckWorse},
		{"scaling out later and never in is worse on both and refused", cpuOnly(0.9, 0.1), CheckWorse},
		{"scaling out later is cheaper with more SLO minutes: a trade-off passes", cpuOnly(0.9, 0.3), CheckPassed},
		{"never scaling in is dearer with fewer SLO minutes: a trade-off passes", cpuOnly(0.6, 0.1), CheckPassed},
		{"scaling out earlier and in sooner is better on both and passes", cpuOnly(0.6, 0.4), CheckPassed},
	}
	c := newTestChecker(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{Group: "web", Current: cpuOnly(0.7, 0.3), Demand: hump(start)}
			v := c.Check(context.Background(), s, tt.proposed, time.Hour, time.Minute)
			if v.Result != tt.want {
				t.Fatalf("result %s (%s), want %s; present %+v, proposed %+v", v.Result, v.Detail, tt.want, v.Present, v.Proposed)
			}
			worse := v.Proposed.InstanceHours > v.Present.InstanceHours && v.Proposed.ViolationMinutes > v.Present.ViolationMinutes
			if worse != (v.Result == CheckWorse) {
				t.Errorf("result %s, but the replays say worse on both = %v: present %+v, proposed %+v", v.Result, worse, v.Present, v.Proposed)
			}
			if v.Present.InstanceHours <= 0 {
				t.Errorf("the present settings replayed to %g instance-hours: nothing was replayed", v.Present.InstanceHours)
			}
		})
	}
}

func TestCheckDoesNotReplayTheSettingsInForce(t *testing.T) {
	c := newTestChecker(t)
	c.o.LoadRules = func() (*backtest.Rules, error) {
		t.Error("the rules were loaded: the settings in force were replayed against themselves")
		return nil, errors.New("not needed")
	}
	s := Summary{Group: "web", Current: cpuOnly(0.7, 0.3), Demand: hump(t0.Add(-150 * time.Minute))}
	if v := c.Check(context.Background(), s, cpuOnly(0.7, 0.3), time.Hour, time.Minute); v.Result != CheckPassed {
		t.Errorf("result %s (%s), want %s", v.Result, v.Detail, CheckPassed)
	}
}

func TestCheckWithoutEnoughHistoryJudgesNothing(t *testing.T) {
	start := t0.Add(-150 * time.Minute)
	full := hump(start)
	short := trace.Series{Name: "web", Start: start, Step: time.Minute, Values: full.Values[:30]}
	idle := trace.Series{Name: "web", Start: start, Step: time.Minute, Values: make([]float64, 150)}
	tests := []struct {
		name   string
		demand trace.Series
	}{
		{"half an hour is below the hour asked for", short},
		{"no history at all", trace.Series{Name: "web", Step: time.Minute}},
		{"a history without load has nothing to replay", idle},
	}
	c := newTestChecker(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{Group: "web", Current: cpuOnly(0.7, 0.3), Demand: tt.demand}
			if v := c.Check(context.Background(), s, cpuOnly(0.9, 0.1), time.Hour, time.Minute); v.Result != CheckInsufficientHistory || v.Detail == "" {
				t.Errorf("result %s (%q), want %s with why", v.Result, v.Detail, CheckInsufficientHistory)
			}
		})
	}
}

func TestCheckThatCannotReplayPassesUncheckedAsAnError(t *testing.T) {
	start := t0.Add(-150 * time.Minute)
	s := Summary{Group: "web", Current: cpuOnly(0.7, 0.3), Demand: hump(start)}
	t.Run("a replay past its timeout is an error", func(t *testing.T) {
		c := newTestChecker(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a context already done: the replay cannot start
		if v := c.Check(ctx, s, cpuOnly(0.9, 0.1), time.Hour, time.Minute); v.Result != CheckError {
			t.Errorf("result %s (%s), want %s", v.Result, v.Detail, CheckError)
		}
	})
	t.Run("a replay that cannot get the slot within its timeout is an error", func(t *testing.T) {
		c := newTestChecker(t)
		c.slot <- struct{}{} // another group's replay runs
		v := c.Check(context.Background(), s, cpuOnly(0.9, 0.1), time.Hour, time.Millisecond)
		if v.Result != CheckError || !strings.Contains(v.Detail, "another replay") {
			t.Errorf("result %s (%s), want %s naming the other replay", v.Result, v.Detail, CheckError)
		}
	})
	t.Run("a group the config does not hold is an error", func(t *testing.T) {
		c := newTestChecker(t)
		other := s
		other.Group = "gone"
		if v := c.Check(context.Background(), other, cpuOnly(0.9, 0.1), time.Hour, time.Minute); v.Result != CheckError {
			t.Errorf("result %s (%s), want %s", v.Result, v.Detail, CheckError)
		}
	})
	t.Run("a config that cannot be read is an error", func(t *testing.T) {
		c := newTestChecker(t)
		c.o.Config = func() ([]byte, error) { return nil, errors.New("no config") }
		if v := c.Check(context.Background(), s, cpuOnly(0.9, 0.1), time.Hour, time.Minute); v.Result != CheckError {
			t.Errorf("result %s (%s), want %s", v.Result, v.Detail, CheckError)
		}
	})
}

func TestAdviseCutShortByShutdownKeepsNothingAndCountsNothing(t *testing.T) {
	m, srv := newFakeModel(t)
	m.answer(goodAnswer)
	a := newTestAdvisor(t, testConfig(srv, ModeApply), nil)
	c := newTestChecker(t)
	ctx, cancel := context.WithCancel(context.Background())
	c.o.Config = func() ([]byte, error) {
		cancel() // the exporter shuts down while the replay runs
		return []byte(checkedGroup), nil
	}
	a.CheckWith(c)
	s := testSummary("web")
	s.Demand = hump(t0.Add(-150 * time.Minute))
	if _, err := a.Advise(ctx, t0, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the shutdown's", err)
	}
	if _, ok := a.Latest("web"); ok {
		t.Error("a proposal whose check was cut short was kept")
	}
	for _, r := range CheckResults() {
		if n := counter(t, a.checks, string(r)); n != 0 {
			t.Errorf("%g checks counted %s during shutdown", n, r)
		}
	}
}

func TestAdviseRefusesAProposalWorseOnHistoryAndKeepsTheLastGoodOne(t *testing.T) {
	m, srv := newFakeModel(t)
	a := newTestAdvisor(t, testConfig(srv, ModeApply), nil)
	a.CheckWith(newTestChecker(t))
	s := Summary{Group: "web", Window: 150 * time.Minute, Current: cpuOnly(0.7, 0.3), Demand: hump(t0.Add(-150 * time.Minute)),
		Signals: map[Signal]SignalStats{CPU: {Samples: 150, Mean: 0.5}}}
	answer := func(out, in float64) string {
		return fmt.Sprintf(`{"thresholds":{"cpu":{"scale_out":%g,"scale_in":%g},"memory":{"scale_out":0.8,"scale_in":0.4},`+
			`"response_time":{"scale_out":2,"scale_in":0.5},"queue":{"scale_out":100,"scale_in":50}},`+
			`"weights":{"cpu":0.9,"memory":0,"response_time":0,"queue":0},"rationale":"test"}`, out, in)
	}

	m.answer(answer(0.6, 0.3))
	if _, err := a.Advise(context.Background(), t0, s); err != nil {
		t.Fatalf("a proposal that passes the replay: %v", err)
	}
	m.answer(answer(0.9, 0.1))
	_, err := a.Advise(context.Background(), t0.Add(time.Hour), s)
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Reason != ReasonWorseOnHistory {
		t.Fatalf("err = %v, want a rejection for %s", err, ReasonWorseOnHistory)
	}
	if p, _ := a.Latest("web"); p.Settings.Thresholds[CPU].Out != 0.6 {
		t.Errorf("latest cpu scale_out %g, want the last good 0.6: a refused proposal is not published", p.Settings.Thresholds[CPU].Out)
	}
	if eff, _ := a.Effective("web"); eff.Thresholds[CPU].Out != 0.6 {
		t.Errorf("effective cpu scale_out %g, want the last good 0.6: a refused proposal is not applied", eff.Thresholds[CPU].Out)
	}
	for _, tc := range []struct {
		name  string
		vec   *prometheus.CounterVec
		label string
	}{
		{"passed checks", a.checks, string(CheckPassed)},
		{"checks worse on history", a.checks, string(CheckWorse)},
		{"proposals rejected as worse on history", a.rejected, string(ReasonWorseOnHistory)},
		{"requests answered with a rejected proposal", a.requests, string(ResultInvalid)},
	} {
		if got := counter(t, tc.vec, tc.label); got != 1 {
			t.Errorf("%s = %g, want 1", tc.name, got)
		}
	}
}
