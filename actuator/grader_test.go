package actuator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud/hwcloudtest"
)

// fakePrometheus answers /api/v1/query_range as Prometheus does, with one
// series a step: the group's in-service instances and CPU utilisation at
// the minute's offset from the query's start. skip leaves minutes out.
type fakePrometheus struct {
	inService func(minute int) float64
	cpu       func(minute int) float64
	skip      map[int]bool
	queries   []string
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query_range" {
		http.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	q := r.Form.Get("query")
	f.queries = append(f.queries, q)
	start, _ := strconv.ParseFloat(r.Form.Get("start"), 64)
	end, _ := strconv.ParseFloat(r.Form.Get("end"), 64)
	step, _ := strconv.ParseFloat(r.Form.Get("step"), 64)
	value := f.cpu
	if strings.Contains(q, `state="in_service"`) {
		value = f.inService
	}
	var values [][2]any
	for i, t := 0, start; t <= end && step > 0; i, t = i+1, t+step {
		if !f.skip[i] {
			values = append(values, [2]any{t, strconv.FormatFloat(value(i), 'f', -1, 64)})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{
		"resultType": "matrix", "result": []any{map[string]any{"metric": map[string]string{}, "values": values}}}})
}

func constant(v float64) func(int) float64 { return func(int) float64 { return v } }

func TestPrometheusHindsight(t *testing.T) {
	tests := []struct {
		name    string
		lead    time.Duration // 4m when unset
		prom    fakePrometheus
		want    Aftermath
		wantErr string
	}{
		{name: "load is utilisation times the instances in service, a minute apart",
			prom: fakePrometheus{inService: func(m int) float64 { return float64(3 + m) }, cpu: constant(0.5)},
			want: Aftermath{Load: []float64{1.5, 2, 2.5, 3, 3.5}, InService: []int{3, 4, 5, 6, 7}}},
		{name: "a minute missing from the series is left out",
			prom: fakePrometheus{inService: constant(4), cpu: constant(0.25), skip: map[int]bool{1: true}},
			want: Aftermath{Load: []float64{1, 1, 1, 1}, InService: []int{4, 4, 4, 4}}},
		{name: "a lead time under four minutes is read in four steps, not one",
			lead: 40 * time.Second,
			prom: fakePrometheus{inService: func(m int) float64 { return float64(2 + 2*m) }, cpu: constant(0.5)},
			want: Aftermath{Load: []float64{1, 2, 3, 4, 5}, InService: []int{2, 4, 6, 8, 10}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&tc.prom)
			defer srv.Close()
			h := PrometheusHindsight{URL: srv.URL + "/", Client: srv.Client(), Timeout: time.Second}
			lead := cmp.Or(tc.lead, 4*time.Minute)
			got, err := h.Aftermath(context.Background(), "web", t0, t0.Add(lead))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("aftermath %v, want %v", got, tc.want)
			}
			for _, q := range tc.prom.queries {
				if !strings.Contains(q, `group="web"`) {
					t.Errorf("query %s does not select the group", q)
				}
			}
		})
	}
	t.Run("an API error names Prometheus and its reason", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		}))
		defer srv.Close()
		_, err := PrometheusHindsight{URL: srv.URL, Client: srv.Client()}.Aftermath(context.Background(), "web", t0, t0.Add(time.Minute))
		if err == nil || !strings.Contains(err.Error(), "parse error") || !strings.Contains(err.Error(), srv.URL) {
			t.Errorf("error %v, want Prometheus's URL and its reason", err)
		}
	})
	t.Run("a URL that is not Prometheus's API says so", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }))
		defer srv.Close()
		_, err := PrometheusHindsight{URL: srv.URL, Client: srv.Client()}.Aftermath(context.Background(), "web", t0, t0.Add(time.Minute))
		if err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("error %v, want a hint at the base URL", err)
		}
	})
}

// gradedEntry is a decision as /api/v1/decisions serves it, with its grade.
type gradedEntry struct {
	Time   time.Time
	Action Action
	Grade  *struct {
		Verdict  string     `json:"verdict"`
		GradedAt *time.Time `json:"graded_at"`
	}
}

func (h *harness) decisions() []gradedEntry {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+PathDecisions+"?group=web", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Decisions []gradedEntry }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatal(err)
	}
	return out.Decisions
}

