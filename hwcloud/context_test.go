package hwcloud_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// Cancelling a call's context (shutdown) abandons the request in flight:
// against a cloud that answers only after a minute, a call cancelled once its
// request has arrived returns the context's error instead of waiting for the
// answer or the client's timeout.
func TestCancelledContextAbandonsTheCallInFlight(t *testing.T) {
	cfg := simcloudtest.Config()
	cfg.Faults = map[string]simcloud.Fault{"*": {Latency: model.Duration(time.Minute)}}
	sim, err := simcloud.NewServer(cfg, clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan struct{}, 1)
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cc := hwcloud.Config{Endpoint: srv.URL, Timeout: 5 * time.Minute}
	if err := cc.Resolve(func(k string) string {
		return map[string]string{hwcloud.EnvAK: simcloudtest.AccessKey, hwcloud.EnvSK: simcloudtest.SecretKey, hwcloud.EnvProjectID: simcloudtest.ProjectID}[k]
	}); err != nil {
		t.Fatal(err)
	}
	cl, err := hwcloud.New(cc, prometheus.NewRegistry(), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(ctx context.Context) error{
		"show the AS group": func(ctx context.Context) error {
			_, err := cl.AS.Group(ctx, "8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f")
			return err
		},
		"list tagged servers": func(ctx context.Context) error {
			_, err := cl.ECS.Tagged(ctx, "flexus-group", "web")
			return err
		},
		"read series": func(ctx context.Context) error {
			_, err := cl.CES.Series(ctx, []hwcloud.Metric{{Namespace: "SYS.ECS", Name: "cpu_util"}}, "1", time.Now().Add(-time.Hour), time.Now())
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- call(ctx) }()
			<-arrived
			cancel()
			err := <-done
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
			if !hwcloud.Retryable(err) {
				t.Fatalf("a cancelled call is not transient: %v", err)
			}
		})
	}
}
