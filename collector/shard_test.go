package collector

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/flexus-autoscaler/flexus/config"
)

func TestShardParsing(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{in: "", want: Shard{}},
		{in: "0/2", want: Shard{0, 2}},
		{in: "2/3", want: Shard{2, 3}},
		{in: "2/2", wantErr: true},
		{in: "1/0", wantErr: true},
		{in: "1", wantErr: true},
		{in: "-1/2", wantErr: true},
		{in: "a/b", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseShard(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// hashmod is what Prometheus's relabelling computes for a group label.
func hashmod(t *testing.T, name string, n uint64) uint64 {
	cfg := &relabel.Config{SourceLabels: model.LabelNames{"group"}, Separator: ";", Regex: relabel.MustNewRegexp("(.*)"),
		Modulus: n, TargetLabel: "shard", Action: relabel.HashMod}
	lb := labels.NewBuilder(labels.FromStrings("group", name))
	relabel.ProcessBuilder(lb, cfg)
	v, err := strconv.ParseUint(lb.Get("shard"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestShardOwnsWhatPrometheusHashmodSays(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 7} {
		for i := 0; i < 200; i++ {
			name := fmt.Sprintf("group-%d", i)
			owners := 0
			for idx := uint64(0); idx < n; idx++ {
				if (Shard{Index: idx, Count: n}).Owns(name) {
					owners++
					if want := hashmod(t, name, n); n > 1 && idx != want {
						t.Fatalf("%s: shard %d/%d owns it, hashmod says %d", name, idx, n, want)
					}
				}
			}
			if owners != 1 {
				t.Fatalf("%s is owned by %d of %d shards, want exactly one", name, owners, n)
			}
		}
	}
}

func TestShardSelectsItsGroupsInOrder(t *testing.T) {
	cfg := &config.Config{}
	for i := 0; i < 20; i++ {
		cfg.Groups = append(cfg.Groups, config.Group{Name: fmt.Sprintf("g%d", i)})
	}
	seen := map[string]int{}
	for idx := uint64(0); idx < 3; idx++ {
		c := &config.Config{Groups: append([]config.Group(nil), cfg.Groups...)}
		Shard{Index: idx, Count: 3}.selectGroups(c)
		prev := -1
		for _, g := range c.Groups {
			seen[g.Name]++
			var n int
			fmt.Sscanf(g.Name, "g%d", &n)
			if n <= prev {
				t.Fatalf("shard %d reordered the groups", idx)
			}
			prev = n
		}
	}
	if len(seen) != 20 {
		t.Fatalf("%d of 20 groups collected across the shards", len(seen))
	}
}
