package backtest

import (
	"context"
	"math"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// memStore is the in-memory stand-in for Prometheus's TSDB: a handful of float
// series, each holding only the samples of the last `retention` milliseconds,
// so a month of virtual time costs what an hour does. It is what the PromQL
// engine queries and what scrapes and recording rules append to.
type memStore struct {
	retention int64
	byName    map[string][]*memSeries
	byHash    map[uint64][]*memSeries
	// sources remembers, per writer (a scrape, a recording rule), the series it
	// wrote last time, so a series that disappears gets a staleness marker as
	// Prometheus writes one.
	sources map[string]map[*memSeries]bool
}

type memSeries struct {
	lset    labels.Labels
	samples fSamples
}

func newMemStore(retentionMs int64) *memStore {
	return &memStore{
		retention: retentionMs,
		byName:    map[string][]*memSeries{},
		byHash:    map[uint64][]*memSeries{},
		sources:   map[string]map[*memSeries]bool{},
	}
}

func (s *memStore) get(lset labels.Labels) *memSeries {
	h := lset.Hash()
	for _, ms := range s.byHash[h] {
		if labels.Equal(ms.lset, lset) {
			return ms
		}
	}
	ms := &memSeries{lset: lset}
	s.byHash[h] = append(s.byHash[h], ms)
	name := lset.Get(labels.MetricName)
	s.byName[name] = append(s.byName[name], ms)
	return ms
}

// appendSample adds one sample; an out-of-order or duplicate timestamp replaces
// nothing and is dropped, as the TSDB would refuse it.
func (s *memStore) appendSample(ms *memSeries, t int64, v float64) {
	if n := len(ms.samples); n > 0 && ms.samples[n-1].t >= t {
		return
	}
	ms.samples = append(ms.samples, fSample{t: t, f: v})
}

// Sample is one value of one series.
type Sample struct {
	Labels labels.Labels
	Value  float64
}

// write appends the samples of one writer at t, and a staleness marker for
// every series that writer wrote last time and not now.
func (s *memStore) write(source string, t int64, samples []Sample) {
	prev := s.sources[source]
	cur := make(map[*memSeries]bool, len(samples))
	for _, smp := range samples {
		ms := s.get(smp.Labels)
		s.appendSample(ms, t, smp.Value)
		cur[ms] = true
	}
	for ms := range prev {
		if !cur[ms] {
			s.appendSample(ms, t, math.Float64frombits(value.StaleNaN))
		}
	}
	s.sources[source] = cur
}

// truncate drops samples older than now-retention and series left empty.
func (s *memStore) truncate(now int64) {
	mint := now - s.retention
	for h, list := range s.byHash {
		kept := list[:0]
		for _, ms := range list {
			i := sort.Search(len(ms.samples), func(i int) bool { return ms.samples[i].t >= mint })
			if i > 0 {
				// Copy to a fresh array: queries never outlive a step, but
				// shifting in place would still be a trap for the next reader.
				ms.samples = append(fSamples(nil), ms.samples[i:]...)
			}
			if len(ms.samples) > 0 {
				kept = append(kept, ms)
			}
		}
		if len(kept) == 0 {
			delete(s.byHash, h)
		} else {
			s.byHash[h] = kept
		}
	}
	for name, list := range s.byName {
		list = slices.DeleteFunc(list, func(ms *memSeries) bool { return len(ms.samples) == 0 })
		if len(list) == 0 {
			delete(s.byName, name)
		} else {
			s.byName[name] = list
		}
	}
	for src, set := range s.sources {
		for ms := range set {
			if len(ms.samples) == 0 {
				delete(set, ms)
			}
		}
		s.sources[src] = set
	}
}

// snapshot appends, for each selector, the series an instant query at t
// would read and their values, in a stable order: two equal snapshots mean
// equal inputs.
func (s *memStore) snapshot(sels []selector, t int64, buf []snapEntry) []snapEntry {
	from := t - lookbackDelta.Milliseconds()
	for _, sel := range sels {
		ms := sel.matchers
		var cands []*memSeries
		for _, m := range ms {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				cands = s.byName[m.Value]
			}
		}
		for _, c := range cands {
			n := len(c.samples)
			if n == 0 || !matchesAll(c.lset, ms) {
				continue
			}
			i := n - 1
			for i >= 0 && c.samples[i].t > t {
				i--
			}
			if i < 0 || c.samples[i].t <= from || value.IsStaleNaN(c.samples[i].f) {
				continue
			}
			e := snapEntry{s: c}
			if !sel.presenceOnly {
				e.v = math.Float64bits(c.samples[i].f)
			}
			buf = append(buf, e)
		}
		// A separator, so a series moving between selectors is a change.
		buf = append(buf, snapEntry{})
	}
	return buf
}

