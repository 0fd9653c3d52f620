// Package collector reads what the autoscaler watches — group membership from
// AS or ECS, per-instance CPU, memory, GPU and NPU metrics from Cloud Eye, queue
// depth from Redis or DMS, response time and error rate from the service — and
// turns one collection into a Snapshot that /metrics serves at once. The
// collection is a function of an explicit now (Collect); the refresh loop that
// runs it on a ticker is a thin wrapper (Loop).
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// Sources of flexus_collection_* self-metrics.
const (
	SourceDiscovery    = "discovery"
	SourceDimensions   = "dimensions"
	SourceCloudEye     = "cloudeye"
	SourceQueue        = "queue"
	SourceResponseTime = "response_time"
	SourceRequestRate  = "request_rate"
	SourceScoring      = "scoring"
)

// Options is what a Collector is built from.
type Options struct {
	Config  *config.Config
	Clients *hwcloud.Clients
	// HTTPClient reads response_time and request_rate endpoints; nil means a default client.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Advice, when set, gives the thresholds the advisor applies.
	Advice Advice
}

// Collector holds the state that spans collections: memberships, the
// newest datapoint of every series, the device-id cache and the scoring state.
type Collector struct {
	logger     *slog.Logger
	clients    *hwcloud.Clients
	httpClient *http.Client
	descs      *descs
	advice     Advice

	// cycle serialises collections; everything below is owned by the running one
	// unless noted.
	cycle   sync.Mutex
	cfg     *config.Config
	next    *config.Config // set by SetConfig, applied at the next collection; guarded by mu
	limiter *rate.Limiter
	groups  map[string]*groupState
	samples map[seriesKey]point
	sources map[string]*sourceState
	details map[string]hwcloud.Server // instance → flavour, address and tags, for AS members

	// mu guards devices, next, budgetWait and backlog, which goroutines of a collection touch.
	mu         sync.Mutex
	devices    map[string]map[string]map[string]string // instance → kind → hash → device id
	budgetWait time.Duration
	// backlog is set when device lookups were left for the next collection.
	backlog bool
	// published is set once a collection completed: later ones may spend more on device lookups.
	published bool

	history history
	costs   *costs
}

// groupState is one group's state across collections.
type groupState struct {
	cfg        config.Group
	members    membership
	discovered bool
	redis      *redisQueue
	http       *httpSource
	elb        *elbSource
	queue      point
	queueOK    bool
	// dmsChecked is set once ListMetrics showed the group's DMS series.
	dmsChecked bool
	rt, er     point
	rtOK, erOK bool
	// rate reads request_rate; arrivals is its newest rate, fed to the scorer.
	rate       *rateSource
	arrivals   point
	arrivalsOK bool
	scorer     *scoring.Group
	params     scoring.Params
	warmed     bool
	// boots times the group's new instances from joining to serving (boot.go).
	boots bootTimes
}

type sourceState struct {
	duration    time.Duration
	ok          bool
	lastSuccess time.Time
}

