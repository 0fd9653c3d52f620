package actuator

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// simGroups are the actuator's view of simcloudtest.Config()'s two groups.
const simGroups = `
groups:
  - name: gpu-pool
    discovery: {as_group_id: 8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f}
    min_instances: 1
    max_instances: 8
    scaling: {cooldown_out: 5m, cooldown_in: 10m, max_step_out: 3, max_step_in: 2, scale_in_stabilization: 1m, %s}
  - name: web
    discovery: {tag: {key: flexus-group, value: web}}
    min_instances: 1
    max_instances: 6
    scaling: {cooldown_out: 5m, cooldown_in: 5m, max_step_out: 3, max_step_out_percent: 200, max_step_in: 2, max_step_in_percent: 100, scale_in_stabilization: 1m, boot_time: 45s}
    ecs: {flavor: x1.2u.4g, image_id: img-flexus, vpc_id: vpc-1, subnet_id: subnet-1, security_group_id: sg-1, termination_policy: newest}
`

// simHarness is the actuator, live, against simcloud through the real SDK.
type simHarness struct {
	*harness
	env *simcloudtest.Env
}

func newSimHarness(t testing.TB, actuatorExtra, gpuScaling string) *simHarness {
	t.Helper()
	c := clock.NewFake(t0)
	env := simcloudtest.Start(t, simcloudtest.Config(), c)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms, timeout: 2s}