// samples counts the samples held, for the bounded-memory test.
func (s *memStore) samples() int {
	n := 0
	for _, list := range s.byHash {
		for _, ms := range list {
			n += len(ms.samples)
		}
	}
	return n
}

// Querier implements storage.Queryable.
func (s *memStore) Querier(mint, maxt int64) (storage.Querier, error) {
	return &memQuerier{s: s, mint: mint, maxt: maxt}, nil
}

type memQuerier struct {
	s          *memStore
	mint, maxt int64
}

func (q *memQuerier) Select(_ context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = hints.Start, hints.End
	}
	candidates := q.candidates(ms)
	var out []storage.Series
	for _, m := range candidates {
		if !matchesAll(m.lset, ms) {
			continue
		}
		lo := sort.Search(len(m.samples), func(i int) bool { return m.samples[i].t >= mint })
		hi := sort.Search(len(m.samples), func(i int) bool { return m.samples[i].t > maxt })
		if lo >= hi {
			continue
		}
		out = append(out, &sliceSeries{lset: m.lset, samples: m.samples[lo:hi]})
	}
	if sortSeries {
		sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	}
	return &sliceSeriesSet{series: out, i: -1}
}

func (q *memQuerier) candidates(ms []*labels.Matcher) []*memSeries {
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return q.s.byName[m.Value]
		}
	}
	var all []*memSeries
	for _, list := range q.s.byName {
		all = append(all, list...)
	}
	return all
}

func matchesAll(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (q *memQuerier) LabelValues(_ context.Context, name string, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	for _, m := range q.candidates(ms) {
		if matchesAll(m.lset, ms) {
			if v := m.lset.Get(name); v != "" {
				seen[v] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil, nil
}

func (q *memQuerier) LabelNames(_ context.Context, _ *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]bool{}
	for _, m := range q.candidates(ms) {
		if matchesAll(m.lset, ms) {
			m.lset.Range(func(l labels.Label) { seen[l.Name] = true })
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil, nil
}

func (q *memQuerier) Close() error { return nil }

type sliceSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *sliceSeriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *sliceSeriesSet) At() storage.Series                { return s.series[s.i] }
func (s *sliceSeriesSet) Err() error                        { return nil }
func (s *sliceSeriesSet) Warnings() annotations.Annotations { return nil }

// sliceSeries is a view of a series' samples at query time. The slice is not
// copied: nothing appends during a query, and truncation runs between steps.
type sliceSeries struct {
	lset    labels.Labels
	samples fSamples
}

func (s *sliceSeries) Labels() labels.Labels { return s.lset }

// Iterator reuses storage's list iterator (writing our own would need a
// method named Seek that go vet mistakes for io.Seeker's).
func (s *sliceSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if r, ok := it.(interface{ Reset(storage.Samples) }); ok {
		r.Reset(s.samples)
		return it
	}
	return storage.NewListSeriesIterator(s.samples)
}

// fSample is a float sample; its methods have pointer receivers so Get hands
// out a pointer into the slice without allocating.
type fSample struct {
	t int64
	f float64
}

func (s *fSample) T() int64                      { return s.t }
func (s *fSample) ST() int64                     { return 0 }
func (s *fSample) F() float64                    { return s.f }
func (s *fSample) H() *histogram.Histogram       { return nil }
func (s *fSample) FH() *histogram.FloatHistogram { return nil }
func (s *fSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s *fSample) Copy() chunks.Sample           { c := *s; return &c }

type fSamples []fSample

func (s fSamples) Get(i int) chunks.Sample { return &s[i] }
func (s fSamples) Len() int                { return len(s) }