func (h *harness) graded(action Action, verdict Judgement) float64 {
	return testutil.ToFloat64(h.a.metrics.graded.WithLabelValues("web", string(action), string(verdict)))
}

// gradingHarness is an actuator whose web group has a 3-minute lead time
// (boot 1m, warm-up 1m, pipeline 1m) and grades against prom.
func gradingHarness(t *testing.T, prom *fakePrometheus) *harness {
	srv := httptest.NewServer(prom)
	t.Cleanup(srv.Close)
	return newHarness(t, "grading: {prometheus_url: "+srv.URL+", max_utilization: 0.9}", "boot_time: 1m, warm_up: 1m, pipeline_delay: 1m")
}

func TestDecisionsAreGradedOnceTheirLeadTimeHasPassed(t *testing.T) {
	// Load 4 instances at 100% throughout: 3 instances would have run at
	// 133%, so the scale-out from 3 to 5 was needed.
	prom := &fakePrometheus{inService: constant(5), cpu: constant(0.8)}
	h := gradingHarness(t, prom)
	if _, ans := h.deliver(notification("gk", alert("web", ScaleOut, "5", "a"))); outcomes(ans) != "web/scale_out:applied:5" {
		t.Fatal(outcomes(ans))
	}
	ctx := context.Background()

	h.clock.Advance(3 * time.Minute) // the lead time has passed; its last minute has not reached Prometheus
	if _, err := h.a.GradeDue(ctx); err != nil {
		t.Fatal(err)
	}
	if d := h.decisions(); len(d) != 1 || d[0].Grade == nil || d[0].Grade.Verdict != "pending" || d[0].Grade.GradedAt != nil {
		t.Fatalf("before its due time the decision shows %+v, want a pending grade", d)
	}
	if n := h.graded(ScaleOut, JudgedNeeded); n != 0 {
		t.Fatalf("%v graded before the due time", n)
	}

	h.clock.Advance(time.Minute) // actuator.grading.delay, by default
	if _, err := h.a.GradeDue(ctx); err != nil {
		t.Fatal(err)
	}
	d := h.decisions()
	if len(d) != 1 || d[0].Grade == nil || d[0].Grade.Verdict != string(JudgedNeeded) || d[0].Grade.GradedAt == nil || !d[0].Grade.GradedAt.Equal(h.clock.Now()) {
		t.Fatalf("the decision shows %+v, want verdict needed graded now", d)
	}
	if n := h.graded(ScaleOut, JudgedNeeded); n != 1 {
		t.Fatalf("flexus_decisions_graded_total{verdict=needed} = %v, want 1", n)
	}
	if !strings.Contains(prom.queries[0], "flexus_group_instances") || !strings.Contains(prom.queries[1], "flexus_signal_ratio") {
		t.Errorf("queries %q, want the exporter's in-service and CPU series", prom.queries)
	}

	t.Run("a second round counts nothing again", func(t *testing.T) {
		h.clock.Advance(time.Minute)
		if _, err := h.a.GradeDue(ctx); err != nil {
			t.Fatal(err)
		}
		if n := h.graded(ScaleOut, JudgedNeeded); n != 1 {
			t.Fatalf("after a second round %v, want 1", n)
		}
	})
	t.Run("a restart keeps the grade and does not count it again", func(t *testing.T) {
		h.start()
		if _, err := h.a.GradeDue(ctx); err != nil {
			t.Fatal(err)
		}
		if n := h.graded(ScaleOut, JudgedNeeded); n != 0 {
			t.Fatalf("the restarted actuator counted %v grades of a decision graded before", n)
		}
		gs, err := h.a.store.Group(ctx, "web") // as loaded from the state file
		if err != nil {
			t.Fatal(err)
		}
		if gr, ok := gs.gradeOf(d[0].Time, ScaleOut); !ok || gr.Verdict != JudgedNeeded {
			t.Fatalf("the state file holds %+v, want the verdict needed", gr)
		}
	})
	t.Run("the effectiveness score is published per part", func(t *testing.T) {
		got, err := testutil.GatherAndCount(h.reg, "flexus_decision_effectiveness_ratio")
		if err != nil || got != 4 {
			t.Fatalf("%d effectiveness series (%v), want accuracy, cost_efficiency, response_speed and overall", got, err)
		}
	})
}

