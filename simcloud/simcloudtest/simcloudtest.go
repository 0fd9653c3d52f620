// Package simcloudtest starts simcloud in-process for tests and builds real
// SDK clients that talk to it, so any package can test its cloud calls
// against the emulator with a few lines:
//
//	env := simcloudtest.Start(t, simcloudtest.Config(), clock.NewFake(time.Now()))
//	cesClient := env.CES() // *ces.CesClient of huaweicloud-sdk-go-v3
package simcloudtest

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	ces "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1"
	cesv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2"
	ecs "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// Credentials of the test config. They are test values, not secrets.
const (
	AccessKey = "SIMCLOUDTESTACCESSKEY"
	SecretKey = "simcloud-test-secret-key-not-a-real-one"
	ProjectID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	Region    = "cn-north-4"
)

// Config is a small world for tests: the AS group "gpu-pool" of
// pi2.2xlarge.4 GPU instances (1..10, desired 2) and the ECS-tag group "web"
// of Flexus X x1.2u.4g instances (tag flexus-group=web, 0..10, 2 at start).
// Cloud Eye publishes 60 s raw datapoints with a 60 s delay.
func Config() simcloud.Config {
	return simcloud.Config{
		ProjectID: ProjectID,
		AccessKey: AccessKey,
		SecretKey: config.Secret(SecretKey),
		World: world.Config{
			Seed: 42,
			Groups: []world.GroupConfig{
				{
					Name: "gpu-pool", ID: "8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f", ManagedBy: world.ManagedByAS, Flavor: "pi2.2xlarge.4",
					MinInstances: 1, MaxInstances: 10, DesiredInstances: 2, CapacityPerInstance: 20,
					Queue:  world.QueueConfig{RedisKey: "queue:gpu-pool"},
					Demand: world.DemandConfig{Scenario: world.ScenarioConstant, PeakInstances: 2, Level: 0.5},
				},
				{
					Name: "web", ManagedBy: world.ManagedByECS, Flavor: "x1.2u.4g",
					MinInstances: 0, MaxInstances: 10, DesiredInstances: 2, CapacityPerInstance: 100,
					Demand: world.DemandConfig{Scenario: world.ScenarioConstant, PeakInstances: 2, Level: 0.5},
				},
			},
		},
	}
}

// Env is a running simcloud.
type Env struct {
	// URL is the endpoint for every service, http://127.0.0.1:PORT.
	URL    string
	Server *simcloud.Server
	World  *world.World
	Config simcloud.Config
}

// Start serves simcloud on a loopback port until the test ends. Its world
// starts at clk.Now() and follows clk: advance a clock.Fake to move it.
func Start(t testing.TB, cfg simcloud.Config, clk clock.Clock, opts ...simcloud.Option) *Env {
	t.Helper()
	srv, err := simcloud.NewServer(cfg, clk, promslog.NewNopLogger(), opts...)
	if err != nil {
		t.Fatalf("simcloud: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("simcloud listen: %v", err)
	}
	// Idle keep-alive connections are closed, as a real endpoint closes them.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	return &Env{URL: "http://" + l.Addr().String(), Server: srv, World: srv.World(), Config: srv.Config()}
}

// HcClient builds a real SDK HTTP client for the env's endpoint with the
// given keys and the env's project (no IAM lookups, no metadata service).
func (e *Env) HcClient(builder *core.HcHttpClientBuilder, ak, sk string) *core.HcHttpClient {
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(e.Config.ProjectID).SafeBuild()
	if err != nil {
		panic(err)
	}
	hc := sdkconfig.DefaultHttpConfig().WithTimeout(10 * time.Second)
	c, err := builder.WithEndpoints([]string{e.URL}).WithCredential(cred).WithHttpConfig(hc).SafeBuild()
	if err != nil {
		panic(err)
	}
	return c
}

// CES is a Cloud Eye v1 client signed with the env's keys.
func (e *Env) CES() *ces.CesClient {
	return ces.NewCesClient(e.HcClient(ces.CesClientBuilder(), e.Config.AccessKey, string(e.Config.SecretKey)))
}

// CESv2 is a Cloud Eye v2 client signed with the env's keys.
func (e *Env) CESv2() *cesv2.CesClient {
	return cesv2.NewCesClient(e.HcClient(cesv2.CesClientBuilder(), e.Config.AccessKey, string(e.Config.SecretKey)))
}

// AS is an Auto Scaling client signed with the env's keys.
func (e *Env) AS() *as.AsClient {
	return as.NewAsClient(e.HcClient(as.AsClientBuilder(), e.Config.AccessKey, string(e.Config.SecretKey)))
}

// ECS is an ECS client signed with the env's keys.
func (e *Env) ECS() *ecs.EcsClient {
	return ecs.NewEcsClient(e.HcClient(ecs.EcsClientBuilder(), e.Config.AccessKey, string(e.Config.SecretKey)))
}
