package config

import (
	"fmt"
	"net/url"
)

// The request rate's types: a counter of requests, turned into a rate between
// two scrapes, or a gauge already in requests per second.
const (
	RateCounter = "counter"
	RateGauge   = "gauge"
)

// DefaultRequestRateMetric is read when a counter's request_rate.metric is empty.
const DefaultRequestRateMetric = "http_requests_total"

// validateRequestRate checks the group's request_rate, with paths relative to
// the group. The rate is divided by instance_capacity (scoring's service
// rate) to count instances, so the capacity must be the file's own figure,
// not the default of 100.
func (g *Group) validateRequestRate() error {
	r := g.RequestRate
	if r == nil {
		return nil
	}
	switch {
	case r.URL == "":
		return fieldError("request_rate.url", "is empty: it must be set to the service's Prometheus metrics endpoint, e.g. http://web.internal:8080/metrics")
	case r.Type != RateCounter && r.Type != RateGauge:
		return fieldError("request_rate.type", "%q is unknown: use counter (a total of requests, e.g. http_requests_total) or gauge (requests per second)", r.Type)
	case r.Metric == "":
		return fieldError("request_rate.metric", "is empty: a gauge has no default name, name the series in requests per second")
	case r.Timeout <= 0:
		return fieldError("request_rate.timeout", "%s must be positive, e.g. 5s", r.Timeout)
	case g.capacityDefaulted:
		return fieldError("instance_capacity", "must be set with request_rate: the rate counts instances as requests per second over what one instance serves at 100%% (the default of 100 is no measure of the service)")
	}
	return nil
}

// checkRequestRateURL accepts an http(s) endpoint of the service. Unlike
// response_time, Cloud Eye's ELB has no scrape-fresh rate to offer.
func checkRequestRateURL(src *HTTPSource) error {
	if src == nil {
		return nil
	}
	u, err := url.Parse(src.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an http(s) URL of the service's Prometheus metrics, e.g. http://web.internal:8080/metrics", src.URL)
	}
	return nil
}
