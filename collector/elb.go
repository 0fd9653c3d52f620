package collector

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// ELB layer-7 metrics in Cloud Eye: mean response time (ms), requests per
// second and upstream 5xx answers per second.
const (
	elbScheme    = "cloudeye"
	elbRT        = "m14_l7_rt"
	elbQPS       = "mb_l7_qps"
	elbServerErr = "m16_l7_upstream_5xx"
)

// elbSource reads a group's response time and error rate from Cloud Eye ELB
// metrics instead of the service's own endpoint. It is configured as
// response_time.url: cloudeye:SYS.ELB?lbaas_instance_id=ID, and its three
// series ride in the same BatchListMetricData calls as the instance metrics.
type elbSource struct {
	rt, qps, errs query
}

// parseELB returns the ELB source a response_time.url names, or nil for an
// http(s) URL.
func parseELB(src *config.HTTPSource) (*elbSource, error) {
	if src == nil || !strings.HasPrefix(src.URL, elbScheme+":") {
		return nil, nil
	}
	u, err := url.Parse(src.URL)
	if err != nil {
		return nil, fmt.Errorf("response_time.url %q: %w", src.URL, err)
	}
	ns := u.Opaque
	if ns == "" {
		ns = "SYS.ELB"
	}
	q := u.Query()
	names := make([]string, 0, len(q))
	for n := range q {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("response_time.url %q names no dimension: use cloudeye:SYS.ELB?lbaas_instance_id=<ELB id>", src.URL)
	}
	dims := make([]hwcloud.Dim, len(names))
	for i, n := range names {
		dims[i] = hwcloud.Dim{Name: n, Value: q.Get(n)}
	}
	return &elbSource{rt: newQuery(ns, elbRT, dims...), qps: newQuery(ns, elbQPS, dims...), errs: newQuery(ns, elbServerErr, dims...)}, nil
}

func (e *elbSource) queries() []query { return []query{e.rt, e.qps, e.errs} }

// read turns the newest fresh datapoints into response time (seconds) and
// error rate; sample returns a series' newest datapoint while it is fresh.
func (e *elbSource) read(sample func(seriesKey) (point, bool)) (rt, er point, rtOK, erOK bool) {
	if p, ok := sample(e.rt.key); ok {
		rt, rtOK = point{value: p.value / 1000, at: p.at}, true
	}
	qps, okQ := sample(e.qps.key)
	bad, okE := sample(e.errs.key)
	if okQ && okE && qps.value > 0 {
		at := qps.at
		if bad.at.Before(at) {
			at = bad.at
		}
		er, erOK = point{value: min(1, bad.value/qps.value), at: at}, true
	}
	return rt, er, rtOK, erOK
}
