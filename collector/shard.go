package collector

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/flexus-autoscaler/flexus/config"
)

// Shard is the share of the groups one of Count exporter replicas collects
// (--exporter.shard=Index/Count). A group belongs to the shard Prometheus's
// hashmod relabelling gives its name, so a scrape config can route by the
// same rule. The zero Shard collects every group.
type Shard struct{ Index, Count uint64 }

// ParseShard reads "I/N", 0 <= I < N; "" is every group.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	i, n, ok := strings.Cut(s, "/")
	idx, err1 := strconv.ParseUint(i, 10, 64)
	cnt, err2 := strconv.ParseUint(n, 10, 64)
	if !ok || err1 != nil || err2 != nil || cnt == 0 || idx >= cnt {
		return Shard{}, fmt.Errorf("exporter: --exporter.shard=%q: use I/N with 0 <= I < N, e.g. 0/2 and 1/2 for two exporters", s)
	}
	return Shard{Index: idx, Count: cnt}, nil
}

// Owns reports whether the group named name is this shard's: the last 8
// bytes of md5(name), big-endian, modulo Count (relabel's HashMod).
func (s Shard) Owns(name string) bool {
	if s.Count <= 1 {
		return true
	}
	sum := md5.Sum([]byte(name))
	return binary.BigEndian.Uint64(sum[8:])%s.Count == s.Index
}

// selectGroups keeps the shard's groups of cfg.
func (s Shard) selectGroups(cfg *config.Config) {
	if s.Count <= 1 {
		return
	}
	kept := cfg.Groups[:0:0]
	for _, g := range cfg.Groups {
		if s.Owns(g.Name) {
			kept = append(kept, g)
		}
	}
	cfg.Groups = kept
}
