package actuator

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	"pgregory.net/rapid"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// propWorld is one property run: simcloud, the actuator over it, and what
// the run has seen.
type propWorld struct {
	t       *rapid.T
	clock   *clock.Fake
	sim     *simcloud.Server
	cfg     *config.Config
	state   string
	a       *Actuator
	bodies  [][]byte
	applied map[string]int // key -> effective decisions
	last    map[string]time.Time
}

func (w *propWorld) start() {
	store, err := OpenStore(w.state, w.clock.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	scalers, err := simScalers(w.cfg, w.clock, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.a, err = New(Options{Config: w.cfg, Scalers: scalers, Store: NewFileStore(store), Clock: w.clock, Logger: promslog.NewNopLogger()})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *propWorld) deliver(body []byte) {
	m, err := DecodeWebhook(body)
	if err != nil {
		w.t.Fatal(err)
	}
	recs, err := w.a.Handle(context.Background(), m)
	w.a.WaitJobs()
	var te *TransientError
	if err != nil && !errors.As(err, &te) {
		w.t.Fatalf("non-transient error: %v", err)
	}
	for _, r := range recs {
		if r.Outcome != OutcomeApplied {
			continue
		}
		w.applied[r.Key]++
		if w.applied[r.Key] > 1 {
			w.t.Fatalf("key %s took effect %d times", r.Key, w.applied[r.Key])
		}
		g, _ := w.cfg.Group(r.Group)
		cd := g.Scaling.CooldownOut
		if r.Action == ScaleIn {
			cd = g.Scaling.CooldownIn
		}
		k := r.Group + "/" + string(r.Action)
		if prev, ok := w.last[k]; ok && r.Time.Sub(prev) < cd {
			w.t.Fatalf("%s acted at %s and again at %s, inside its cooldown %s", k, prev.Format(time.TimeOnly), r.Time.Format(time.TimeOnly), cd)
		}
		w.last[k] = r.Time
	}
}

func (w *propWorld) checkBounds() {
	for _, g := range w.cfg.Groups {
		st, err := w.sim.World().Group(map[string]string{"gpu-pool": "gpu-pool", "web": "web"}[g.Name])
		if err != nil {
			w.t.Fatal(err)
		}
		if st.Desired < g.MinInstances || st.Desired > g.MaxInstances {
			w.t.Fatalf("group %s desired %d outside %d..%d", g.Name, st.Desired, g.MinInstances, g.MaxInstances)
		}
	}
}

// TestPropertyExactlyOnceUnderGuards drives random sequences of
// notifications, redeliveries, resolved alerts, restarts, clock jumps and
// cloud faults through the actuator against simcloud, and checks: desired
// stays within min..max, no direction acts twice inside its cooldown, and no
// idempotency key takes effect twice.
func TestPropertyExactlyOnceUnderGuards(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		c := clock.NewFake(t0)
		srv, err := simcloud.NewServer(simcloudtest.Config(), c, promslog.NewNopLogger())
		if err != nil {
			rt.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		cfg, err := config.Parse([]byte(fmt.Sprintf(`
cloud: {endpoint: %s, project_id: %s, max_retries: 1, retry_base_delay: 1ms, timeout: 2s}
actuator: {insecure_no_auth: true}
`, hs.URL, simcloudtest.ProjectID) + fmt.Sprintf(simGroups, "")))
		if err != nil {
			rt.Fatal(err)
		}
		cfg.Cloud.AccessKey, cfg.Cloud.SecretKey = simcloudtest.AccessKey, simcloudtest.SecretKey
		w := &propWorld{t: rt, clock: c, sim: srv, cfg: cfg, state: filepath.Join(t.TempDir(), fmt.Sprintf("state-%d.json", time.Now().UnixNano())),
			applied: map[string]int{}, last: map[string]time.Time{}}
		w.start()

		fresh := func(rt *rapid.T) []byte {
			group := rapid.SampledFrom([]string{"gpu-pool", "web"}).Draw(rt, "group")
			action := rapid.SampledFrom([]Action{ScaleOut, ScaleIn}).Draw(rt, "action")
			a := alert(group, action, fmt.Sprint(rapid.IntRange(0, 12).Draw(rt, "target")), rapid.SampledFrom([]string{"f1", "f2", "f3"}).Draw(rt, "fp"))
			a.StartsAt = t0.Add(time.Duration(rapid.IntRange(0, 1).Draw(rt, "starts")) * time.Hour)
			return notification("gk-"+group+"-"+string(action), a)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"notify": func(rt *rapid.T) {
				b := fresh(rt)
				w.bodies = append(w.bodies, b)
				w.deliver(b)
			},
			"redeliver": func(rt *rapid.T) {
				if len(w.bodies) == 0 {
					rt.Skip("nothing delivered yet")
				}
				w.deliver(rapid.SampledFrom(w.bodies).Draw(rt, "body"))
			},
			"resolved": func(rt *rapid.T) {
				a := alert(rapid.SampledFrom([]string{"gpu-pool", "web"}).Draw(rt, "group"), ScaleOut, "9", "r")
				a.Status = "resolved"
				before := len(w.a.Decisions("", 0))
				w.deliver(notification("gk-r", a))
				if after := len(w.a.Decisions("", 0)); after != before {
					rt.Fatalf("a resolved notification led to a decision")
				}
			},
			"restart": func(rt *rapid.T) { w.start() },
			"advance": func(rt *rapid.T) {
				w.clock.Advance(time.Duration(rapid.IntRange(0, 12*60).Draw(rt, "seconds")) * time.Second)
			},
			"jump back": func(rt *rapid.T) {
				w.clock.Advance(-time.Duration(rapid.IntRange(1, 5*60).Draw(rt, "seconds")) * time.Second)
			},
			"fault": func(rt *rapid.T) {
				api := rapid.SampledFrom([]string{"UpdateScalingGroup", "CreateServers", "ShowScalingGroup", "ListServersDetails", "DeleteServers"}).Draw(rt, "api")
				if err := srv.SetFault(api, simcloud.Fault{ErrorProbability: 1}); err != nil {
					rt.Fatal(err)
				}
				w.deliver(fresh(rt))
				_ = srv.SetFault(api, simcloud.Fault{})
			},
			"": func(rt *rapid.T) { w.checkBounds() },
		})
	})
}
