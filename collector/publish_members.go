package collector

import (
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// publishMembers publishes what discovery found — the counts, the bounds in
// force, every instance and the membership's age — and returns the group as
// scoring sees it. A group not yet discovered publishes nothing here; it is
// still scored, from its empty membership.
func (b *builder) publishMembers(d *descs, g *config.Group, m membership, discovered bool, tagKeys []string, now time.Time) scoring.GroupState {
	counts := map[string]int{}
	for _, in := range m.instances {
		counts[in.State]++
	}
	// The tighter of config and cloud wins: neither may be overstepped.
	lo, hi := g.MinInstances, g.MaxInstances
	if m.cloudMin >= 0 {
		lo = max(lo, m.cloudMin)
	}
	if m.cloudMax >= 0 {
		hi = min(hi, m.cloudMax)
	}
	desired := m.desired
	if desired < 0 {
		// Without the cloud's desired count, the members not on their way out stand for it.
		desired = len(m.instances) - counts[StateRemoving]
	}
	state := scoring.GroupState{Current: counts[StateInService], Desired: desired, Min: lo, Max: hi}
	if !discovered {
		return state
	}
	name := g.Name
	b.group(d.groupDesired, float64(desired), name)
	b.group(d.groupCurrent, float64(len(m.instances)), name)
	b.group(d.groupMin, float64(lo), name)
	b.group(d.groupMax, float64(hi), name)
	for _, s := range instanceStates() {
		b.group(d.groupInstances, float64(counts[s]), name, s)
	}
	// tag_<key> labels carry the server tags exporter.instance_tag_labels names.
	info := d.instanceInfoFor(tagKeys)
	for _, in := range m.instances {
		labels := []string{in.ID, in.Name, in.PrivateIP, in.Flavor, in.State}
		for _, k := range tagKeys {
			labels = append(labels, in.Tags[k])
		}
		b.group(info, 1, name, labels...)
	}
	b.group(d.discoveryLag, max(0, now.Sub(m.at)).Seconds(), name)
	return state
}
