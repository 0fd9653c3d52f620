package config

import "testing"

// spotGroup is an ecs group of 0..10 servers with the given spot: block
// (and ecs extras), as a file would hold it.
func spotGroup(spot, ecsExtra, backendTag string) string {
	return `
cloud: {region: cn-north-4}
groups:
  - name: web
    discovery: ` + backendTag + `
    max_instances: 10
    ecs: {flavor: x1.2u.4g, image_id: img-1, vpc_id: vpc-1, subnet_id: sub-1` + ecsExtra + `}
` + spot
}

const ecsTag = "{tag: {key: flexus-group, value: web}}"

func TestSpotConfigKeepsABaseWithinTheGroup(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string // the error; empty when the file is valid
	}{
		{"a base within max_instances is valid", spotGroup("    spot: {on_demand_base: 2, max_price: \"0.05\"}", "", ecsTag), ""},
		{"a base of max_instances is valid: spot only above it", spotGroup("    spot: {on_demand_base: 10}", "", ecsTag), ""},
		{"a negative base is refused", spotGroup("    spot: {on_demand_base: -1}", "", ecsTag),
			"groups[0].spot.on_demand_base: -1 is negative (line 8)"},
		{"a base above max_instances is refused", spotGroup("    spot: {on_demand_base: 11}", "", ecsTag),
			"groups[0].spot.on_demand_base: 11 is above max_instances 10: no server could ever be spot; lower it or remove spot: (line 8)"},
		{"a max price that is not a decimal is refused", spotGroup("    spot: {max_price: cheap}", "", ecsTag),
			`groups[0].spot.max_price: "cheap" is not a positive price per hour: write a decimal such as "0.05", or leave it empty to bid the on-demand price (line 8)`},
		{"a zero max price is refused", spotGroup("    spot: {max_price: \"0\"}", "", ecsTag),
			`groups[0].spot.max_price: "0" is not a positive price per hour: write a decimal such as "0.05", or leave it empty to bid the on-demand price (line 8)`},
		{"a zero check interval is refused", spotGroup("    spot: {check_interval: 0s}", "", ecsTag),
			"groups[0].spot.check_interval: 0s must be positive, e.g. 30s (line 8)"},
		{"spot on an Auto Scaling group is refused", spotGroup("    spot: {on_demand_base: 1}", "", "{as_group_id: asg-1}"),
			"groups[0].spot: needs backend ecs: an Auto Scaling group's market type is set in its AS configuration, not by flexus (line 8)"},
		{"ecs.spot with a spot: block is refused", spotGroup("    spot: {on_demand_base: 1}", ", spot: true", ecsTag),
			"groups[0].ecs.spot: true makes every server spot, while spot: keeps an on-demand base: remove ecs.spot (spot.on_demand_base: 0 is every server on spot) (line 7)"},
		{"an unknown key under spot is refused", spotGroup("    spot: {on_demand: 1}", "", ecsTag),
			"groups[0].spot.on_demand: unknown field (known: on_demand_base, max_price, check_interval) (line 8)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("error\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

func TestSpotBaseAndDefaults(t *testing.T) {
	tests := []struct {
		name     string
		spot     string
		ecsExtra string
		base     int
		spotOn   bool
	}{
		{"no spot: every server on demand", "", "", 0, false},
		{"ecs.spot: true alone: every server on spot", "", ", spot: true", 0, true},
		{"spot: keeps its on-demand base", "    spot: {on_demand_base: 3}", "", 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(spotGroup(tc.spot, tc.ecsExtra, ecsTag)))
			if err != nil {
				t.Fatal(err)
			}
			g := &c.Groups[0]
			if base, on := g.SpotBase(); base != tc.base || on != tc.spotOn {
				t.Fatalf("SpotBase() = %d, %v; want %d, %v", base, on, tc.base, tc.spotOn)
			}
			if g.Spot != nil && g.Spot.CheckInterval != DefaultSpotCheckInterval {
				t.Fatalf("check_interval defaults to %s, want %s", g.Spot.CheckInterval, DefaultSpotCheckInterval)
			}
		})
	}
}
