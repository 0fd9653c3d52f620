package actuator

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// AS as Huawei runs it: a scale-out is DOING until its instances join, a
// lifecycle hook holds booted instances in PENDING_WAIT, and the activity
// ends when they serve. The AS backend counts every joining instance as
// booting and starts the cooldown at the activity's real end.
func TestASStateFollowsActivitiesUntilInstancesJoin(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.World.Groups[0].HookWait = 2 * time.Minute // boot 45 s, then held 2 min
	clk := clock.NewFake(t0)
	env := simcloudtest.Start(t, cfg, clk)
	cc := hwcloud.Config{Endpoint: env.URL}
	if err := cc.Resolve(func(k string) string {
		return map[string]string{hwcloud.EnvAK: simcloudtest.AccessKey, hwcloud.EnvSK: simcloudtest.SecretKey, hwcloud.EnvProjectID: simcloudtest.ProjectID}[k]
	}); err != nil {
		t.Fatal(err)
	}
	clients, err := hwcloud.New(cc, nil, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	s := &ASScaler{Client: clients.AS}
	g := &config.Group{Name: "gpu-pool", Discovery: config.Discovery{ASGroupID: "8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f"}}
	g.Scaling.CooldownOut, g.Scaling.CooldownIn = 5*time.Minute, 5*time.Minute
	ctx := context.Background()
	requested := clk.Now()
	if _, err := s.SetDesired(ctx, g, CloudState{Desired: 2}, 4, ""); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		at          time.Duration // after the request
		wantBooting int
		wantDoing   bool
		wantOutEnd  time.Duration // 0: no finished scale-out yet
	}{
		{"booting instances are PENDING, the activity DOING", 30 * time.Second, 2, true, 0},
		{"instances held by the hook (PENDING_WAIT) still boot", 90 * time.Second, 2, true, 0},
		{"once they serve the activity ends, at that moment", 3 * time.Minute, 0, false, 2*time.Minute + 45*time.Second},
	}
	for _, st := range steps {
		clk.Set(requested.Add(st.at))
		cs, err := s.State(ctx, g, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if cs.Booting != st.wantBooting || (cs.Activity == ActivityOut) != st.wantDoing {
			t.Fatalf("%s: booting %d, activity %v; want %d, doing %v", st.name, cs.Booting, cs.Activity, st.wantBooting, st.wantDoing)
		}
		wantEnd := time.Time{}
		if st.wantOutEnd > 0 {
			wantEnd = requested.Add(st.wantOutEnd).Truncate(time.Second)
		}
		if !cs.LastOutEnd.Equal(wantEnd) {
			t.Fatalf("%s: scale-out ended %s, want %s", st.name, cs.LastOutEnd, wantEnd)
		}
	}
}
