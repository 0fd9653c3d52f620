package world

import "time"

// SpotMarketPrice is the market price per hour of a spot server of flavor
// in the ECS group whose tag is among tags: the on-demand price times the
// group's spot.discount. ok is false when no ECS group carries those tags.
func (w *World) SpotMarketPrice(tags []Tag, flavor string) (price float64, ok bool) {
	f, err := LookupFlavor(flavor)
	if err != nil {
		return 0, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.groups {
		if g.cfg.ManagedBy != ManagedByECS {
			continue
		}
		for _, t := range tags {
			if t == g.cfg.Tag {
				return f.PricePerHour * g.cfg.Spot.Discount, true
			}
		}
	}
	return 0, false
}

// Reclaim takes a spot server back now, as the cloud does when its market
// price rises above the bid or its stock runs out: it is deleted at once
// and no longer listed. The random reclaims of Advance do the same.
func (w *World) Reclaim(id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range w.groups {
		for _, in := range g.live {
			if in.ID != id {
				continue
			}
			if !in.Spot {
				return invalidf("server %s is on demand: only spot servers are reclaimed", id)
			}
			w.reclaim(g, in, w.now)
			return nil
		}
	}
	return kindf(KindNotFound, "no live server %s", id)
}

// spotNext reports whether the group's next instance is spot: with spot
// enabled, once its live on-demand instances reach the on-demand base.
func (g *group) spotNext() bool {
	if !g.cfg.Spot.Enabled {
		return false
	}
	onDemand := 0
	for _, in := range g.live {
		if !in.Spot && in.Removing.IsZero() {
			onDemand++
		}
	}
	return onDemand >= g.cfg.Spot.OnDemandBase
}

// heldReplacements is how many reclaimed instances AS has not yet noticed
// at t (spot.replace_delay); older reclaims are forgotten.
func (g *group) heldReplacements(t time.Time) int {
	kept := g.reclaimedAt[:0]
	for _, at := range g.reclaimedAt {
		if t.Before(at.Add(g.cfg.Spot.ReplaceDelay)) {
			kept = append(kept, at)
		}
	}
	g.reclaimedAt = kept
	return len(kept)
}

// removalOrder is the order AS removes instances in: oldest first, and
// spot before on demand when the group keeps an on-demand base.
func (g *group) removalOrder() []*Instance {
	if !g.cfg.Spot.Enabled || g.cfg.Spot.OnDemandBase == 0 {
		return g.live
	}
	out := make([]*Instance, 0, len(g.live))
	for _, spot := range []bool{true, false} {
		for _, in := range g.live {
			if in.Spot == spot {
				out = append(out, in)
			}
		}
	}
	return out
}
