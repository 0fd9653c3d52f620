package collector

import (
	"maps"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/config"
)

// build turns the collector's state into the snapshot served until the next
// collection. A series is published only while its newest datapoint is younger
// than stale_after, so stale data disappears instead of freezing.
func (c *Collector) build(now time.Time) *Snapshot {
	b := newBuilder()
	v := cycleView{now: now, staleAfter: c.cfg.Exporter.StaleAfter, points: c.samples}
	start := time.Now()
	scored := true
	for _, name := range c.groupNames() {
		scored = c.buildGroup(b, c.groups[name], v) && scored
	}
	c.record(SourceScoring, time.Since(start), scored, now)
	c.publishCollection(b)
	c.costs.publishLookup(b)
	return b.snap
}

// buildEarly is the snapshot a first collection serves while it is still
// reading the rest: members, the Cloud Eye series in points (CPU and memory)
// and the signals they make, and the collection's health so far. Nothing is
// scored, so the scorers and the advisor's history see each cycle once.
func (c *Collector) buildEarly(now time.Time, points map[seriesKey]point) *Snapshot {
	b := newBuilder()
	v := cycleView{now: now, staleAfter: c.cfg.Exporter.StaleAfter, points: points}
	d := c.descs
	for _, name := range c.groupNames() {
		st := c.groups[name]
		b.publishMembers(d, &st.cfg, st.members, st.discovered, c.cfg.Exporter.InstanceTagLabels, now)
		c.mu.Lock()
		sigs := b.publishCloudEye(d, &st.cfg, st.members.instances, c.devicesOf, v)
		c.mu.Unlock()
		b.publishSignals(d, name, sigs, v)
	}
	c.publishCollection(b)
	return b.snap
}

// buildGroup is one group's part of the cycle: every source publishes its
// series and hands back the signals it stands for, the signals are scored, the
// advisor's history records them, and the computed series are published. It
// reports whether the group had a scorer.
func (c *Collector) buildGroup(b *builder, st *groupState, v cycleView) bool {
	d, g, name := c.descs, &st.cfg, st.cfg.Name

	// Sources.
	state := b.publishMembers(d, g, st.members, st.discovered, c.cfg.Exporter.InstanceTagLabels, v.now)
	c.mu.Lock() // the device cache is shared with the collection's goroutines
	sigs := b.publishCloudEye(d, g, st.members.instances, c.devicesOf, v)
	c.mu.Unlock()
	if p, ok := b.publishQueue(d, name, g.Queue, st.queue, st.queueOK, v); ok {
		sigs[config.SignalQueue] = p
	}
	if st.elb != nil {
		maps.Copy(sigs, elbSignals(st.elb, v))
	} else {
		maps.Copy(sigs, httpSignals(st.rt, st.er, st.rtOK, st.erOK, v))
	}
	b.publishSignals(d, name, sigs, v)
	arrivals, arrivalsOK := b.publishRequestRate(d, name, st.arrivals, st.arrivalsOK, v)
	b.publishConfigured(d, g, &st.boots)

	// Scoring, then the advisor's history of what was scored. Without a scorer
	// (its parameters were refused) rules still get the configured reference lines.
	scored := st.scorer != nil
	if scored {
		res := st.evaluate(v.now, sigs, arrivals, arrivalsOK, state)
		c.history.record(v.now, name, sigs, state.Current, state.Desired, settingsOf(st.params))
		b.publishComputed(d, name, g, st.params, res)
	} else {
		b.publishThresholds(d, name, g)
	}
	c.costs.publish(b, v.now, costUsageOf(st, state.Current, sigs, v))

	// Counts itself, hence the +1.
	b.group(d.exportedSeries, float64(b.snap.series[name]+1), name)
	return scored
}

// publishCollection publishes the collection's own health: the Cloud Eye
// budget wait, and each source's duration, success and last success.
func (c *Collector) publishCollection(b *builder) {
	d := c.descs
	c.mu.Lock()
	b.add(d.budgetWait, prometheus.CounterValue, c.budgetWait.Seconds())
	c.mu.Unlock()
	names := make([]string, 0, len(c.sources))
	for s := range c.sources {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		src := c.sources[s]
		ok, last := 0.0, 0.0
		if src.ok {
			ok = 1
		}
		if !src.lastSuccess.IsZero() {
			last = float64(src.lastSuccess.UnixMilli()) / 1e3
		}
		b.add(d.duration, prometheus.GaugeValue, src.duration.Seconds(), s)
		b.add(d.success, prometheus.GaugeValue, ok, s)
		b.add(d.lastSuccess, prometheus.GaugeValue, last, s)
	}
}
