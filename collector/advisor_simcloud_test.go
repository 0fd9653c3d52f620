package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
	"github.com/flexus-autoscaler/flexus/trace"
)

// These tests drive the real exporter (config file, server, collection loop, real
// SDK against simcloud) with the advisor in mode apply talking to a fake
// OpenAI-compatible endpoint on loopback. The advisor's own timer is parked (a long
// initial_delay); each round steps it by hand on the fake clock.

const advisorTestKey = "sk-advisor-test-not-real"

// fakeModel answers chat completions with the answer set for the group the prompt
// is about, after that group's delay.
type fakeModel struct {
	mu      sync.Mutex
	answers map[string]string
	delay   map[string]time.Duration
	asked   map[string]int
}

var promptGroup = regexp.MustCompile(`\\"group\\":\\"([^\\"]+)\\"`)

func (m *fakeModel) set(group, answer string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.answers[group] = answer
}

func (m *fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Authorization") != "Bearer "+advisorTestKey {
		http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
		return
	}
	group := ""
	if g := promptGroup.FindSubmatch(body); g != nil {
		group = string(g[1])
	}
	m.mu.Lock()
	ans, delay := m.answers[group], m.delay[group]
	m.asked[group]++
	m.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	resp, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-test", "object": "chat.completion", "model": "fake",
		"choices": []map[string]any{{"index": 0, "finish_reason": "stop",
			"message": map[string]string{"role": "assistant", "content": ans}}},
	})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(resp)
}

// answer renders a model answer; bands are {scale_out, scale_in}.
func answer(bands map[string][2]float64, weights map[string]float64) string {
	th := map[string]map[string]float64{}
	for s, b := range bands {
		th[s] = map[string]float64{"scale_out": b[0], "scale_in": b[1]}
	}
	b, _ := json.Marshal(map[string]any{"thresholds": th, "weights": weights, "rationale": "test"})
	return string(b)
}

// webAnswer is an answer for the web group, whose response_time is disabled.
func webAnswer(cpuOut float64, weights map[string]float64) string {
	return answer(map[string][2]float64{"cpu": {cpuOut, 0.3}, "memory": {0.8, 0.4}, "queue": {100, 50}}, weights)
}

// gpuAnswer is an answer for gpu-pool with its four tuned signals.
func gpuAnswer(weights map[string]float64) string {
	return answer(map[string][2]float64{"cpu": {0.7, 0.3}, "memory": {0.8, 0.4}, "response_time": {2, 0.5}, "queue": {100, 50}}, weights)
}

type advisedExporter struct {
	t     *testing.T
	sim   *sim
	srv   *Server
	url   string
	path  string
	model *fakeModel
	yaml  string
}

// advisorBlock is the advisor section the tests run with: a change per signal at
// most every 5 minutes, applied values lasting 10 minutes.
func advisorBlock(modelURL, extra string) string {
	return fmt.Sprintf(`advisor:
  mode: apply
  base_url: %s/v1
  api_key_env: FLEXUS_TEST_ADVISOR_KEY
  interval: 1m
  initial_delay: 1h
  timeout: 5s
  min_change: 0.05
  min_change_interval: 5m
  expire_after: 10m
%s`, modelURL, extra)
}

// webWithoutResponseTime disables response_time in the web group, as
// config/testdata/full.yml does.
func webWithoutResponseTime(y string) string {
	return strings.Replace(y, "    policy: target\n", "    policy: target\n    signals:\n      response_time: {disabled: true}\n", 1)
}

func startAdvised(t *testing.T, httpClient *http.Client, getenv func(string) string, extra string) *advisedExporter {
	t.Helper()
	return startAdvisedOn(t, startSim(t), httpClient, getenv, extra, webWithoutResponseTime)
}

