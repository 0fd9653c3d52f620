package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

// `flexus discover` against simcloud prints each group's instances and
// devices, and exits 0: it only reads.
func TestDiscoverCommand(t *testing.T) {
	// The command reads the wall clock: the world has lived the last ten minutes of it.
	clk := clock.NewFake(time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Minute))
	env := simcloudtest.Start(t, simcloudtest.Config(), clk)
	clk.Advance(10 * time.Minute)
	file := filepath.Join(t.TempDir(), "flexus.yml")
	cfg := fmt.Sprintf(`cloud: {endpoint: %s}
groups:
  - name: gpu-pool
    discovery: {as_group_id: 8f6a1e0c-5b2d-4c1e-9a7f-0d3b2c1a4e5f}
    min_instances: 1
    max_instances: 10
    signals:
      gpu: {scale_out: 0.8, scale_in: 0.3, weight: 0.0}
`, env.URL)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		return map[string]string{hwcloud.EnvAK: simcloudtest.AccessKey, hwcloud.EnvSK: simcloudtest.SecretKey, hwcloud.EnvProjectID: simcloudtest.ProjectID}[k]
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"discover", "--config.file=" + file}, &stdout, &stderr, getenv); code != 0 {
		t.Fatalf("exit %d\nstderr: %s", code, stderr.String())
	}
	for _, want := range []string{"group gpu-pool: 2 instances", "pi2.2xlarge.4  INSERVICE", "gpu 0000:00:0d.0", "metric AGT.ECS mem_usedPercent: 2 of 2 instances (data)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}
