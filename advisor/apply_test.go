package advisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// cpuAnswer is goodAnswer with cpu's scale_out set to out.
func cpuAnswer(t *testing.T, out float64) string {
	return with(t, `"cpu":{"scale_out":0.75,`, fmt.Sprintf(`"cpu":{"scale_out":%g,`, out))
}

// applyConfig is mode apply with a change per unit at most every 10 minutes, a 5 %
// minimum change and applied values lasting an hour.
func applyConfig(t *testing.T) (*fakeModel, *Advisor) {
	t.Helper()
	m, srv := newFakeModel(t)
	cfg := testConfig(srv, ModeApply)
	cfg.Interval = time.Minute
	cfg.MinChange = 0.05
	cfg.MinChangeInterval = 10 * time.Minute
	cfg.ExpireAfter = time.Hour
	return m, newTestAdvisor(t, cfg, nil)
}

// inForce is what the exporter would run with after Apply at now, given the
// config's seed values.
func inForce(a *Advisor, now time.Time) Settings {
	s, _ := a.Apply("web", now, SeedSettings())
	return s
}

// adviseAt asks with the settings in force at now as the summary's current.
func adviseAt(t *testing.T, a *Advisor, now time.Time) {
	t.Helper()
	s := testSummary("web")
	s.Current = inForce(a, now)
	if _, err := a.Advise(context.Background(), now, s); err != nil {
		t.Fatalf("Advise at %s: %v", now, err)
	}
}

func TestApplyRules(t *testing.T) {
	tests := []struct {
		name string
		// rounds are the cpu scale_out proposed at minute offsets, in order.
		rounds []struct {
			at  time.Duration
			out float64
		}
		// checkAt is when the cpu scale_out in force is read, and want its value.
		checkAt time.Duration
		want    float64
	}{
		{name: "an accepted proposal is applied", rounds: rounds(0, 0.85), checkAt: time.Minute, want: 0.85},
		{name: "a change within min_change_interval of the last is held back", rounds: rounds(0, 0.85, 5, 0.62), checkAt: 6 * time.Minute, want: 0.85},
		{name: "a change after min_change_interval is applied", rounds: rounds(0, 0.85, 10, 0.62), checkAt: 11 * time.Minute, want: 0.62},
		{name: "a change below min_change is ignored", rounds: rounds(0, 0.72), checkAt: time.Minute, want: 0.70},
		{name: "an applied value expires and the config's returns", rounds: rounds(0, 0.85), checkAt: time.Hour, want: 0.70},
		{name: "a proposal repeating the value in force renews it", rounds: rounds(0, 0.85, 50, 0.86), checkAt: 90 * time.Minute, want: 0.85},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, a := applyConfig(t)
			for _, r := range tt.rounds {
				m.answer(cpuAnswer(t, r.out))
				adviseAt(t, a, t0.Add(r.at))
			}
			if got := inForce(a, t0.Add(tt.checkAt)).Thresholds[CPU].Out; got != tt.want {
				t.Errorf("cpu scale_out in force = %g, want %g", got, tt.want)
			}
		})
	}
}

func rounds(pairs ...float64) []struct {
	at  time.Duration
	out float64
} {
	var out []struct {
		at  time.Duration
		out float64
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, struct {
			at  time.Duration
			out float64
		}{time.Duration(pairs[i]) * time.Minute, pairs[i+1]})
	}
	return out
}

func TestAppliedChangesAreCountedByGroupSignalAndField(t *testing.T) {
	m, a := applyConfig(t)
	m.answer(cpuAnswer(t, 0.85))
	adviseAt(t, a, t0)
	if n := testutil.ToFloat64(a.changes.WithLabelValues("web", "cpu", "scale_out")); n != 1 {
		t.Errorf("changes{cpu,scale_out} = %g, want 1", n)
	}
	if n := testutil.ToFloat64(a.changes.WithLabelValues("web", "cpu", "scale_in")); n != 0 {
		t.Errorf("changes{cpu,scale_in} = %g, want 0: scale_in did not change", n)
	}
	m.answer(cpuAnswer(t, 0.62))
	adviseAt(t, a, t0.Add(time.Minute))
	if n := testutil.ToFloat64(a.rejected.WithLabelValues(string(ReasonRateLimited))); n != 1 {
		t.Errorf("rejected{rate_limited} = %g, want 1", n)
	}
}

func TestAnOperatorsEditWinsOverAdvice(t *testing.T) {
	m, a := applyConfig(t)
	m.answer(goodAnswer) // cpu 0.75, memory 0.85, queue 120/40
	adviseAt(t, a, t0)
	edited := SeedSettings()
	edited.Thresholds[CPU] = Band{Out: 0.8, In: 0.3}
	got, _ := a.Apply("web", t0.Add(time.Minute), edited)
	if got.Thresholds[CPU] != (Band{Out: 0.8, In: 0.3}) {
		t.Errorf("cpu in force %+v after the operator set 0.8, want theirs", got.Thresholds[CPU])
	}
	if got.Thresholds[Memory] != (Band{Out: 0.85, In: 0.4}) {
		t.Errorf("memory in force %+v, want the advice kept: the operator did not touch it", got.Thresholds[Memory])
	}
	// Setting the value back does not bring the dropped advice back.
	if got, _ := a.Apply("web", t0.Add(2*time.Minute), SeedSettings()); got.Thresholds[CPU].Out != 0.7 {
		t.Errorf("cpu scale_out %g, want the config's 0.7", got.Thresholds[CPU].Out)
	}
}