// startAdvisedOn starts the exporter on s with the config, advisor block
// included, edited by edit.
func startAdvisedOn(t *testing.T, s *sim, httpClient *http.Client, getenv func(string) string, extra string, edit func(string) string) *advisedExporter {
	t.Helper()
	m := &fakeModel{answers: map[string]string{}, asked: map[string]int{}, delay: map[string]time.Duration{}}
	ms := httptest.NewServer(m)
	t.Cleanup(ms.Close)
	if getenv == nil {
		getenv = func(k string) string {
			if k == "FLEXUS_TEST_ADVISOR_KEY" {
				return advisorTestKey
			}
			return ""
		}
	}
	y := edit(s.config(t) + advisorBlock(ms.URL, extra))
	path := writeConfig(t, t.TempDir(), y)
	srv, err := NewServer(ServerOptions{ConfigFile: path, Clock: s.clk, Logger: promslog.NewNopLogger(), Getenv: getenv, HTTPClient: httpClient})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(srv.coll.Close)
	h, err := srv.Handler()
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	e := &advisedExporter{t: t, sim: s, srv: srv, url: hs.URL, path: path, model: m, yaml: y}
	m.set("web", webAnswer(0.7, map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15}))
	m.set("gpu-pool", gpuAnswer(map[string]float64{"cpu": 0.3, "memory": 0.25, "response_time": 0.25, "queue": 0.15}))
	e.collect()
	return e
}

// collect advances the world and the clock by d and runs one collection.
func (e *advisedExporter) tick(d time.Duration) {
	e.t.Helper()
	e.sim.clk.Advance(d)
	e.sim.step(e.t)
	e.collect()
}

func (e *advisedExporter) collect() {
	e.t.Helper()
	if _, err := e.srv.Loop().Step(context.Background()); err != nil {
		e.t.Fatalf("collection: %v", err)
	}
}

// advise runs one advisor round on the last collection, then collects so that
// what was applied is in force.
func (e *advisedExporter) advise() {
	e.t.Helper()
	now := e.sim.clk.Now()
	e.srv.advisor.Step(context.Background(), now, e.srv.coll.Summaries(now))
	e.collect()
}

