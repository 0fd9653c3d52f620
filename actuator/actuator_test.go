package actuator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/hwcloud/hwcloudtest"
)

const testToken = "s3cret-token"

const harnessConfig = `
cloud: {region: cn-north-4, project_id: p}
actuator:
  bearer_token: ` + testToken + `
  max_body_bytes: 4096
  decision_log_size: 50
  %s
groups:
  - name: web
    discovery: {as_group_id: asg-web}
    min_instances: 2
    max_instances: 10
    scaling: {cooldown_out: 5m, cooldown_in: 10m, max_step_out: 4, max_step_in: 2, scale_in_stabilization: 1m, %s}
  - name: api
    discovery: {tag: {key: flexus-group, value: api}}
    min_instances: 1
    max_instances: 6
    scaling: {cooldown_out: 5m, cooldown_in: 5m, max_step_out_percent: 400, max_step_in: 3, max_step_in_percent: 100, scale_in_stabilization: 1m, boot_time: 1s}
    ecs: {flavor: x1.2u.4g, image_id: img-1, vpc_id: vpc-1, subnet_id: sub-1, security_group_id: sg-1, spot: true, tags: {team: shop}}
`

// harness is an actuator over fake clouds, served over HTTP.
type harness struct {
	t     testing.TB
	clock *clock.Fake
	cloud *hwcloudtest.Fake
	cfg   *config.Config
	state string
	reg   *prometheus.Registry
	a     *Actuator
	srv   *httptest.Server
	// newScalers builds the cloud side at each start: fakes here, simcloud
	// through hwcloud in simHarness.
	newScalers func(reg prometheus.Registerer) (Scalers, error)
}

func newHarness(t testing.TB, actuatorExtra, webScaling string) *harness {
	t.Helper()
	cfg, err := config.Parse([]byte(fmt.Sprintf(harnessConfig, actuatorExtra, webScaling)))
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewFake(t0)
	h := &harness{t: t, clock: c, cloud: hwcloudtest.New(c), cfg: cfg, state: filepath.Join(t.TempDir(), "state.json")}
	h.cloud.SetGroup(hwcloud.Group{ID: "asg-web", Desired: 3, Current: 3, Min: 1, Max: 50, Status: "INSERVICE"})
	h.newScalers = func(prometheus.Registerer) (Scalers, error) {
		cl := h.cloud.Clients()
		return Scalers{
			config.BackendAS:  &ASScaler{Client: cl.AS},
			config.BackendECS: &ECSScaler{Client: cl.ECS, Sleep: noSleep},
		}, nil
	}
	h.start()
	t.Cleanup(func() { h.srv.Close() })
	return h
}