func TestAPendingGradeSurvivesARestartAndIsGradedAfterIt(t *testing.T) {
	// After the scale-in from 3 to 1, 1 instance carries a load of 1.2:
	// the SLO was violated, the scale-in was premature.
	prom := &fakePrometheus{inService: constant(1), cpu: constant(1.2)}
	h := gradingHarness(t, prom)
	if _, ans := h.deliver(notification("gk", alert("web", ScaleIn, "1", "a"))); !strings.HasPrefix(outcomes(ans), "web/scale_in:applied") {
		t.Fatal(outcomes(ans))
	}
	h.start()
	h.clock.Advance(3*time.Minute + time.Minute)
	if _, err := h.a.GradeDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.graded(ScaleIn, JudgedPremature); n != 1 {
		t.Fatalf("flexus_decisions_graded_total{verdict=premature} = %v after the restart, want 1", n)
	}
}

func TestAnUnreadableAftermathIsRetriedThenCountedUngraded(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close() // nothing listens there any more
	h := newHarness(t, "grading: {prometheus_url: "+url+"}", "boot_time: 1m, warm_up: 1m, pipeline_delay: 1m")
	h.deliver(notification("gk", alert("web", ScaleOut, "5", "a")))
	h.clock.Advance(3*time.Minute + time.Minute)
	if _, err := h.a.GradeDue(context.Background()); err == nil || !strings.Contains(err.Error(), "actuator.grading.prometheus_url") {
		t.Fatalf("error %v, want one naming actuator.grading.prometheus_url", err)
	}
	if d := h.decisions(); d[0].Grade == nil || d[0].Grade.Verdict != "pending" {
		t.Fatalf("after a failed query the decision shows %+v, want it still pending", d[0].Grade)
	}
	h.clock.Advance(gradingGiveUp)
	if _, err := h.a.GradeDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.graded(ScaleOut, JudgedUngraded); n != 1 {
		t.Fatalf("flexus_decisions_graded_total{verdict=ungraded} = %v after giving up, want 1", n)
	}
}

func TestWithoutGradingDecisionsCarryNoGrade(t *testing.T) {
	h := newHarness(t, "", "")
	h.deliver(notification("gk", alert("web", ScaleOut, "5", "a")))
	h.clock.Advance(time.Hour)
	if _, err := h.a.GradeDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := h.decisions(); len(d) != 1 || d[0].Grade != nil {
		t.Fatalf("decisions %+v, want one without a grade", d)
	}
}

// staticHindsight is what followed every decision, for tests of the store.
type staticHindsight Aftermath

func (s staticHindsight) Aftermath(context.Context, string, time.Time, time.Time) (Aftermath, error) {
	return Aftermath(s), nil
}

func TestTwoReplicasCountAGradeOnce(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(harnessConfig, "grading: {prometheus_url: http://127.0.0.1:1}", "")))
	if err != nil {
		t.Fatal(err)
	}
	bothStores(t, func(t *testing.T, open func() StateStore) {
		ctx := context.Background()
		c := clock.NewFake(t0)
		replica := func() *Actuator {
			cl := hwcloudtest.New(c).Clients()
			a, err := New(Options{Config: cfg, Store: open(), Clock: c, Logger: promslog.NewNopLogger(),
				Scalers:   Scalers{config.BackendAS: &ASScaler{Client: cl.AS}, config.BackendECS: &ECSScaler{Client: cl.ECS, Sleep: noSleep}},
				Hindsight: staticHindsight{Load: []float64{1, 1}, InService: []int{5, 5}}})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		a, b := replica(), replica()
		lk := mustLock(t, a.store, "web")
		gs := &GroupState{Desired: 5}
		gs.awaitGrade(Decision{Time: t0, Action: ScaleOut, From: 3, To: 5}, 3*time.Minute)
		if err := lk.PutGroup(ctx, gs); err != nil {
			t.Fatal(err)
		}
		lk.Unlock()
		c.Advance(time.Hour)
		for _, r := range []*Actuator{a, b} {
			if _, err := r.GradeDue(ctx); err != nil {
				t.Fatal(err)
			}
		}
		count := func(r *Actuator) float64 {
			return testutil.ToFloat64(r.metrics.graded.WithLabelValues("web", string(ScaleOut), string(JudgedUnneeded)))
		}
		if count(a)+count(b) != 1 {
			t.Fatalf("the replicas counted %v and %v unneeded grades of one decision, want 1 in all", count(a), count(b))
		}
	})
}