func TestLeavingModeApplyGivesTheConfigBack(t *testing.T) {
	m, a := applyConfig(t)
	m.answer(goodAnswer)
	adviseAt(t, a, t0)
	cfg := a.cfg
	cfg.Mode = ModeAdvise
	if err := a.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if got, ok := a.Apply("web", t0.Add(time.Minute), SeedSettings()); ok || got.Thresholds[CPU].Out != 0.7 {
		t.Errorf("in mode advise: %+v, %v; want the config's values", got.Thresholds[CPU], ok)
	}
	cfg.Mode = ModeApply
	if err := a.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Apply("web", t0.Add(2*time.Minute), SeedSettings()); ok {
		t.Error("advice dropped on leaving mode apply came back on returning to it")
	}
}

func TestADisabledSignalGetsNoProposalAndNoWeight(t *testing.T) {
	m, a := applyConfig(t)
	current := SeedSettings()
	delete(current.Thresholds, ResponseTime)
	delete(current.Weights, ResponseTime) // cpu, memory and queue hold 0.70
	s := testSummary("web")
	s.Current = current
	noRT := `{"thresholds":{"cpu":{"scale_out":0.8,"scale_in":0.3},"memory":{"scale_out":0.85,"scale_in":0.4},"queue":{"scale_out":120,"scale_in":40}},` +
		`"weights":{"cpu":0.5,"memory":0.3,"queue":0.2},"rationale":"r"}`
	for i := range 4 {
		m.answer(noRT)
		now := t0.Add(time.Duration(i) * 10 * time.Minute)
		if _, err := a.Advise(context.Background(), now, s); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		s.Current, _ = a.Apply("web", now, current)
		sum := s.Current.Weights[CPU] + s.Current.Weights[Memory] + s.Current.Weights[Queue]
		if !near(sum, 0.70) {
			t.Errorf("round %d: the enabled signals' weights sum to %g, want the 0.70 they held", i, sum)
		}
		if _, ok := s.Current.Thresholds[ResponseTime]; ok || s.Current.Weights[ResponseTime] != 0 {
			t.Errorf("round %d: the disabled response_time got %+v / %g", i, s.Current.Thresholds[ResponseTime], s.Current.Weights[ResponseTime])
		}
	}
	if strings.Contains(m.bodies[0], `\"response_time\":{\"scale_out\":N`) {
		t.Error("the prompt asks for the disabled response_time")
	}
	m.answer(goodAnswer) // names response_time
	if _, err := a.Advise(context.Background(), t0.Add(time.Hour), s); !isRejection(err, ReasonUnknownField) {
		t.Errorf("an answer for a disabled signal: %v, want unknown_field", err)
	}
}

func TestWeightsAboveOneAreRefused(t *testing.T) {
	m, a := applyConfig(t)
	s := testSummary("web")
	// error_rate is not tuned and, unlike an accelerator, counts in the fixed sum.
	s.Current.Thresholds["error_rate"] = Band{Out: 0.05, In: 0.01}
	s.Current.Weights["error_rate"] = 0.5 // with the four tuned signals' 0.95, above 1
	m.answer(goodAnswer)
	if _, err := a.Advise(context.Background(), t0, s); !isRejection(err, ReasonWeightsAboveOne) {
		t.Errorf("Advise = %v, want weights_above_one", err)
	}
	if _, ok := a.Effective("web"); ok {
		t.Error("a refused proposal was applied")
	}
}

func TestAMissingKeyDisablesTheAdvisorUntilAReloadGivesOne(t *testing.T) {
	m, srv := newFakeModel(t)
	m.answer(goodAnswer)
	cfg := testConfig(srv, ModeApply)
	cfg.APIKeyEnv = "UNSET"
	a, err := New(cfg, nil, getenv, nil)
	if err != nil {
		t.Fatalf("New = %v, want the advisor built and disabled", err)
	}
	if _, err := a.Advise(context.Background(), t0, testSummary("web")); !errors.Is(err, ErrDisabled) {
		t.Errorf("Advise = %v, want ErrDisabled", err)
	}
	if got := gaugeValue(t, a, "flexus_advisor_enabled"); got != 0 {
		t.Errorf("flexus_advisor_enabled = %g, want 0", got)
	}
	cfg.APIKeyEnv = "FLEXUS_ADVISOR_KEY"
	if err := a.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Advise(context.Background(), t0, testSummary("web")); err != nil {
		t.Errorf("Advise after a reload with a key: %v", err)
	}
	if got := gaugeValue(t, a, "flexus_advisor_enabled"); got != 1 {
		t.Errorf("flexus_advisor_enabled = %g, want 1", got)
	}
}

func isRejection(err error, r Reason) bool {
	var rej *RejectedError
	return errors.As(err, &rej) && rej.Reason == r
}

func gaugeValue(t *testing.T, a *Advisor, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not collected", name)
	return 0
}