// start builds the actuator from the state file, as a process start does.
func (h *harness) start() {
	h.t.Helper()
	if h.srv != nil {
		h.srv.Close()
	}
	store, err := OpenStore(h.state, h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	h.reg = prometheus.NewRegistry()
	scalers, err := h.newScalers(h.reg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.a, err = New(Options{Config: h.cfg, Scalers: scalers, Store: NewFileStore(store), Clock: h.clock, Logger: promslog.NewNopLogger(), Registerer: h.reg})
	if err != nil {
		h.t.Fatal(err)
	}
	routes, err := h.a.Routes(h.reg, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv = httptest.NewServer(routes)
}

func (h *harness) post(body []byte, token string) (int, webhookAnswer) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+PathAlerts, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans webhookAnswer
	_ = json.NewDecoder(resp.Body).Decode(&ans)
	// Cloud jobs are followed after the answer; the next step of a test
	// starts once they ended, so the fake clock moves only under the test.
	h.a.WaitJobs()
	return resp.StatusCode, ans
}

func (h *harness) deliver(body []byte) (int, webhookAnswer) { return h.post(body, testToken) }

func outcomes(ans webhookAnswer) string {
	var s []string
	for _, d := range ans.Decisions {
		s = append(s, fmt.Sprintf("%s/%s:%s:%d", d.Group, d.Action, d.Outcome, d.To))
	}
	return strings.Join(s, ",")
}

func TestWebhookHTTP(t *testing.T) {
	h := newHarness(t, "", "")
	good := notification("gk", alert("web", ScaleOut, "5", "a"))
	big := notification("gk", alert("web", ScaleOut, strings.Repeat("5", 5000), "a"))
	tests := []struct {
		name   string
		method string
		token  string
		body   []byte
		code   int
	}{
		{name: "no token is 401", method: "POST", body: good, code: 401},
		{name: "a wrong token is 401", method: "POST", token: "s3cret-tokeN", body: good, code: 401},
		{name: "a token prefix is 401", method: "POST", token: "s3cret", body: good, code: 401},
		{name: "GET is 405", method: "GET", token: testToken, code: 405},
		{name: "not JSON is 400", method: "POST", token: testToken, body: []byte("{"), code: 400},
		{name: "a bad action is 400", method: "POST", token: testToken, body: notification("gk", alert("web", "grow", "5", "a")), code: 400},
		{name: "a body above max_body_bytes is 413", method: "POST", token: testToken, body: big, code: 413},
		{name: "resolved is 200 and changes nothing", method: "POST", token: testToken,
			body: notification("gk", func() Alert { a := alert("web", ScaleOut, "9", "a"); a.Status = "resolved"; return a }()), code: 200},
		{name: "an unknown group is acknowledged", method: "POST", token: testToken, body: notification("gk", alert("nope", ScaleOut, "5", "a")), code: 200},
		{name: "a good notification is 200", method: "POST", token: testToken, body: good, code: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, h.srv.URL+PathAlerts, bytes.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
	for _, path := range []string{"/", "/api/v1/alert", "/alerts"} {
		resp, err := h.srv.Client().Post(h.srv.URL+path, "application/json", bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Errorf("POST %s answered %d: only %s takes notifications", path, resp.StatusCode, PathAlerts)
		}
	}
	if _, ups := h.cloud.Desired("asg-web"); len(ups) != 1 {
		t.Errorf("%d updates, want exactly the one from the good notification", len(ups))
	}
	if got := testutil.ToFloat64(h.a.metrics.unknown); got != 1 {
		t.Errorf("unknown group alerts %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.a.metrics.webhook.WithLabelValues("401")); got != 3 {
		t.Errorf("401 answers counted %v, want 3", got)
	}
}

func TestAuthIsRequiredUnlessWaived(t *testing.T) {
	if err := CheckAuth(config.Actuator{}); err == nil || !strings.Contains(err.Error(), "insecure_no_auth") {
		t.Errorf("no token and no waiver: %v", err)
	}
	h := newHarness(t, "", "")
	cfg := *h.cfg
	cfg.Actuator.BearerToken, cfg.Actuator.InsecureNoAuth = "", true
	if err := h.a.Reload(&cfg); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.post(notification("gk", alert("web", ScaleOut, "4", "a")), ""); code != 200 {
		t.Errorf("insecure_no_auth: status %d without a token, want 200", code)
	}
}

func TestScaleThroughAS(t *testing.T) {
	h := newHarness(t, "", "")
	code, ans := h.deliver(notification("gk1", alert("web", ScaleOut, "9", "a")))
	if code != 200 || outcomes(ans) != "web/scale_out:applied:6" {
		t.Fatalf("scale-out: %d %s (3 + 100%% of 3 = 6)", code, outcomes(ans))
	}
	if d, _ := h.cloud.Desired("asg-web"); d != 6 {
		t.Fatalf("AS desired %d, want 6", d)
	}
	// Redelivery of the same notification: the step limit stopped it short
	// of 9, so it may continue, but only after the cooldown.
	_, ans = h.deliver(notification("gk1", alert("web", ScaleOut, "9", "a")))
	if outcomes(ans) != "web/scale_out:refused:6" {
		t.Fatalf("redelivery: %s", outcomes(ans))
	}
	// A new notification inside the cooldown is refused.
	h.clock.Advance(time.Minute)
	_, ans = h.deliver(notification("gk1", alert("web", ScaleOut, "10", "a")))
	if outcomes(ans) != "web/scale_out:refused:6" {
		t.Fatalf("inside cooldown: %s", outcomes(ans))
	}
	// Scale-in waits for its own cooldown after the scale-out.
	h.clock.Advance(10 * time.Minute)
	_, ans = h.deliver(notification("gk2", alert("web", ScaleIn, "1", "b")))
	if outcomes(ans) != "web/scale_in:applied:4" {
		t.Fatalf("scale-in: %s (6 - max step 2 = 4)", outcomes(ans))
	}
	_, ups := h.cloud.Desired("asg-web")
	if len(ups) != 2 {
		t.Fatalf("%d writes, want 2: %+v", len(ups), ups)
	}
	recs := h.a.Decisions("web", 0)
	if len(recs) != 4 || recs[0].Outcome != OutcomeApplied || recs[0].Cloud == nil || len(recs[0].Guards) == 0 {
		t.Fatalf("decision log: %+v", recs)
	}
}

func TestStepLimitedNotificationContinuesAfterCooldown(t *testing.T) {
	h := newHarness(t, "", "")
	body := notification("gk", alert("web", ScaleOut, "9", "a"))
	steps := []struct {
		advance time.Duration
		want    string
	}{
		{0, "web/scale_out:applied:6"},               // 3 + 100% of 3
		{0, "web/scale_out:refused:6"},               // a redelivery: the continuation waits for the cooldown
		{5 * time.Minute, "web/scale_out:applied:9"}, // the repeat after the cooldown reaches the goal
		{0, "web/scale_out:duplicate:9"},             // from now on the same notification is a duplicate
		{time.Hour, "web/scale_out:duplicate:9"},
	}
	for i, s := range steps {
		h.clock.Advance(s.advance)
		if _, ans := h.deliver(body); outcomes(ans) != s.want {
			t.Fatalf("delivery %d: %s, want %s", i, outcomes(ans), s.want)
		}
	}
	if _, ups := h.cloud.Desired("asg-web"); len(ups) != 2 {
		t.Fatalf("%d writes, want 2", len(ups))
	}
}

func TestRestartInsideCooldownKeepsIt(t *testing.T) {
	for _, name := range []string{"local state", "cloud activity log only"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, "", "")
			if _, ans := h.deliver(notification("gk", alert("web", ScaleOut, "5", "a"))); outcomes(ans) != "web/scale_out:applied:5" {
				t.Fatal(outcomes(ans))
			}
			if name != "local state" {
				h.state = filepath.Join(h.t.TempDir(), "fresh.json") // a second replica, or a lost disk
			}
			h.clock.Advance(2 * time.Minute)
			h.start()
			_, ans := h.deliver(notification("gk", alert("web", ScaleOut, "8", "b")))
			if outcomes(ans) != "web/scale_out:refused:5" {
				t.Fatalf("after restart: %s", outcomes(ans))
			}
			h.clock.Advance(3 * time.Minute)
			if _, ans := h.deliver(notification("gk", alert("web", ScaleOut, "8", "b"))); outcomes(ans) != "web/scale_out:applied:8" {
				t.Fatalf("after the cooldown: %s", outcomes(ans))
			}
		})
	}
}

func TestDryRunCallsNoWriteAPI(t *testing.T) {
	for name, h := range map[string]*harness{
		"global": newHarness(t, "dry_run: true", ""),
		"group":  newHarness(t, "", "dry_run: true"),
	} {
		t.Run(name, func(t *testing.T) {
			code, ans := h.deliver(notification("gk", alert("web", ScaleOut, "6", "a")))
			if code != 200 || outcomes(ans) != "web/scale_out:dry_run:6" {
				t.Fatalf("%d %s", code, outcomes(ans))
			}
			if _, ups := h.cloud.Desired("asg-web"); len(ups) != 0 {
				t.Fatalf("dry-run wrote: %+v", ups)
			}
			if got := testutil.ToFloat64(h.a.metrics.decisions.WithLabelValues("web", "scale_out", "dry_run")); got != 1 {
				t.Errorf("dry_run decisions %v", got)
			}
		})
	}
}

func TestConcurrentDeliveriesActOnce(t *testing.T) {
	h := newHarness(t, "", "")
	body := notification("gk", alert("web", ScaleOut, "6", "a"), alert("web", ScaleOut, "5", "b"))
	var wg sync.WaitGroup
	codes := make(chan int, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := h.deliver(body)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("status %d", c)
		}
	}
	if _, ups := h.cloud.Desired("asg-web"); len(ups) != 1 || ups[0].To != 6 {
		t.Fatalf("writes %+v, want exactly one to 6", ups)
	}
	applied := testutil.ToFloat64(h.a.metrics.decisions.WithLabelValues("web", "scale_out", "applied"))
	dup := testutil.ToFloat64(h.a.metrics.decisions.WithLabelValues("web", "scale_out", "duplicate"))
	if applied != 1 || dup != 99 {
		t.Errorf("applied %v duplicate %v, want 1 and 99", applied, dup)
	}
}

func TestTransientCloudErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *hwcloudtest.Fake)
	}{
		{name: "429 on the state read", setup: func(f *hwcloudtest.Fake) { f.Fail("ShowScalingGroup", hwcloudtest.HTTPError(429)) }},
		{name: "500 on the write", setup: func(f *hwcloudtest.Fake) { f.Fail("UpdateScalingGroup", hwcloudtest.HTTPError(500)) }},
		{name: "the write applied but its answer was lost", setup: func(f *hwcloudtest.Fake) { f.Lose("UpdateScalingGroup", hwcloudtest.HTTPError(503)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "", "")
			tc.setup(h.cloud)
			body := notification("gk", alert("web", ScaleOut, "6", "a"))
			code, ans := h.deliver(body)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d (%s), want 503 so Alertmanager retries", code, ans.Error)
			}
			code, ans = h.deliver(body)
			if code != 200 {
				t.Fatalf("redelivery: %d %s", code, ans.Error)
			}
			d, ups := h.cloud.Desired("asg-web")
			if d != 6 || len(ups) != 1 {
				t.Fatalf("desired %d after %d writes, want 6 after exactly one", d, len(ups))
			}
		})
	}
	t.Run("a permanent cloud error is acknowledged as failed, not retried", func(t *testing.T) {
		h := newHarness(t, "", "")
		h.cloud.Fail("UpdateScalingGroup", hwcloudtest.HTTPError(403))
		code, ans := h.deliver(notification("gk", alert("web", ScaleOut, "6", "a")))
		if code != 200 || outcomes(ans) != "web/scale_out:failed:6" {
			t.Fatalf("%d %s", code, outcomes(ans))
		}
	})
}