func (e *advisedExporter) metrics() map[string]*dto.MetricFamily {
	e.t.Helper()
	code, body := get(e.t, e.url+"/metrics")
	if code != http.StatusOK {
		e.t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		e.t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// value is the sample of name whose labels include want; ok is false when absent.
func (e *advisedExporter) value(name string, want map[string]string) (float64, bool) {
	e.t.Helper()
	mf := e.metrics()[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func (e *advisedExporter) threshold(group, signal, dir string) float64 {
	e.t.Helper()
	v, ok := e.value(metricnames.Threshold(scoring.Signal(signal)), map[string]string{"group": group, "signal": signal, "direction": dir})
	if !ok {
		e.t.Fatalf("no %s for %s %s %s", metricnames.Threshold(scoring.Signal(signal)), group, signal, dir)
	}
	return v
}

func (e *advisedExporter) weight(group, signal string) float64 {
	e.t.Helper()
	v, ok := e.value("flexus_signal_weight", map[string]string{"group": group, "signal": signal})
	if !ok {
		e.t.Fatalf("no flexus_signal_weight for %s %s", group, signal)
	}
	return v
}

func (e *advisedExporter) counter(name string, labels map[string]string) float64 {
	e.t.Helper()
	v, _ := e.value(name, labels)
	return v
}

// requireScores fails unless every group has a composite score and recommendations.
func (e *advisedExporter) requireScores(when string) {
	e.t.Helper()
	for _, g := range []string{"gpu-pool", "web"} {
		if _, ok := e.value("flexus_scaling_score", map[string]string{"group": g}); !ok {
			e.t.Errorf("%s: flexus_scaling_score{group=%q} vanished: the group lost its valid score", when, g)
		}
		if _, ok := e.value("flexus_recommended_instances", map[string]string{"group": g}); !ok {
			e.t.Errorf("%s: flexus_recommended_instances{group=%q} vanished", when, g)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestAdvisorZeroWeightIsHonouredAndEveryGroupKeepsItsScore(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	e.model.set("web", webAnswer(0.7, map[string]float64{"cpu": 0.4, "memory": 0.3, "queue": 0}))
	e.model.set("gpu-pool", gpuAnswer(map[string]float64{"cpu": 0.4, "memory": 0.3, "response_time": 0.3, "queue": 0}))
	e.advise()
	e.requireScores("after a proposal with a zero weight")
	for _, g := range []string{"gpu-pool", "web"} {
		if w := e.weight(g, "queue"); w != 0 {
			t.Errorf("%s: queue weight %g in force, want the proposed 0", g, w)
		}
	}
	if ok := e.counter("flexus_advisor_requests_total", map[string]string{"result": "ok"}); ok != 2 {
		t.Errorf("%g proposals counted ok, want 2", ok)
	}
}

func TestAdvisorProposalThatBreaksTheScoreIsRefusedAndCounted(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	e.model.set("web", webAnswer(0.7, map[string]float64{"cpu": 0, "memory": 0, "queue": 0}))
	e.advise()
	e.requireScores("after an all-zero proposal")
	if n := e.counter("flexus_advisor_rejected_proposals_total", map[string]string{"reason": "zero_weights"}); n != 1 {
		t.Errorf("zero_weights rejections = %g, want 1", n)
	}
	if w := e.weight("web", "cpu"); !near(w, 0.3) {
		t.Errorf("web cpu weight %g after a refused proposal, want the config's 0.3", w)
	}
}

func TestAdvisorWeightsOfADisabledSignalNeverShrinkTheTotal(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	total := func() float64 { return e.weight("web", "cpu") + e.weight("web", "memory") + e.weight("web", "queue") }
	want := total()
	if !near(want, 0.70) {
		t.Fatalf("web's configured weights sum to %g, want 0.70", want)
	}
	// Each round proposes a different split; rounds are min_change_interval apart so each applies.
	splits := []map[string]float64{
		{"cpu": 0.5, "memory": 0.3, "queue": 0.2},
		{"cpu": 0.2, "memory": 0.5, "queue": 0.3},
		{"cpu": 0.6, "memory": 0.1, "queue": 0.3},
		{"cpu": 0.3, "memory": 0.3, "queue": 0.4},
	}
	for _, sum := range e.srv.coll.Summaries(e.sim.clk.Now()) {
		if _, ok := sum.Signals[advisor.ResponseTime]; ok && sum.Group == "web" {
			t.Error("web's summary carries the disabled response_time")
		}
	}
	for i, w := range splits {
		e.model.set("web", webAnswer(0.7, w))
		e.advise()
		if got := total(); math.Abs(got-want) > 1e-9 {
			t.Errorf("round %d: web weights sum to %g, want the %g they held", i+1, got, want)
		}
		if _, ok := e.value("flexus_signal_weight", map[string]string{"group": "web", "signal": "response_time"}); ok {
			t.Errorf("round %d: the disabled response_time has a weight", i+1)
		}
		e.requireScores(fmt.Sprintf("round %d", i+1))
		e.tick(5 * time.Minute)
	}
	if n := e.counter("flexus_advisor_applied_changes_total", map[string]string{"group": "web", "signal": "cpu", "field": "weight"}); n != float64(len(splits)) {
		t.Errorf("web cpu weight changed %g times, want %d", n, len(splits))
	}
}

func TestAdvisorWaitsForASlowAnswerUpToItsOwnTimeout(t *testing.T) {
	// The exporter's shared client gives up after 2s (its default is 10s); the
	// advisor's configured timeout is 5s, and the model takes 3s for web.
	shared := &http.Client{Timeout: 2 * time.Second}
	e := startAdvised(t, shared, nil, "")
	e.model.mu.Lock()
	e.model.delay["web"] = 3 * time.Second
	e.model.mu.Unlock()
	e.model.set("web", webAnswer(0.8, map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15}))
	e.advise()
	if n := e.counter("flexus_advisor_requests_total", map[string]string{"result": "timeout"}); n != 0 {
		t.Errorf("%g requests timed out: the advisor used the shared client's timeout, not its own", n)
	}
	if got := e.threshold("web", "cpu", "out"); got != 0.8 {
		t.Errorf("web cpu scale_out %g, want the slow answer's 0.8", got)
	}
}

func TestAdvisorChangesAtMostOncePerIntervalAndKeepsTheScorer(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	scorer := e.srv.coll.groups["web"].scorer
	// The model flaps between 0.9 and 0.6 every minute, as in the issue.
	changesAt := []time.Time{}
	last := e.threshold("web", "cpu", "out")
	for i := range 12 {
		e.model.set("web", webAnswer([]float64{0.9, 0.6}[i%2], map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15}))
		e.advise()
		e.requireScores(fmt.Sprintf("minute %d", i))
		if got := e.threshold("web", "cpu", "out"); got != last {
			changesAt = append(changesAt, e.sim.clk.Now())
			last = got
		}
		e.tick(time.Minute)
	}
	if len(changesAt) < 2 {
		t.Fatalf("cpu scale_out changed %d times in 12 minutes, want the limit to allow a few", len(changesAt))
	}
	for i := 1; i < len(changesAt); i++ {
		if gap := changesAt[i].Sub(changesAt[i-1]); gap < 5*time.Minute {
			t.Errorf("cpu scale_out changed twice within %s, want at most once per min_change_interval 5m", gap)
		}
	}
	if n := e.counter("flexus_advisor_rejected_proposals_total", map[string]string{"reason": "rate_limited"}); n == 0 {
		t.Error("no change was counted as rate_limited")
	}
	if n := e.counter("flexus_advisor_applied_changes_total", map[string]string{"group": "web", "signal": "cpu", "field": "scale_out"}); n != float64(len(changesAt)) {
		t.Errorf("applied changes counted %g, want the %d observed", n, len(changesAt))
	}
	if st := e.srv.coll.groups["web"]; st.scorer != scorer || !st.warmed {
		t.Error("an applied change rebuilt the scorer: the stabilisation window and forecasters were lost")
	}
}

func TestAdvisorIgnoresChangesBelowMinChange(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	e.model.set("web", webAnswer(0.71, map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15}))
	e.advise()
	if got := e.threshold("web", "cpu", "out"); got != 0.7 {
		t.Errorf("cpu scale_out %g after a proposal of 0.71, want 0.7 kept: below min_change", got)
	}
}

func TestAdvisorAppliedValueExpiresAndTheConfigReturns(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	e.model.set("web", webAnswer(0.85, map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15}))
	e.advise()
	if got := e.threshold("web", "cpu", "out"); got != 0.85 {
		t.Fatalf("cpu scale_out %g, want the applied 0.85", got)
	}
	e.tick(9 * time.Minute)
	if got := e.threshold("web", "cpu", "out"); got != 0.85 {
		t.Errorf("cpu scale_out %g before expire_after, want 0.85 still", got)
	}
	e.tick(2 * time.Minute)
	if got := e.threshold("web", "cpu", "out"); got != 0.7 {
		t.Errorf("cpu scale_out %g after expire_after, want the config's 0.7", got)
	}
	e.requireScores("after expiry")
}

func TestAdvisorRefusesLooseJSON(t *testing.T) {
	good := webAnswer(0.85, map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15})
	tests := []struct {
		name, answer, reason string
	}{
		{"a duplicate key is refused", strings.Replace(good, `"weights":{`, `"weights":{"cpu":0.9,`, 1), "duplicate_key"},
		{"a key in another case is refused", strings.Replace(good, `"cpu":{`, `"CPU":{`, 1), "unknown_field"},
		{"a disabled signal is refused", strings.Replace(good, `"weights":{`, `"weights":{"response_time":0.1,`, 1), "unknown_field"},
		{"an unknown key is refused", strings.Replace(good, `"rationale"`, `"confidence":1,"rationale"`, 1), "unknown_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startAdvised(t, nil, nil, "")
			e.model.set("web", tt.answer)
			e.advise()
			if n := e.counter("flexus_advisor_rejected_proposals_total", map[string]string{"reason": tt.reason}); n != 1 {
				t.Errorf("%s rejections = %g, want 1", tt.reason, n)
			}
			if got := e.threshold("web", "cpu", "out"); got != 0.7 {
				t.Errorf("cpu scale_out %g, want the config's 0.7: the answer was refused", got)
			}
			e.requireScores("after a refused answer")
		})
	}
}

func TestAdvisorWithoutAKeyIsDisabledAndTheExporterRuns(t *testing.T) {
	e := startAdvised(t, nil, func(string) string { return "" }, "")
	e.advise()
	e.requireScores("without an advisor key")
	if v, ok := e.value("flexus_advisor_enabled", nil); !ok || v != 0 {
		t.Errorf("flexus_advisor_enabled = %g (present %v), want 0", v, ok)
	}
	e.model.mu.Lock()
	asked := len(e.model.asked)
	e.model.mu.Unlock()
	if asked != 0 {
		t.Errorf("the model was asked %d times without a key", asked)
	}
}

func TestAdvisorYieldsToTheOperatorsReload(t *testing.T) {
	e := startAdvised(t, nil, nil, "")
	e.model.set("web", answer(map[string][2]float64{"cpu": {0.85, 0.3}, "memory": {0.9, 0.4}, "queue": {100, 50}},
		map[string]float64{"cpu": 0.3, "memory": 0.25, "queue": 0.15}))
	e.advise()
	if e.threshold("web", "cpu", "out") != 0.85 || e.threshold("web", "memory", "out") != 0.9 {
		t.Fatal("the proposal was not applied")
	}
	// The operator sets web's cpu scale_out: their value wins, memory's advice stays.
	edited := strings.Replace(e.yaml, "      response_time: {disabled: true}\n", "      response_time: {disabled: true}\n      cpu: {scale_out: 0.75}\n", 1)
	writeConfig(t, strings.TrimSuffix(e.path, "/flexus.yml"), edited)
	if err := e.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	e.tick(time.Minute)
	if got := e.threshold("web", "cpu", "out"); got != 0.75 {
		t.Errorf("cpu scale_out %g after the operator's edit, want their 0.75", got)
	}
	if got := e.threshold("web", "memory", "out"); got != 0.9 {
		t.Errorf("memory scale_out %g, want the advice 0.9 kept: the operator did not touch it", got)
	}
	// A reload may change the mode: advise leaves the config's values in force.
	writeConfig(t, strings.TrimSuffix(e.path, "/flexus.yml"), strings.Replace(edited, "  mode: apply\n", "  mode: advise\n", 1))
	if err := e.srv.Reload(); err != nil {
		t.Fatalf("a reload that changes the advisor's mode: %v", err)
	}
	e.tick(time.Minute)
	if got := e.threshold("web", "memory", "out"); got != 0.8 {
		t.Errorf("memory scale_out %g in mode advise, want the config's 0.8", got)
	}
	if m := e.srv.advisor.Mode(); m != advisor.ModeAdvise {
		t.Errorf("mode %s after the reload, want advise", m)
	}
	e.requireScores("after the reloads")
}

// These tests check advice against history: the web group's load climbs to
// a plateau two instances cannot hold and falls back to a long quiet tail,
// and web follows the seed loop on CPU alone, so the thresholds the model
// proposes decide what the replay does.

// humpDemand is the web group's load, normalised to its peak: quiet, a
// climb, a plateau, a fall, a long quiet tail (minute steps from the world's start).
func humpDemand() *trace.Series {
	s := &trace.Series{Name: "hump", Start: simStart, Step: time.Minute}
	for i := range 180 {
		v := 0.2
		switch {
		case i >= 30 && i < 45:
			v = 0.2 + 0.8*float64(i-30)/15
		case i >= 45 && i < 75:
			v = 1
		case i >= 75 && i < 85:
			v = 1 - 0.8*float64(i-75)/10
		}
		s.Values = append(s.Values, v)
	}
	return s
}

// startHumpSim is startSim with web's load following humpDemand: its peak is
// what its two instances serve at full CPU.
func startHumpSim(t *testing.T) *sim {
	t.Helper()
	redisAddr := testenv.Redis(t)
	cfg := simcloudtest.Config()
	cfg.Redis = simcloud.RedisConfig{Address: redisAddr}
	for i := range cfg.World.Groups {
		if cfg.World.Groups[i].Name == "web" {
			cfg.World.Groups[i].Demand = world.DemandConfig{Scenario: world.ScenarioTrace, Trace: humpDemand(), PeakInstances: 2, TargetUtilization: 1}
		}
	}
	cfg.SetDefaults()
	clk := clock.NewFake(simStart)
	env := simcloudtest.Start(t, cfg, clk)
	clk.Advance(10 * time.Minute)
	s := &sim{env: env, clk: clk, redis: redisAddr}
	s.step(t)
	return s
}

// webOnCPU makes web follow the seed loop on CPU alone.
func webOnCPU(y string) string {
	return strings.Replace(y, "    policy: target\n", `    policy: seed
    signals:
      response_time: {disabled: true}
      cpu: {weight: 0.9}
      memory: {weight: 0}
      queue: {weight: 0}
`, 1)
}

// cpuAnswer proposes CPU's band for web and keeps everything else as web has it.
func cpuAnswer(out, in float64) string {
	return answer(map[string][2]float64{"cpu": {out, in}, "memory": {0.8, 0.4}, "queue": {100, 50}},
		map[string]float64{"cpu": 0.9, "memory": 0, "queue": 0})
}

// startChecked runs the exporter on the hump for span, collecting every 2
// minutes, with the advisor in mode.
func startChecked(t *testing.T, span time.Duration, mode advisor.Mode) *advisedExporter {
	t.Helper()
	edit := func(y string) string {
		return strings.Replace(webOnCPU(y), "  mode: apply\n", "  mode: "+string(mode)+"\n", 1)
	}
	e := startAdvisedOn(t, startHumpSim(t), nil, nil, "", edit)
	if got := e.srv.advisor.Mode(); got != mode {
		t.Fatalf("advisor mode %s, want %s", got, mode)
	}
	for range int(span / (2 * time.Minute)) {
		e.tick(2 * time.Minute)
	}
	return e
}

// adviseWeb runs one advisor round for web alone, then collects.
func (e *advisedExporter) adviseWeb() error {
	e.t.Helper()
	now := e.sim.clk.Now()
	for _, s := range e.srv.coll.Summaries(now) {
		if s.Group == "web" {
			_, err := e.srv.advisor.Advise(context.Background(), now, s)
			e.collect()
			return err
		}
	}
	e.t.Fatal("no summary for web")
	return nil
}

func TestAdvisorRefusesAProposalWorseOnTheGroupsHistory(t *testing.T) {
	for _, mode := range []advisor.Mode{advisor.ModeApply, advisor.ModeAdvise} {
		t.Run("in mode "+string(mode), func(t *testing.T) {
			e := startChecked(t, 150*time.Minute, mode)
			// Scaling out later is late on the climb; scaling in only below 20 % CPU
			// pays for the quiet tail.
			e.model.set("web", cpuAnswer(0.8, 0.2))
			err := e.adviseWeb()
			var rej *advisor.RejectedError
			if !errors.As(err, &rej) || rej.Reason != advisor.ReasonWorseOnHistory {
				t.Fatalf("Advise: %v, want a rejection for %s", err, advisor.ReasonWorseOnHistory)
			}
			if n := e.counter("flexus_advisor_rejected_proposals_total", map[string]string{"reason": "worse_on_history"}); n != 1 {
				t.Errorf("worse_on_history rejections = %g, want 1", n)
			}
			if n := e.counter("flexus_advisor_history_checks_total", map[string]string{"result": "worse_on_history"}); n != 1 {
				t.Errorf("checks worse on history = %g, want 1", n)
			}
			if n := e.counter("flexus_advisor_requests_total", map[string]string{"result": "invalid"}); n != 1 {
				t.Errorf("requests answered with a refused proposal = %g, want 1", n)
			}
			if _, ok := e.value("flexus_advisor_threshold", map[string]string{"group": "web", "signal": "cpu", "direction": "out"}); ok {
				t.Error("the refused proposal is published as flexus_advisor_threshold")
			}
			if got := e.threshold("web", "cpu", "out"); got != 0.7 {
				t.Errorf("cpu scale_out %g in force, want the config's 0.7: the refused proposal was applied", got)
			}
			e.requireScores("after a proposal refused on history")
		})
	}
}

func TestAdvisorLetsAProposalNotWorseOnHistoryCount(t *testing.T) {
	tests := []struct {
		name    string
		out, in float64
	}{
		{"scaling out and in sooner is better on both", 0.6, 0.4},
		{"scaling out only near saturation is cheaper with more SLO minutes: a trade-off", 0.9, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startChecked(t, 150*time.Minute, advisor.ModeApply)
			e.model.set("web", cpuAnswer(tt.out, tt.in))
			if err := e.adviseWeb(); err != nil {
				t.Fatalf("Advise: %v", err)
			}
			if n := e.counter("flexus_advisor_history_checks_total", map[string]string{"result": "passed"}); n != 1 {
				t.Errorf("passed checks = %g, want 1", n)
			}
			if v, ok := e.value("flexus_advisor_threshold", map[string]string{"group": "web", "signal": "cpu", "direction": "out"}); !ok || v != tt.out {
				t.Errorf("published cpu scale_out %g (present %v), want %g", v, ok, tt.out)
			}
			if got := e.threshold("web", "cpu", "out"); got != tt.out {
				t.Errorf("cpu scale_out %g in force, want the applied %g", got, tt.out)
			}
		})
	}
}

