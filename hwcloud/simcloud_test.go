package hwcloud_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// simClients are the real clients over the SDK against simcloud.
func simClients(t *testing.T, env *simcloudtest.Env) *hwcloud.Clients {
	t.Helper()
	cc := hwcloud.Config{Endpoint: env.URL}
	if err := cc.Resolve(func(k string) string {
		return map[string]string{hwcloud.EnvAK: simcloudtest.AccessKey, hwcloud.EnvSK: simcloudtest.SecretKey, hwcloud.EnvProjectID: simcloudtest.ProjectID}[k]
	}); err != nil {
		t.Fatal(err)
	}
	cl, err := hwcloud.New(cc, prometheus.NewRegistry(), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Cloud Eye answers at most 3000 points a call and silently drops the
// older part of a longer window: Series sizes its calls so that every
// metric comes back with its whole window, as a warm start needs.
func TestSeriesReturnsTheWholeWindowPastThe3000PointRule(t *testing.T) {
	cfg := simcloudtest.Config()
	web := &cfg.World.Groups[1]
	web.MaxInstances, web.DesiredInstances = 100, 100
	clk := clock.NewFake(time.Now().UTC().Truncate(time.Hour))
	env := simcloudtest.Start(t, cfg, clk)
	clk.Advance(3 * time.Hour)
	ins, err := env.World.Instances("web")
	if err != nil {
		t.Fatal(err)
	}
	// 100 instances x 2 metrics over 30 raw minutes are 6000 points.
	var ms []hwcloud.Metric
	for _, in := range ins {
		for _, name := range []string{"cpu_util", "mem_usedPercent"} {
			ns := "SYS.ECS"
			if name == "mem_usedPercent" {
				ns = "AGT.ECS"
			}
			ms = append(ms, hwcloud.Metric{Namespace: ns, Name: name, Dims: []hwcloud.Dim{{Name: "instance_id", Value: in.ID}}})
		}
	}
	tests := []struct {
		name   string
		ce     hwcloud.CloudEye
		period string
		window time.Duration
		want   int
	}{
		{"200 metrics over 30 raw minutes", simClients(t, env).CES, "1", 30 * time.Minute, 30},
		{"the same through a budget of 500 metrics a call", hwcloud.Throttle(simClients(t, env).CES, hwcloud.Budget{MetricsPerCall: 500}), "1", 30 * time.Minute, 30},
		{"200 metrics over 2.5 hours at 300", simClients(t, env).CES, "300", 150 * time.Minute, 29},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			to := clk.Now()
			series, err := tc.ce.Series(context.Background(), ms, tc.period, to.Add(-tc.window), to)
			if err != nil {
				t.Fatal(err)
			}
			if len(series) != len(ms) {
				t.Fatalf("%d series, want one per metric (%d)", len(series), len(ms))
			}
			for _, s := range series {
				if len(s.Points) < tc.want-1 {
					t.Fatalf("%s of %s: %d points over %s, want about %d: history was lost", s.Name, s.Dims[0].Value, len(s.Points), tc.window, tc.want)
				}
			}
		})
	}
}