func TestStateWriteFailures(t *testing.T) {
	tests := []struct {
		name        string
		alert       Alert
		wantRetried string
		wantWrites  int
	}{
		{name: "a key that cannot be written answers 503 and the retry of the same notification acts",
			alert: alert("web", ScaleOut, "6", "a"), wantRetried: "web/scale_out:applied:6", wantWrites: 1},
		{name: "a refusal that cannot be recorded answers 503 before anything changed",
			alert: alert("web", ScaleOut, "3", "a"), wantRetried: "web/scale_out:noop:3", wantWrites: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "", "")
			dir := filepath.Dir(h.state)
			if err := os.RemoveAll(dir); err != nil { // every state write now fails, even as root
				t.Fatal(err)
			}
			body := notification("gk", tc.alert)
			code, ans := h.deliver(body)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d (%s), want 503 so Alertmanager retries", code, ans.Error)
			}
			if _, ups := h.cloud.Desired("asg-web"); len(ups) != 0 {
				t.Fatalf("the cloud was written %d times although the state was not", len(ups))
			}
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			code, ans = h.deliver(body)
			if code != 200 || outcomes(ans) != tc.wantRetried {
				t.Fatalf("retry: %d %s, want 200 %s", code, outcomes(ans), tc.wantRetried)
			}
			if _, ups := h.cloud.Desired("asg-web"); len(ups) != tc.wantWrites {
				t.Errorf("%d cloud writes after the retry, want %d", len(ups), tc.wantWrites)
			}
		})
	}
}