// New builds a Collector; it makes no call until the first Collect.
func New(o Options) (*Collector, error) {
	if o.Config == nil || o.Clients == nil {
		return nil, errors.New("collector: a config and cloud clients are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: httpTimeout}
	}
	c := &Collector{
		logger:     o.Logger,
		clients:    o.Clients,
		httpClient: o.HTTPClient,
		descs:      newDescs(),
		advice:     o.Advice,
		groups:     map[string]*groupState{},
		samples:    map[seriesKey]point{},
		sources:    map[string]*sourceState{},
		details:    map[string]hwcloud.Server{},
		devices:    map[string]map[string]map[string]string{},
	}
	c.costs = newCosts(o.Config.Pricing, o.Clients.Billing, o.Config.Cloud.Region, o.Logger, c.descs.register)
	c.applyConfig(o.Config)
	return c, nil
}

// SetConfig hands a new, validated config to the collector; it takes effect at
// the start of the next collection, so a running one is never reshaped.
func (c *Collector) SetConfig(cfg *config.Config) {
	c.mu.Lock()
	c.next = cfg
	c.mu.Unlock()
}

// applyConfig keeps the state of groups whose name survives, and rebuilds
// their queue and response-time clients only when their settings changed.
func (c *Collector) applyConfig(cfg *config.Config) {
	ce := cfg.CloudEye
	if c.limiter == nil {
		c.limiter = rate.NewLimiter(rate.Limit(ce.RequestsPerSecond), ce.Burst)
	} else {
		c.limiter.SetLimit(rate.Limit(ce.RequestsPerSecond))
		c.limiter.SetBurst(ce.Burst)
	}
	old := c.groups
	c.groups = make(map[string]*groupState, len(cfg.Groups))
	for _, g := range cfg.Groups {
		st, ok := old[g.Name]
		if !ok {
			st = &groupState{}
		}
		delete(old, g.Name)
		prev := st.cfg
		st.cfg = g
		if !reflect.DeepEqual(prev.Discovery, g.Discovery) {
			st.members, st.discovered = membership{}, false
		}
		if !reflect.DeepEqual(prev.Queue, g.Queue) {
			if st.redis != nil {
				st.redis.close()
				st.redis = nil
			}
			st.queueOK, st.dmsChecked = false, false
			if g.Queue != nil && g.Queue.Redis != nil {
				st.redis = newRedisQueue(*g.Queue.Redis)
			}
		}
		if !reflect.DeepEqual(prev.ResponseTime, g.ResponseTime) {
			st.http, st.elb, st.rtOK, st.erOK = nil, nil, false, false
			if elb, err := parseELB(g.ResponseTime); err != nil {
				c.logger.Error("response time source refused: the group has none", "group", g.Name, "err", err)
			} else if elb != nil {
				st.elb = elb
			} else if g.ResponseTime != nil {
				st.http = newHTTPSource(*g.ResponseTime, c.httpClient)
			}
		}
		if !reflect.DeepEqual(prev.RequestRate, g.RequestRate) {
			st.rate, st.arrivalsOK = nil, false
			if g.RequestRate != nil {
				st.rate = newRateSource(*g.RequestRate, c.httpClient)
			}
		}
		c.groups[g.Name] = st
	}
	for _, st := range old {
		if st.redis != nil {
			st.redis.close()
		}
	}
	c.cfg = cfg
	c.history.retain(cfg)
	if c.costs != nil {
		c.costs.setPricing(cfg.Pricing)
		c.costs.forget(c.groups)
	}
}

// Close releases the Redis connections. With a collection still running (an
// exit that did not wait for it) it does nothing: the process is ending.
func (c *Collector) Close() {
	if !c.cycle.TryLock() {
		return
	}
	defer c.cycle.Unlock()
	for _, st := range c.groups {
		if st.redis != nil {
			st.redis.close()
		}
	}
}

func (c *Collector) addBudgetWait(d time.Duration) {
	c.mu.Lock()
	c.budgetWait += d
	c.mu.Unlock()
}

// groupNames returns the configured groups in config order.
func (c *Collector) groupNames() []string {
	out := make([]string, 0, len(c.cfg.Groups))
	for _, g := range c.cfg.Groups {
		out = append(out, g.Name)
	}
	return out
}

// Stats describes one collection's cost, for logs and benchmarks.
type Stats struct {
	CloudEyeCalls, DimensionCalls, WarmStartCalls int
	Series                                        int
	Duration                                      time.Duration
	// FirstData is how long the collection took to hand out CPU and memory
	// data: less than Duration when a first snapshot went out early.
	FirstData time.Duration
}

// Collect runs one collection at now and returns the snapshot to serve. The
// snapshot is complete even when sources failed: their series go stale by
// age, and the joined error says what failed.
func (c *Collector) Collect(ctx context.Context, now time.Time) (*Snapshot, error) {
	snap, _, err := c.CollectStats(ctx, now)
	return snap, err
}

// CollectStats is Collect that also reports the collection's cost.
func (c *Collector) CollectStats(ctx context.Context, now time.Time) (*Snapshot, Stats, error) {
	return c.collect(ctx, now, nil)
}

// collect is CollectStats. Given early, the first collection hands it a
// snapshot of the members, CPU and memory as soon as those are read, before
// the device lookups, the other series and the warm start: on a large fleet
// they would hold the first CPU data back by seconds of request budget.
func (c *Collector) collect(ctx context.Context, now time.Time, early func(*Snapshot)) (*Snapshot, Stats, error) {
	c.cycle.Lock()
	defer c.cycle.Unlock()
	started := time.Now()
	c.mu.Lock()
	if c.next != nil {
		c.applyConfig(c.next)
		c.next = nil
	}
	c.mu.Unlock()

	var errs []error
	var stats Stats

	// Discovery first: every later step works on this cycle's members.
	t0 := time.Now()
	errs = append(errs, c.discoverAll(ctx, now)...)
	if err := c.fillDetails(ctx); err != nil {
		// Only labels are missing: the instance is exported without its flavour and address.
		c.logger.Debug("instance details unknown for now", "err", err)
	}
	c.record(SourceDiscovery, time.Since(t0), len(errs) == 0, now)
	c.costs.refresh(ctx, now, c.flavorsInUse())

	want := map[string]bool{}
	for _, st := range c.groups {
		for _, in := range st.members.instances {
			if in.State != StateRemoving {
				want[in.ID] = true
			}
		}
	}

	var ahead map[seriesKey]point // the CPU and memory read for the early snapshot
	var aheadErr error
	var aheadTook time.Duration
	var aheadQs []query
	if early != nil && !c.published {
		aheadQs = c.aheadQueries()
	}
	if aheadQs != nil {
		t0 = time.Now()
		var calls int
		ahead, calls, aheadErr = c.fetchBatches(ctx, now, aheadQs)
		stats.CloudEyeCalls += calls
		aheadTook = time.Since(t0)
		if snap := c.buildEarly(now, ahead); snap.encode(c.descs.info) == nil && ctx.Err() == nil {
			early(snap)
			stats.FirstData = time.Since(started)
		}
	}

	// Devices are resolved before their series are published, so the device
	// label is the real id from the first scrape on.
	t0 = time.Now()
	var dimErrs []error
	backlog, limit := 0, c.deviceLookupLimit()
	for _, k := range deviceKinds() {
		hashes, calls, err := c.listDeviceHashes(ctx, k, want)
		stats.DimensionCalls += calls
		if err != nil {
			dimErrs = append(dimErrs, err)
		}
		if !k.lookup {
			c.adoptDevices(k, hashes)
			continue
		}
		calls, pending, err := c.resolveDevices(ctx, k, hashes, limit)
		stats.DimensionCalls += calls
		backlog += pending
		if err != nil {
			dimErrs = append(dimErrs, err)
		}
	}
	c.mu.Lock()
	for inst := range c.devices {
		if !want[inst] {
			delete(c.devices, inst)
		}
	}
	// Lookups that failed are not a backlog: retrying at once would spin.
	c.backlog = backlog > 0 && len(dimErrs) == 0
	c.mu.Unlock()
	calls, err := c.resolveExtraDims(ctx, want)
	stats.DimensionCalls += calls
	if err != nil {
		dimErrs = append(dimErrs, err)
	}
	calls, queueErrs := c.checkQueueSeries(ctx)
	stats.DimensionCalls += calls
	dimErrs = append(dimErrs, queueErrs...)
	c.record(SourceDimensions, time.Since(t0), len(dimErrs) == 0, now)
	errs = append(errs, dimErrs...)

	// Queue, response time and request rate read their own servers while Cloud Eye is queried.
	var side sync.WaitGroup
	var sideRes sideResult
	side.Add(1)
	go func() {
		defer side.Done()
		sideRes = c.readSideSources(ctx, now)
	}()

	t0 = time.Now()
	qs := c.queries()
	rest := qs
	if aheadQs != nil {
		asked := make(map[seriesKey]bool, len(aheadQs))
		for _, q := range aheadQs {
			asked[q.key] = true
		}
		rest = slices.DeleteFunc(slices.Clone(qs), func(q query) bool { return asked[q.key] })
	}
	got, calls, err := c.fetchBatches(ctx, now, rest)
	maps.Copy(got, ahead)
	err = errors.Join(aheadErr, err)
	stats.CloudEyeCalls += calls
	keep := make(map[seriesKey]point, len(qs))
	for _, q := range qs {
		p, had := c.samples[q.key]
		if n, ok := got[q.key]; ok && (!had || !n.at.Before(p.at)) {
			p, had = n, true
		}
		if had {
			keep[q.key] = p
		}
	}
	c.samples = keep
	c.record(SourceCloudEye, aheadTook+time.Since(t0), err == nil, now)
	if err != nil {
		errs = append(errs, err)
	}
	side.Wait()
	if sideRes.queue {
		c.record(SourceQueue, sideRes.duration, !sideRes.queueFailed, now)
	}
	if sideRes.http {
		c.record(SourceResponseTime, sideRes.duration, !sideRes.httpFailed, now)
	}
	if sideRes.rate {
		c.record(SourceRequestRate, sideRes.duration, !sideRes.rateFailed, now)
	}
	errs = append(errs, sideRes.errs...)

	// Scorers follow the config and the advisor; a new one is warm-started
	// from Cloud Eye history before its first evaluation.
	for _, name := range c.groupNames() {
		st := c.groups[name]
		if err := st.refreshScorer(now, c.cfg, c.advice, c.logger); err != nil {
			errs = append(errs, err)
			continue
		}
		if st.warmed || !st.discovered {
			continue
		}
		n, err := c.warmStart(ctx, now, st)
		stats.WarmStartCalls += n
		st.warmed = true // once: a failed warm start only means forecasts start cold
		if err != nil {
			c.logger.Warn("warm start incomplete: forecasts start from fewer samples", "group", name, "err", err)
		}
	}

	snap := c.build(now)
	if err := snap.encode(c.descs.info); err != nil {
		errs = append(errs, err)
	}
	stats.Series = snap.Len()
	stats.Duration = time.Since(started)
	if stats.FirstData == 0 {
		stats.FirstData = stats.Duration
	}
	c.published = true
	return snap, stats, errors.Join(errs...)
}

func (c *Collector) record(source string, d time.Duration, ok bool, now time.Time) {
	s := c.sources[source]
	if s == nil {
		s = &sourceState{}
		c.sources[source] = s
	}
	s.duration, s.ok = d, ok
	if ok {
		s.lastSuccess = now
	}
}

// discoverAll refreshes every group's members, a few groups at a time. A group
// whose discovery fails keeps its previous members; its lag grows.
func (c *Collector) discoverAll(ctx context.Context, now time.Time) []error {
	names := c.groupNames()
	results := make([]membership, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, c.cfg.CloudEye.Concurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		st := c.groups[name]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], errs[i] = c.discover(ctx, &st.cfg, st.members, now)
		}()
	}
	wg.Wait()
	var out []error
	for i, name := range names {
		st := c.groups[name]
		if errs[i] != nil {
			out = append(out, fmt.Errorf("group %q: %w", name, errs[i]))
			continue
		}
		m := results[i]
		sort.Slice(m.instances, func(a, b int) bool { return m.instances[a].ID < m.instances[b].ID })
		st.members, st.discovered = m, true
		st.boots.observe(m)
	}
	return out
}

