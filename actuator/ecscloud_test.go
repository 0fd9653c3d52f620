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

// ecsOnSimcloud is an ECSScaler over the real SDK against simcloud, whose
// web group may hold maxServers; job polling advances the fake clock.
func ecsOnSimcloud(t *testing.T, maxServers int, removeDelay time.Duration, maxPolls int) (*ECSScaler, *config.Group, *clock.Fake, *simcloudtest.Env) {
	t.Helper()
	cfg := simcloudtest.Config()
	cfg.World.Groups[1].MaxInstances = maxServers
	cfg.World.Groups[1].RemoveDelay = removeDelay
	clk := clock.NewFake(t0)
	env := simcloudtest.Start(t, cfg, clk)
	cc := hwcloud.Config{Endpoint: env.URL, MaxRetries: new(int)}
	if err := cc.Resolve(func(k string) string {
		return map[string]string{hwcloud.EnvAK: simcloudtest.AccessKey, hwcloud.EnvSK: simcloudtest.SecretKey, hwcloud.EnvProjectID: simcloudtest.ProjectID}[k]
	}); err != nil {
		t.Fatal(err)
	}
	clients, err := hwcloud.New(cc, nil, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	s := &ECSScaler{Client: clients.ECS, MaxPolls: maxPolls, Sleep: func(_ context.Context, d time.Duration) error { clk.Advance(d); return nil }}
	g := &config.Group{Name: "web", Discovery: config.Discovery{Tag: &config.Tag{Key: "flexus-group", Value: "web"}},
		ECS: &config.ECSTemplate{Flavor: "x1.2u.4g", ImageID: "img-flexus", VPCID: "vpc-1", SubnetID: "subnet-1",
			NamePrefix: "flexus-web", RootVolumeType: "GPSSD", RootVolumeSizeGB: 40, TerminationPolicy: "newest"}}
	g.Scaling.BootTime = 45 * time.Second
	return s, g, clk, env
}

func webServers(t *testing.T, env *simcloudtest.Env) int {
	t.Helper()
	g, err := env.World.Group("web")
	if err != nil {
		t.Fatal(err)
	}
	return g.Current
}

// Creating servers under ECS's rules: an X-Client-Token names one request
// (the same token with other parameters is Ecs.0122), is valid 8 hours
// (then Ecs.0124), and one call creates at most 100 servers.
func TestECSCreateFollowsTheCloudsIdempotencyAndLimits(t *testing.T) {
	const token = "0f0e0d0c-0b0a-4908-8706-050403020100"
	tests := []struct {
		name  string
		max   int
		steps func(t *testing.T, s *ECSScaler, g *config.Group, clk *clock.Fake, env *simcloudtest.Env)
	}{
		{"a retry that re-read the group and decided again is a new request", 10, func(t *testing.T, s *ECSScaler, g *config.Group, clk *clock.Fake, env *simcloudtest.Env) {
			ctx := context.Background()
			if _, err := s.SetDesired(ctx, g, CloudState{Desired: 2}, 4, token); err != nil {
				t.Fatal(err)
			}
			// The answer was lost; the redelivery reads 4 servers and now wants 5, under the same key.
			cur, err := s.State(ctx, g, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetDesired(ctx, g, cur, 5, token); err != nil {
				t.Fatalf("the re-decided create was refused: %v", err)
			}
			if n := webServers(t, env); n != 5 {
				t.Fatalf("%d servers, want 5", n)
			}
		}},
		{"the same request repeated creates nothing twice", 10, func(t *testing.T, s *ECSScaler, g *config.Group, clk *clock.Fake, env *simcloudtest.Env) {
			for range 2 {
				if _, err := s.SetDesired(context.Background(), g, CloudState{Desired: 2}, 4, token); err != nil {
					t.Fatal(err)
				}
			}
			if n := webServers(t, env); n != 4 {
				t.Fatalf("%d servers, want 4", n)
			}
		}},
		{"a request repeated after its token expired is sent with a fresh one", 10, func(t *testing.T, s *ECSScaler, g *config.Group, clk *clock.Fake, env *simcloudtest.Env) {
			ctx := context.Background()
			res, err := s.SetDesired(ctx, g, CloudState{Desired: 2}, 3, token)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.World.DeleteServers(res.Added); err != nil {
				t.Fatal(err)
			}
			clk.Advance(9 * time.Hour)
			if _, err := s.SetDesired(ctx, g, CloudState{Desired: 2}, 3, token); err != nil {
				t.Fatalf("after 9 hours: %v", err)
			}
			if n := webServers(t, env); n != 3 {
				t.Fatalf("%d servers, want 3", n)
			}
		}},
		{"a step above 100 servers is split into calls of at most 100", 250, func(t *testing.T, s *ECSScaler, g *config.Group, clk *clock.Fake, env *simcloudtest.Env) {
			res, err := s.SetDesired(context.Background(), g, CloudState{Desired: 2}, 152, token)
			if err != nil {
				t.Fatal(err)
			}
			if n := webServers(t, env); n != 152 || res.Desired != 152 || len(res.Added) != 150 {
				t.Fatalf("%d servers, result %d with %d added; want 152, 152, 150", n, res.Desired, len(res.Added))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, g, clk, env := ecsOnSimcloud(t, tc.max, 10*time.Second, 90)
			tc.steps(t, s, g, clk, env)
		})
	}
}

// ECS never lists deleted servers, so a scale-in's end is its delete job's
// end, which ShowJob reports: the cooldown runs from there even when the job
// outlived the polling bound.
func TestECSScaleInCooldownRunsFromTheDeleteJobsEnd(t *testing.T) {
	s, g, clk, _ := ecsOnSimcloud(t, 10, 3*time.Minute, 1)
	ctx := context.Background()
	// Only servers flexus created (managed) are deleted: create one first.
	if _, err := s.SetDesired(ctx, g, CloudState{Desired: 2}, 3, ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	requested := clk.Now()
	res, err := s.SetDesired(ctx, g, CloudState{Desired: 3}, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || !res.Ended.IsZero() {
		t.Fatalf("a 3-minute deletion polled once is still running: %+v", res)
	}
	clk.Advance(4 * time.Minute)
	cs, err := s.State(ctx, g, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := requested.Add(3 * time.Minute); !cs.LastInEnd.Equal(want) {
		t.Fatalf("scale-in ended %s, want the delete job's end %s", cs.LastInEnd, want)
	}
	if cs.Desired != 2 {
		t.Fatalf("%d servers counted, want 2", cs.Desired)
	}
}