func TestScaleThroughECS(t *testing.T) {
	h := newHarness(t, "", "")
	foreign := h.cloud.AddServer(hwcloud.Server{Tags: map[string]string{"flexus-group": "api"}, Created: t0.Add(-time.Hour)}) // not managed: never deleted
	code, ans := h.deliver(notification("gk", alert("api", ScaleOut, "4", "a")))
	if code != 200 || outcomes(ans) != "api/scale_out:applied:4" {
		t.Fatalf("%d %s %s", code, outcomes(ans), ans.Error)
	}
	creates := h.cloud.Creates()
	if len(creates) != 1 {
		t.Fatalf("%d creates", len(creates))
	}
	req := creates[0]
	if req.Spec.Count != 3 || req.Token == "" || req.Spec.Flavor != "x1.2u.4g" || !req.Spec.Spot {
		t.Fatalf("create request: count %d token %q flavor %s spot %v", req.Spec.Count, req.Token, req.Spec.Flavor, req.Spec.Spot)
	}
	var tags []string
	for _, tg := range req.Spec.Tags {
		tags = append(tags, tg.Key+"="+tg.Value)
	}
	if got := strings.Join(tags, ","); got != "flexus.managed=true,flexus-group=api,team=shop" {
		t.Errorf("server tags %s", got)
	}
	created := strings.Join(h.cloud.ServerIDs()[1:], ",")
	h.clock.Advance(6 * time.Minute)
	_, ans = h.deliver(notification("gk", alert("api", ScaleIn, "3", "b")))
	if outcomes(ans) != "api/scale_in:applied:3" {
		t.Fatalf("scale-in: %s", outcomes(ans))
	}
	if dels := h.cloud.Deletes(); len(dels) != 1 || len(dels[0]) != 1 || !strings.Contains(created, dels[0][0]) {
		t.Fatalf("deleted %v, want one of the newest managed servers %s", dels, created)
	}
	// Ask for everything but one: only managed servers may go, the foreign one stays.
	h.clock.Advance(6 * time.Minute)
	_, ans = h.deliver(notification("gk", alert("api", ScaleIn, "0", "c")))
	if outcomes(ans) != "api/scale_in:applied:1" {
		t.Fatalf("scale-in to min: %s", outcomes(ans))
	}
	if ids := h.cloud.ServerIDs(); len(ids) != 1 || ids[0] != foreign {
		t.Fatalf("servers left %v, want only the unmanaged %s", ids, foreign)
	}
}

