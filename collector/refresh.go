package collector

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/clock"
)

// Loop runs collections in the background, one after the other, and serves
// the last completed snapshot: a scrape never waits for Cloud Eye.
type Loop struct {
	c     *Collector
	clk   clock.Clock
	snap  atomic.Pointer[Snapshot]
	ready atomic.Bool
	// lastErr is why the collections so far failed, while none has succeeded.
	lastErr atomic.Pointer[error]
	// collected is closed by the first completed collection, failed or not.
	collected     chan struct{}
	collectedOnce sync.Once
	// textOnly drops each snapshot's metric objects once it is rendered: the
	// server serves the text, and tens of thousands of objects cost memory.
	textOnly bool
}

// NewLoop wraps a collector; register the Loop to serve its snapshots.
func NewLoop(c *Collector, clk clock.Clock) *Loop {
	return &Loop{c: c, clk: clk, collected: make(chan struct{})}
}

// Ready reports whether a collection has succeeded, every source answering.
// A finished one is not enough: its series may be empty because the cloud
// refused every call, and a probe that passes then hides a broken exporter.
func (l *Loop) Ready() bool { return l.ready.Load() }

// NotReadyReason says why no collection has succeeded yet.
func (l *Loop) NotReadyReason() string {
	if e := l.lastErr.Load(); e != nil {
		return "no collection has succeeded yet; the last one failed: " + (*e).Error()
	}
	return "the first collection has not completed"
}

// Collected is closed once a first collection has completed, failed or not.
func (l *Loop) Collected() <-chan struct{} { return l.collected }

// Step runs one collection at the clock's now and swaps its snapshot in.
func (l *Loop) Step(ctx context.Context) (Stats, error) {
	snap, stats, err := l.c.collect(ctx, l.clk.Now(), l.serveEarly)
	if snap != nil && l.textOnly && snap.text != nil {
		snap.metrics = nil
	}
	if snap != nil && ctx.Err() == nil {
		l.snap.Store(snap)
		l.collectedOnce.Do(func() { close(l.collected) })
		if err == nil {
			l.ready.Store(true)
		} else if !l.ready.Load() {
			l.lastErr.Store(&err)
		}
	}
	return stats, err
}

// serveEarly swaps in a first collection's early snapshot (CPU and memory)
// while nothing is served yet. It is no completed collection: readiness and
// Collected wait for the full one.
func (l *Loop) serveEarly(snap *Snapshot) {
	if l.textOnly {
		snap.metrics = nil
	}
	l.snap.CompareAndSwap(nil, snap)
}

// Run collects every exporter.interval until ctx ends. The next collection
// starts an interval after the previous one started, or at once when it ran
// longer or left device lookups for the next: collections never overlap.
func (l *Loop) Run(ctx context.Context) error {
	for {
		start := time.Now()
		stats, err := l.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		log := l.c.logger.With("duration", stats.Duration, "series", stats.Series, "cloudeye_calls", stats.CloudEyeCalls, "dimension_calls", stats.DimensionCalls)
		if err != nil {
			log.Warn("collection finished with errors: affected series age out", "err", err)
		} else {
			log.Debug("collection finished")
		}
		wait := l.c.interval() - time.Since(start)
		if wait <= 0 || l.c.Backlog() {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Snapshot is the last completed snapshot, nil before the first.
func (l *Loop) Snapshot() *Snapshot { return l.snap.Load() }

// Describe sends nothing: the snapshot's series change with the groups, so the
// Loop is an unchecked collector.
func (l *Loop) Describe(chan<- *prometheus.Desc) {}

// Collect serves the last completed snapshot from memory (nothing in a
// server's loop, which serves rendered text instead).
func (l *Loop) Collect(ch chan<- prometheus.Metric) {
	s := l.snap.Load()
	if s == nil {
		return
	}
	for _, m := range s.metrics {
		ch <- m
	}
}