// perInstance are the Cloud Eye series read for every instance.
func perInstance() []struct{ ns, metric string } {
	return []struct{ ns, metric string }{
		{nsSYSECS, "cpu_util"}, {nsAGTECS, "cpu_usage"}, {nsAGTECS, "mem_usedPercent"},
	}
}

func gpuMetrics() []string {
	return []string{"gpu_usage_gpu", "gpu_usage_mem", "gpu_used_mem", "gpu_free_mem", "gpu_power_draw", "gpu_temperature"}
}

func npuMetrics() []string { return []string{"npu_util_rate_ai_core", "npu_util_rate_mem"} }

// aheadQueries are what a first collection reads for its early snapshot: the
// perInstance series of every member, then other series known before any
// device lookup up to a full last call, so that reading ahead costs no call
// when the fleet has no devices. Nil when the calls they take fit in the
// burst: the whole collection then waits for no budget, and an early
// snapshot would only cost calls.
func (c *Collector) aheadQueries() []query {
	known := c.queries() // before the lookups of a first collection: no device series
	cpuMem := map[seriesKey]bool{}
	var qs []query
	for _, name := range c.groupNames() {
		for _, in := range c.groups[name].members.instances {
			if in.State == StateRemoving {
				continue
			}
			for _, m := range perInstance() {
				q := newQuery(m.ns, m.metric, hwcloud.Dim{Name: dimInst, Value: in.ID})
				cpuMem[q.key] = true
				qs = append(qs, q)
			}
		}
	}
	ce := c.cfg.CloudEye
	if (len(known)+ce.MetricsPerRequest-1)/ce.MetricsPerRequest <= ce.Burst {
		return nil
	}
	for _, q := range known {
		if len(qs)%ce.MetricsPerRequest == 0 {
			break
		}
		if !cpuMem[q.key] {
			qs = append(qs, q)
		}
	}
	return qs
}