actuator: {bearer_token: %s, %s}
`, env.URL, simcloudtest.ProjectID, testToken, actuatorExtra) + fmt.Sprintf(simGroups, gpuScaling)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
	h := &harness{t: t, clock: c, cfg: cfg, state: filepath.Join(t.TempDir(), "state.json")}
	h.newScalers = func(reg prometheus.Registerer) (Scalers, error) { return simScalers(cfg, c, reg) }
	sh := &simHarness{harness: h, env: env}
	sh.start()
	t.Cleanup(func() { h.srv.Close() })
	return sh
}

// simScalers builds the scalers `flexus actuator` builds, over hwcloud.New
// against simcloud; ECS job polling advances the fake clock instead of sleeping.
func simScalers(cfg *config.Config, clk *clock.Fake, reg prometheus.Registerer) (Scalers, error) {
	clients, err := hwcloud.New(cfg.Cloud, reg, promslog.NewNopLogger())
	if err != nil {
		return nil, err
	}
	scalers := ScalersFor(clients)
	scalers[config.BackendECS].(*ECSScaler).Sleep = func(_ context.Context, d time.Duration) error { clk.Advance(d); return nil }
	return scalers, nil
}

// calls counts simcloud's answered requests of one API.
func (h *simHarness) calls(api string) int { return h.count(api, false) }

// okCalls counts only the requests simcloud answered 2xx: the writes that took effect.
func (h *simHarness) okCalls(api string) int { return h.count(api, true) }

func (h *simHarness) count(api string, okOnly bool) int {
	h.t.Helper()
	mfs, err := h.env.Server.Registry().Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "flexus_simcloud_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			apiOK, codeOK := false, !okOnly
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" && l.GetValue() == api {
					apiOK = true
				}
				if l.GetName() == "code" && len(l.GetValue()) == 3 && l.GetValue()[0] == '2' {
					codeOK = true
				}
			}
			if apiOK && codeOK {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return int(n)
}

func (h *simHarness) writes() int {
	return h.calls("UpdateScalingGroup") + h.calls("CreateServers") + h.calls("DeleteServers")
}

func (h *simHarness) desired(group string) int {
	h.t.Helper()
	g, err := h.env.World.Group(group)
	if err != nil {
		h.t.Fatal(err)
	}
	return g.Desired
}

func (h *simHarness) fault(api string, f simcloud.Fault) {
	h.t.Helper()
	if err := h.env.Server.SetFault(api, f); err != nil {
		h.t.Fatal(err)
	}
}

func TestSimcloudASScaling(t *testing.T) {
	h := newSimHarness(t, "", "")
	steps := []struct {
		name    string
		advance time.Duration
		alert   Alert
		want    string
		desired int
	}{
		{name: "scale-out limited by max step", alert: alert("gpu-pool", ScaleOut, "9", "a"), want: "gpu-pool/scale_out:applied:4", desired: 4},
		{name: "scale-out refused inside its cooldown", advance: time.Minute, alert: alert("gpu-pool", ScaleOut, "6", "b"), want: "gpu-pool/scale_out:refused:4", desired: 4},
		{name: "scale-out clamped to max after the cooldown", advance: 5 * time.Minute, alert: alert("gpu-pool", ScaleOut, "50", "c"), want: "gpu-pool/scale_out:applied:7", desired: 7},
		{name: "scale-in refused while the new instances boot", advance: 10 * time.Second, alert: alert("gpu-pool", ScaleIn, "1", "d"), want: "gpu-pool/scale_in:refused:7", desired: 7},
		{name: "scale-in refused inside the cooldown after the scale-out", advance: 5 * time.Minute, alert: alert("gpu-pool", ScaleIn, "1", "e"), want: "gpu-pool/scale_in:refused:7", desired: 7},
		{name: "scale-in limited by max step", advance: 6 * time.Minute, alert: alert("gpu-pool", ScaleIn, "1", "f"), want: "gpu-pool/scale_in:applied:5", desired: 5},
		{name: "scale-in refused inside its own cooldown", advance: 5 * time.Minute, alert: alert("gpu-pool", ScaleIn, "1", "g"), want: "gpu-pool/scale_in:refused:5", desired: 5},
		{name: "scale-in clamped to min", advance: 6 * time.Minute, alert: alert("gpu-pool", ScaleIn, "0", "h"), want: "gpu-pool/scale_in:applied:3", desired: 3},
	}
	for _, s := range steps {
		h.clock.Advance(s.advance)
		code, ans := h.deliver(notification("gk-"+s.alert.Fingerprint, s.alert))
		if code != 200 || outcomes(ans) != s.want {
			t.Fatalf("%s: %d %s %s, want %s", s.name, code, outcomes(ans), ans.Error, s.want)
		}
		if d := h.desired("gpu-pool"); d != s.desired {
			t.Fatalf("%s: simcloud desired %d, want %d", s.name, d, s.desired)
		}
	}
	if n := h.calls("UpdateScalingGroup"); n != 4 {
		t.Errorf("%d UpdateScalingGroup calls, want 4 (one per applied decision)", n)
	}
}

func TestSimcloudECSScaling(t *testing.T) {
	h := newSimHarness(t, "", "")
	start := h.env.World.Servers()
	code, ans := h.deliver(notification("gk", alert("web", ScaleOut, "5", "a")))
	if code != 200 || outcomes(ans) != "web/scale_out:applied:5" {
		t.Fatalf("scale-out: %d %s %s", code, outcomes(ans), ans.Error)
	}
	rec := h.a.Decisions("web", 1)[0]
	if rec.Result == nil || len(rec.Result.Added) != 3 || rec.Result.Partial || rec.Result.JobID == "" {
		t.Fatalf("result %+v", rec.Result)
	}
	managed := 0
	for _, in := range h.env.World.Servers() {
		for _, tg := range in.Tags {
			if tg.Key == config.ManagedTagKey && tg.Value == "true" {
				managed++
			}
		}
	}
	if managed != 3 || h.desired("web") != 5 {
		t.Fatalf("%d managed servers, desired %d", managed, h.desired("web"))
	}
	// Scale in below what the actuator created: the servers simcloud
	// started with carry no managed tag and are never deleted.
	h.clock.Advance(6 * time.Minute)
	if _, ans := h.deliver(notification("gk", alert("web", ScaleIn, "3", "b"))); outcomes(ans) != "web/scale_in:applied:3" {
		t.Fatalf("scale-in: %s %s", outcomes(ans), ans.Error)
	}
	h.clock.Advance(6 * time.Minute)
	if _, ans := h.deliver(notification("gk", alert("web", ScaleIn, "1", "c"))); outcomes(ans) != "web/scale_in:applied:2" {
		t.Fatalf("scale-in past the managed servers: %s %s", outcomes(ans), ans.Error)
	}
	rec = h.a.Decisions("web", 1)[0]
	if rec.Result == nil || !rec.Result.Partial || len(rec.Result.Removed) != 1 {
		t.Fatalf("partial scale-in must say so: %+v", rec.Result)
	}
	h.clock.Advance(time.Minute)
	left := map[string]bool{}
	for _, in := range h.env.World.Servers() {
		left[in.ID] = true
	}
	for _, in := range start {
		if !left[in.ID] {
			t.Errorf("unmanaged server %s was deleted", in.ID)
		}
	}
}

func TestSimcloudDryRunCallsNoWriteAPI(t *testing.T) {
	h := newSimHarness(t, "dry_run: true", "")
	for i, a := range []Alert{alert("gpu-pool", ScaleOut, "5", "a"), alert("web", ScaleOut, "4", "b"), alert("gpu-pool", ScaleIn, "1", "c")} {
		h.clock.Advance(10 * time.Minute)
		code, ans := h.deliver(notification(fmt.Sprint("gk", i), a))
		if code != 200 || ans.Decisions[0].Outcome != OutcomeDryRun {
			t.Fatalf("%d %s", code, outcomes(ans))
		}
	}
	if w := h.writes(); w != 0 {
		t.Fatalf("dry-run made %d write calls", w)
	}
	if h.calls("ShowScalingGroup") == 0 {
		t.Fatal("dry-run must still read fresh state")
	}
}

func TestSimcloudRestartInsideCooldown(t *testing.T) {
	h := newSimHarness(t, "", "")
	if _, ans := h.deliver(notification("gk", alert("gpu-pool", ScaleOut, "4", "a"))); outcomes(ans) != "gpu-pool/scale_out:applied:4" {
		t.Fatal(outcomes(ans))
	}
	h.clock.Advance(time.Minute)
	h.start()
	if _, ans := h.deliver(notification("gk", alert("gpu-pool", ScaleOut, "6", "b"))); outcomes(ans) != "gpu-pool/scale_out:refused:4" {
		t.Fatalf("after restart: %s", outcomes(ans))
	}
	// Lose the state file too: simcloud's activity log still holds the cooldown.
	h.state = filepath.Join(t.TempDir(), "other.json")
	h.start()
	if _, ans := h.deliver(notification("gk", alert("gpu-pool", ScaleOut, "6", "c"))); outcomes(ans) != "gpu-pool/scale_out:refused:4" {
		t.Fatalf("second replica: %s", outcomes(ans))
	}
}

func TestSimcloudConcurrentDeliveriesActOnce(t *testing.T) {
	h := newSimHarness(t, "", "")
	for _, a := range []Alert{alert("gpu-pool", ScaleOut, "4", "a"), alert("web", ScaleOut, "4", "b")} {
		body := notification("gk-"+a.Fingerprint, a)
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[int]int{}
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _ := h.deliver(body)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[200] != 100 {
			t.Fatalf("answers %v", codes)
		}
	}
	if n := h.calls("UpdateScalingGroup"); n != 1 {
		t.Errorf("%d UpdateScalingGroup calls for 100 deliveries, want 1", n)
	}
	if n := h.calls("CreateServers"); n != 1 {
		t.Errorf("%d CreateServers calls for 100 deliveries, want 1", n)
	}
	if h.desired("gpu-pool") != 4 || h.desired("web") != 4 {
		t.Errorf("desired gpu-pool %d web %d", h.desired("gpu-pool"), h.desired("web"))
	}
}

func TestSimcloudTransientErrors(t *testing.T) {
	tests := []struct {
		name  string
		api   string
		fault simcloud.Fault
		group string
	}{
		{name: "AS throttled on the write", api: "UpdateScalingGroup", fault: simcloud.Fault{ThrottleProbability: 1}, group: "gpu-pool"},
		{name: "AS 500 on the state read", api: "ShowScalingGroup", fault: simcloud.Fault{ErrorProbability: 1}, group: "gpu-pool"},
		{name: "AS timeout on the write", api: "UpdateScalingGroup", fault: simcloud.Fault{Latency: model.Duration(3 * time.Second)}, group: "gpu-pool"},
		{name: "ECS 500 on create", api: "CreateServers", fault: simcloud.Fault{ErrorProbability: 1}, group: "web"},
		{name: "ECS throttled listing", api: "ListServersDetails", fault: simcloud.Fault{ThrottleProbability: 1}, group: "web"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newSimHarness(t, "", "")
			before := h.desired(tc.group)
			h.fault(tc.api, tc.fault)
			body := notification("gk", alert(tc.group, ScaleOut, "4", "a"))
			code, ans := h.deliver(body)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("status %d (%s %s), want 503", code, outcomes(ans), ans.Error)
			}
			h.fault(tc.api, simcloud.Fault{})
			code, ans = h.deliver(body)
			if code != 200 {
				t.Fatalf("redelivery: %d %s", code, ans.Error)
			}
			// A timed-out write may have landed: the redelivery then sees it
			// and is refused by the cooldown the cloud's activity log shows.
			// Either way the group moved once, to 4.
			if d := h.desired(tc.group); d != 4 {
				t.Fatalf("desired %d (from %d), want 4; %s", d, before, outcomes(ans))
			}
			if n := h.okCalls("UpdateScalingGroup") + h.okCalls("CreateServers"); n != 1 {
				t.Fatalf("%d write calls took effect, want 1", n)
			}
			if again, ans := h.deliver(body); again != 200 || ans.Decisions[0].Outcome != OutcomeDuplicate && ans.Decisions[0].Outcome != OutcomeNoop && ans.Decisions[0].Outcome != OutcomeRefused {
				t.Fatalf("third delivery: %d %s", again, outcomes(ans))
			}
			if d := h.desired(tc.group); d != 4 {
				t.Fatalf("desired %d after a third delivery", d)
			}
		})
	}
}
