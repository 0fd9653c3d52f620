package advisor

import (
	"maps"
	"math"
	"time"
)

// groupAdvice is what mode apply holds for one group on top of the config's values.
// A signal's band, and the weights as a whole, are each one unit: applied, limited and
// expired together, so that scale_out stays above scale_in and the weights keep their sum.
type groupAdvice struct {
	bands       map[Signal]appliedBand
	weights     *appliedWeights
	bandChanged map[Signal]time.Time // outlives the value: a lapsed value does not reset the limit
	weightsAt   time.Time
}

type appliedBand struct {
	value, base Band // base: the config's value when applied; an edit of it wins
	expires     time.Time
}

type appliedWeights struct {
	value, base map[Signal]float64
	expires     time.Time
}

// enabledSignals are the tuned signals the group has thresholds for, in Signals() order:
// the advisor proposes nothing for a disabled signal and gives it no weight. With no
// thresholds at all (a bare summary) every tuned signal counts.
func enabledSignals(current Settings) []Signal {
	var out []Signal
	for _, s := range Signals() {
		if _, ok := current.Thresholds[s]; ok {
			out = append(out, s)
		}
	}
	if len(current.Thresholds) == 0 {
		return Signals()
	}
	return out
}

// moved says whether to differs from from by at least minChange × scale.
func moved(from, to, scale, minChange float64) bool {
	return math.Abs(to-from) >= minChange*math.Abs(scale) && to != from
}

// apply turns an accepted proposal into applied values, one unit at a time: a unit
// changes only if it moves by min_change or more and its last change is at least
// min_change_interval old. A proposal that repeats the value in force renews it.
// The caller holds a.mu.
func (a *Advisor) apply(now time.Time, s Summary, proposed Settings) {
	cfg := a.cfg
	g := a.applied[s.Group]
	if g == nil {
		g = &groupAdvice{bands: map[Signal]appliedBand{}, bandChanged: map[Signal]time.Time{}}
		a.applied[s.Group] = g
	}
	base, ok := a.base[s.Group]
	if !ok {
		base = s.Current.clone()
		a.base[s.Group] = base
	}
	expires := now.Add(cfg.ExpireAfter)
	limited := func(last time.Time) bool { return !last.IsZero() && now.Sub(last) < cfg.MinChangeInterval }
	enabled := enabledSignals(s.Current)
	for _, sig := range enabled {
		cur, want := s.Current.Thresholds[sig], proposed.Thresholds[sig]
		e, live := g.bands[sig]
		switch {
		case !moved(cur.Out, want.Out, cur.Out, cfg.MinChange) && !moved(cur.In, want.In, cur.In, cfg.MinChange):
			if live {
				e.expires = expires
				g.bands[sig] = e
			}
			continue
		case limited(g.bandChanged[sig]):
			a.rejected.WithLabelValues(string(ReasonRateLimited)).Inc()
			a.logger.Info("advisor change held back: too soon after the last one", "group", s.Group, "signal", string(sig),
				"next_change_after", g.bandChanged[sig].Add(cfg.MinChangeInterval))
			continue
		}
		g.bands[sig] = appliedBand{value: want, base: base.Thresholds[sig], expires: expires}
		g.bandChanged[sig] = now
		a.logger.Info("advisor change applied", "group", s.Group, "signal", string(sig),
			"scale_out_old", cur.Out, "scale_out_new", want.Out, "scale_in_old", cur.In, "scale_in_new", want.In, "expires", expires)
		if want.Out != cur.Out {
			a.changes.WithLabelValues(s.Group, string(sig), "scale_out").Inc()
		}
		if want.In != cur.In {
			a.changes.WithLabelValues(s.Group, string(sig), "scale_in").Inc()
		}
	}

	total, shift := tunedWeightTotal(s.Current), 0.0
	for _, sig := range enabled {
		shift = math.Max(shift, math.Abs(proposed.Weights[sig]-s.Current.Weights[sig]))
	}
	switch {
	case shift == 0 || shift < cfg.MinChange*total:
		if g.weights != nil {
			g.weights.expires = expires
		}
		return
	case limited(g.weightsAt):
		a.rejected.WithLabelValues(string(ReasonRateLimited)).Inc()
		a.logger.Info("advisor weight change held back: too soon after the last one", "group", s.Group,
			"next_change_after", g.weightsAt.Add(cfg.MinChangeInterval))
		return
	}
	w := &appliedWeights{value: map[Signal]float64{}, base: map[Signal]float64{}, expires: expires}
	for _, sig := range enabled {
		w.value[sig], w.base[sig] = proposed.Weights[sig], base.Weights[sig]
		if old := s.Current.Weights[sig]; old != proposed.Weights[sig] {
			a.changes.WithLabelValues(s.Group, string(sig), "weight").Inc()
			a.logger.Info("advisor change applied", "group", s.Group, "signal", string(sig),
				"weight_old", old, "weight_new", proposed.Weights[sig], "expires", expires)
		}
	}
	g.weights, g.weightsAt = w, now
}

// Apply returns the settings in force for group, given base, the config's own values
// now: the applied values on top of base. An applied value lapses at its expiry, and
// is dropped at once when the operator changes the config's value under it (a reload
// wins over advice) or disables its signal. ok is false when nothing is applied.
func (a *Advisor) Apply(group string, now time.Time, base Settings) (Settings, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.base[group] = base.clone()
	g := a.applied[group]
	if a.cfg.Mode != ModeApply || g == nil {
		return base.clone(), false
	}
	for sig, e := range g.bands {
		cfgVal, on := base.Thresholds[sig]
		why := ""
		switch {
		case !on:
			why = "the signal is disabled in the config"
		case cfgVal != e.base:
			why = "the operator changed the config's value: it wins over advice"
		case !now.Before(e.expires):
			why = "the applied value expired: the config's value returns"
		default:
			continue
		}
		delete(g.bands, sig)
		a.logger.Info("advisor value dropped", "group", group, "signal", string(sig), "why", why,
			"scale_out_old", e.value.Out, "scale_out_new", cfgVal.Out, "scale_in_old", e.value.In, "scale_in_new", cfgVal.In)
	}
	if w := g.weights; w != nil {
		baseW := map[Signal]float64{}
		for _, sig := range enabledSignals(base) {
			baseW[sig] = base.Weights[sig]
		}
		why := ""
		switch {
		case !maps.Equal(baseW, w.base):
			why = "the operator changed the config's weights or signals: they win over advice"
		case !now.Before(w.expires):
			why = "the applied weights expired: the config's weights return"
		}
		if why != "" {
			g.weights = nil
			a.logger.Info("advisor weights dropped", "group", group, "why", why, "weights_old", w.value, "weights_new", baseW)
		}
	}
	return g.compose(base), len(g.bands) > 0 || g.weights != nil
}

func (g *groupAdvice) compose(base Settings) Settings {
	out := base.clone()
	if out.Thresholds == nil {
		out.Thresholds = map[Signal]Band{}
	}
	if out.Weights == nil {
		out.Weights = map[Signal]float64{}
	}
	for sig, e := range g.bands {
		out.Thresholds[sig] = e.value
	}
	if g.weights != nil {
		maps.Copy(out.Weights, g.weights.value)
	}
	return out
}

// Effective returns the settings mode apply holds for group over the config's values
// the exporter last reported, without expiring anything; false in every other mode,
// or when nothing is applied.
func (a *Advisor) Effective(group string) (Settings, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	g := a.applied[group]
	if a.cfg.Mode != ModeApply || g == nil || (len(g.bands) == 0 && g.weights == nil) {
		return Settings{}, false
	}
	return g.compose(a.base[group]), true
}