func TestECSPartialSuccessIsReportedExactly(t *testing.T) {
	h := newHarness(t, "", "")
	h.cloud.AddServer(hwcloud.Server{Tags: map[string]string{"flexus-group": "api", "flexus.managed": "true"}, Created: t0.Add(-time.Hour)})
	h.cloud.FailSubJobs(2)
	body := notification("gk", alert("api", ScaleOut, "5", "a"))
	// The webhook is answered once ECS accepted the create; the job is
	// followed after the answer, and what it did is recorded then.
	if _, ans := h.deliver(body); outcomes(ans) != "api/scale_out:applied:5" {
		t.Fatalf("%s, want applied with 5 (accepted)", outcomes(ans))
	}
	rec := h.a.Decisions("api", 1)[0]
	if rec.Result == nil || !rec.Result.Partial || len(rec.Result.Added) != 2 || len(rec.Result.Failed) != 2 || rec.To != 3 || rec.Outcome != OutcomeFailed {
		t.Fatalf("the job's record: %s to %d, result %+v", rec.Outcome, rec.To, rec.Result)
	}
	// The key now says 3, short of its goal: the notification continues
	// after the cooldown instead of being a duplicate.
	h.clock.Advance(6 * time.Minute)
	if _, ans := h.deliver(body); outcomes(ans) != "api/scale_out:applied:5" {
		t.Fatalf("redelivery after the cooldown: %s, want the continuation to 5", outcomes(ans))
	}
}

