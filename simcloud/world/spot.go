package world

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