func TestAdvisorWithTooLittleHistoryCountsTheCheckAndLetsTheProposalPass(t *testing.T) {
	e := startChecked(t, 20*time.Minute, advisor.ModeApply)
	e.model.set("web", cpuAnswer(0.9, 0.1))
	if err := e.adviseWeb(); err != nil {
		t.Fatalf("Advise: %v", err)
	}
	if n := e.counter("flexus_advisor_history_checks_total", map[string]string{"result": "insufficient_history"}); n != 1 {
		t.Errorf("insufficient_history checks = %g, want 1", n)
	}
	if n := e.counter("flexus_advisor_rejected_proposals_total", map[string]string{"reason": "worse_on_history"}); n != 0 {
		t.Errorf("worse_on_history rejections = %g, want 0: half an hour judges nothing", n)
	}
	if got := e.threshold("web", "cpu", "out"); got != 0.9 {
		t.Errorf("cpu scale_out %g in force, want the applied 0.9", got)
	}
}

func TestAdvisorStillRefusesGarbageBeforeAnyReplay(t *testing.T) {
	e := startChecked(t, 150*time.Minute, advisor.ModeApply)
	e.model.set("web", "the thresholds look fine to me")
	err := e.adviseWeb()
	var rej *advisor.RejectedError
	if !errors.As(err, &rej) || rej.Reason != advisor.ReasonNotJSON {
		t.Fatalf("Advise: %v, want a rejection for %s", err, advisor.ReasonNotJSON)
	}
	for _, r := range advisor.CheckResults() {
		if n := e.counter("flexus_advisor_history_checks_total", map[string]string{"result": string(r)}); n != 0 {
			t.Errorf("%g checks counted %s: garbage is refused before any replay", n, r)
		}
	}
	if got := e.threshold("web", "cpu", "out"); got != 0.7 {
		t.Errorf("cpu scale_out %g in force, want the config's 0.7", got)
	}
}