func TestECSCreateRetryUsesTheSameClientToken(t *testing.T) {
	h := newHarness(t, "", "")
	h.cloud.AddServer(hwcloud.Server{Tags: map[string]string{"flexus-group": "api", "flexus.managed": "true"}, Created: t0.Add(-time.Hour)})
	h.cloud.Fail("CreateServers", hwcloudtest.HTTPError(500))
	body := notification("gk", alert("api", ScaleOut, "2", "a"))
	if code, _ := h.deliver(body); code != 503 {
		t.Fatalf("status %d, want 503", code)
	}
	if code, ans := h.deliver(body); code != 200 || outcomes(ans) != "api/scale_out:applied:2" {
		t.Fatalf("redelivery %d %s", code, outcomes(ans))
	}
	if len(h.cloud.ServerIDs()) != 2 {
		t.Fatalf("servers %v", h.cloud.ServerIDs())
	}
}

func TestDecisionsEndpoint(t *testing.T) {
	h := newHarness(t, "", "")
	h.deliver(notification("gk", alert("web", ScaleOut, "4", "a")))
	h.deliver(notification("gk", alert("api", ScaleOut, "2", "b")))
	get := func(q, token string) (int, []Record) {
		req, _ := http.NewRequest("GET", h.srv.URL+PathDecisions+q, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Decisions []Record }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Decisions
	}
	if code, _ := get("", ""); code != 401 {
		t.Errorf("without token: %d", code)
	}
	if _, recs := get("", testToken); len(recs) != 2 || recs[0].Group != "api" {
		t.Errorf("all: %+v", recs)
	}
	if _, recs := get("?group=web", testToken); len(recs) != 1 || recs[0].Group != "web" || recs[0].Key == "" {
		t.Errorf("filtered: %+v", recs)
	}
	if _, recs := get("?limit=1", testToken); len(recs) != 1 {
		t.Errorf("limit: %+v", recs)
	}
	// One replica on a state file: its own decisions are all there are.
	if code, _ := get("?scope=shared", testToken); code != http.StatusBadRequest {
		t.Errorf("scope=shared on the file store: %d, want 400", code)
	}
	if code, _ := get("?scope=everything", testToken); code != http.StatusBadRequest {
		t.Errorf("an unknown scope: %d, want 400", code)
	}
}

func TestMetricsLint(t *testing.T) {
	h := newHarness(t, "", "")
	h.deliver(notification("gk", alert("web", ScaleOut, "4", "a")))
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if err := testutil.GatherAndCompare(h.reg, strings.NewReader(`
# HELP flexus_actuator_desired_instances The last desired count the actuator set (0: none yet).
# TYPE flexus_actuator_desired_instances gauge
flexus_actuator_desired_instances{group="api"} 0
flexus_actuator_desired_instances{group="web"} 4
# HELP flexus_actuator_cooldown_remaining_seconds Cooldown left before the next action in this direction, from local and last-seen cloud state.
# TYPE flexus_actuator_cooldown_remaining_seconds gauge
flexus_actuator_cooldown_remaining_seconds{direction="in",group="api"} 0
flexus_actuator_cooldown_remaining_seconds{direction="in",group="web"} 600
flexus_actuator_cooldown_remaining_seconds{direction="out",group="api"} 0
flexus_actuator_cooldown_remaining_seconds{direction="out",group="web"} 300
`), "flexus_actuator_desired_instances", "flexus_actuator_cooldown_remaining_seconds"); err != nil {
		t.Error(err)
	}
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestDecisionIsLoggedAsJSON(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t, "", "")
	h.a.logger = slog.New(slog.NewJSONHandler(&buf, nil))
	h.deliver(notification("gk", alert("web", ScaleOut, "4", "a")))
	var line struct {
		Msg    string `json:"msg"`
		Record Record `json:"record"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if line.Msg != "decision" || line.Record.Outcome != OutcomeApplied || line.Record.Cloud == nil || line.Record.Cloud.Desired != 3 || len(line.Record.Guards) == 0 {
		t.Fatalf("logged %+v", line)
	}
}
