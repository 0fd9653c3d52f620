package simcloud

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
)

func testEnv(k string) string {
	return map[string]string{
		EnvAccessKey: "TESTAK", EnvSecretKey: "test-sk", EnvProjectID: "0123456789abcdef0123456789abcdef",
	}[k]
}

func TestBadConfigsAreRefusedNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		file string
		want string
	}{
		{"unknown-key.yml", "field flavour not found"},
		{"bad-flavor.yml", `world: group "web": flavor: unknown flavor "x1.3u.5g"`},
		{"desired-above-max.yml", `world: group "gpu": desired_instances 4 must be within min_instances..max_instances (1..3)`},
		{"bad-fault.yml", `faults: unknown API "ListServers"`},
		{"missing-trace.yml", `world: group "web": demand.trace_file:`},
		{"bad-duration.yml", "a minute"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadFile("testdata/"+tc.file, testEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("err %v does not name the file", err)
			}
		})
	}
}

func TestCredentialsComeFromTheSDKEnvironment(t *testing.T) {
	cfg, err := LoadFile("testdata/trace.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AccessKey != "TESTAK" || cfg.SecretKey != "test-sk" || cfg.ProjectID != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("credentials not taken from HUAWEICLOUD_SDK_*: %+v", cfg)
	}
	if _, err := LoadFile("testdata/trace.yml", func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "project_id is empty") {
		t.Fatalf("without credentials: %v, want project_id is empty", err)
	}
}

func TestTraceFilesLoadRelativeToTheConfig(t *testing.T) {
	cfg, err := LoadFile("testdata/trace.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.World.Groups[0].Demand.Trace
	if tr == nil || len(tr.Values) != 4 || tr.Step != 5*time.Minute {
		t.Fatalf("trace not loaded: %+v", tr)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv, err := NewServer(cfg, clock.NewFake(start), promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	// The last tick, [10m, 10m10s), starts at the trace's maximum: 8 instances x 100 rps x 0.6.
	srv.World().Advance(start.Add(10*time.Minute + 10*time.Second))
	g := srv.World().Groups()[0]
	if g.Demand != 480 {
		t.Fatalf("demand at the trace's peak: %g, want 480", g.Demand)
	}
}

func TestDefaultConfigLoads(t *testing.T) {
	cfg, err := LoadFile("../deploy/simcloud/simcloud.yml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, g := range cfg.World.Groups {
		kinds[g.ManagedBy+"/"+g.Flavor[:2]] = g.Name
	}
	if kinds["as/pi"] == "" || kinds["ecs/x1"] == "" {
		t.Fatalf("the default world needs an AS group of GPU instances and an ECS group of Flexus X: %v", kinds)
	}
	if _, err := NewServer(cfg, clock.NewFake(time.Now()), promslog.NewNopLogger()); err != nil {
		t.Fatal(err)
	}
}
