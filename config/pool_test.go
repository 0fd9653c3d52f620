package config

import (
	"testing"
	"time"
)

const poolGroup = `
cloud: {region: cn-north-4, project_id: p}
groups:
  - name: web
    discovery: {tag: {key: flexus-group, value: web}}
    max_instances: 8
    ecs: {flavor: x1.2u.4g, image_id: img, vpc_id: vpc, subnet_id: sub}
`

func TestWarmPoolDefaultsAndRules(t *testing.T) {
	cases := []struct {
		name, pool, backend string
		wantSize            int
		wantStart           time.Duration
		wantErr             string
	}{
		{name: "no pool is size 0", wantSize: 0},
		{name: "start_time defaults to 20s", pool: "{size: 2}", wantSize: 2, wantStart: 20 * time.Second},
		{name: "start_time as written", pool: "{size: 3, start_time: 15s}", wantSize: 3, wantStart: 15 * time.Second},
		{name: "a negative size is refused", pool: "{size: -1}",
			wantErr: "groups[0].warm_pool.size: -1 is negative: use 0 (no pool) or more (line 8)"},
		{name: "a pool above max_instances is refused", pool: "{size: 9}",
			wantErr: "groups[0].warm_pool.size: 9 is above max_instances 8: a pool larger than the group is never used up; lower it (line 8)"},
		{name: "a start no faster than the boot is refused", pool: "{size: 1, start_time: 60s}",
			wantErr: "groups[0].warm_pool.start_time: 1m0s is not below scaling.boot_time 1m0s: a pool would not shorten boots; measure the start and set it, or drop warm_pool (line 8)"},
		{name: "an AS group takes a pool too (AS keeps it)", pool: "{size: 1}", backend: "as", wantSize: 1, wantStart: 20 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := poolGroup
			if c.backend == "as" {
				y = `
cloud: {region: cn-north-4, project_id: p}
groups:
  - name: web
    discovery: {as_group_id: g1}
    max_instances: 8
`
			}
			if c.pool != "" {
				y += "    warm_pool: " + c.pool + "\n"
			}
			cfg, err := Parse([]byte(y))
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error:\n got %v\nwant %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := &cfg.Groups[0]
			if g.PoolSize() != c.wantSize {
				t.Errorf("size %d, want %d", g.PoolSize(), c.wantSize)
			}
			if g.WarmPool != nil && g.WarmPool.StartTime != c.wantStart {
				t.Errorf("start_time %s, want %s", g.WarmPool.StartTime, c.wantStart)
			}
		})
	}
}