// queries lists every series this cycle needs, once each.
func (c *Collector) queries() []query {
	seen := map[seriesKey]bool{}
	var qs []query
	add := func(q query) {
		if !seen[q.key] {
			seen[q.key] = true
			qs = append(qs, q)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.groupNames() {
		st := c.groups[name]
		for _, in := range st.members.instances {
			if in.State == StateRemoving {
				continue
			}
			id := hwcloud.Dim{Name: dimInst, Value: in.ID}
			for _, m := range perInstance() {
				add(newQuery(m.ns, m.metric, id))
			}
			for _, d := range c.devicesOf(in.ID, dimGPU) {
				for _, m := range gpuMetrics() {
					add(newQuery(nsAGTECS, m, id, hwcloud.Dim{Name: dimGPU, Value: d.hash}))
				}
			}
			for _, d := range c.devicesOf(in.ID, dimNPU) {
				for _, m := range npuMetrics() {
					add(newQuery(nsAGTECS, m, id, hwcloud.Dim{Name: dimNPU, Value: d.hash}))
				}
			}
			for _, x := range st.cfg.ExtraMetrics {
				if dims, ok := extraMetricDims(in.ID, x, c.devicesOf); ok {
					add(newQuery(x.Namespace, x.Metric, dims...))
				}
			}
		}
		if q := st.cfg.Queue; q != nil && q.DMS != nil {
			add(dmsQuery(q.DMS))
		}
		if st.elb != nil {
			for _, q := range st.elb.queries() {
				add(q)
			}
		}
	}
	return qs
}

// sideResult is what reading the queues and the service's endpoints gave.
type sideResult struct {
	errs                                []error
	queue, http, rate                   bool // some group has such a source
	queueFailed, httpFailed, rateFailed bool
	duration                            time.Duration
}

// readSideSources reads Redis queues, response-time and request-rate
// endpoints, every group in parallel, each bounded by its own timeout.
func (c *Collector) readSideSources(ctx context.Context, now time.Time) sideResult {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		res   sideResult
		start = time.Now()
	)
	fail := func(flag *bool, err error) {
		mu.Lock()
		*flag = true
		res.errs = append(res.errs, err)
		mu.Unlock()
	}
	for _, name := range c.groupNames() {
		st := c.groups[name]
		if st.redis != nil {
			res.queue = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := st.redis.depth(ctx)
				if err != nil {
					fail(&res.queueFailed, fmt.Errorf("group %q: %w", name, err))
					return
				}
				st.queue, st.queueOK = point{value: v, at: now}, true
			}()
		}
		if st.http != nil {
			res.http = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := st.http.read(ctx)
				if err != nil {
					fail(&res.httpFailed, fmt.Errorf("group %q: %w", name, err))
					return
				}
				if r.responseTimeOK {
					st.rt, st.rtOK = point{value: r.responseTime, at: now}, true
				}
				if r.errorRateOK {
					st.er, st.erOK = point{value: r.errorRate, at: now}, true
				}
			}()
		}
		if st.rate != nil {
			res.rate = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, ok, err := st.rate.read(ctx, now)
				if err != nil {
					fail(&res.rateFailed, fmt.Errorf("group %q: %w", name, err))
					return
				}
				if ok {
					st.arrivals, st.arrivalsOK = point{value: v, at: now}, true
				}
			}()
		}
	}
	wg.Wait()
	res.duration = time.Since(start)
	return res
}

// interval is the configured collection interval, read between collections.
func (c *Collector) interval() time.Duration {
	c.cycle.Lock()
	defer c.cycle.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next != nil {
		return c.next.Exporter.Interval
	}
	return c.cfg.Exporter.Interval
}
