package collector

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/flexus-autoscaler/flexus/config"
)

// rateSource reads the service's request rate from its Prometheus text
// endpoint (request_rate), the demand Cloud Eye's CPU shows minutes late: a
// counter of requests, summed over its series and turned into a rate between
// two scrapes, or a gauge already in requests per second.
type rateSource struct {
	cfg    config.HTTPSource
	client *http.Client
	// prev is the counter's sum at the previous successful scrape, at prevAt.
	prev    float64
	prevAt  time.Time
	hasPrev bool
}

func newRateSource(cfg config.HTTPSource, client *http.Client) *rateSource {
	return &rateSource{cfg: cfg, client: client}
}

// read scrapes the endpoint at now and returns the rate in requests per
// second. ok is false when a counter gives none yet: on its first scrape, or
// when its sum dropped (a restart reset it, or a series went away), which
// gives no rate for that pair rather than a negative one. A failed scrape
// keeps the previous sum, so the next rate spans the gap.
func (s *rateSource) read(ctx context.Context, now time.Time) (rate float64, ok bool, err error) {
	fams, err := scrape(ctx, s.client, s.cfg, "request_rate")
	if err != nil {
		return 0, false, err
	}
	v, err := s.sum(fams)
	if err != nil {
		return 0, false, err
	}
	if s.cfg.Type == config.RateGauge {
		return v, true, nil
	}
	prev, prevAt, had := s.prev, s.prevAt, s.hasPrev
	s.prev, s.prevAt, s.hasPrev = v, now, true
	dt := now.Sub(prevAt).Seconds()
	if !had || dt <= 0 || v < prev {
		return 0, false, nil
	}
	return (v - prev) / dt, true, nil
}

// sum adds up the configured metric's series. A counter may also be the
// _count of a summary or histogram, the requests it timed.
func (s *rateSource) sum(fams map[string]*dto.MetricFamily) (float64, error) {
	name := s.cfg.Metric
	fam, ok := fams[name]
	if !ok && s.cfg.Type == config.RateCounter {
		if base, cut := strings.CutSuffix(name, "_count"); cut {
			if f, found := fams[base]; found && (f.GetType() == dto.MetricType_SUMMARY || f.GetType() == dto.MetricType_HISTOGRAM) {
				fam, ok = f, true
			}
		}
	}
	if !ok {
		return 0, fmt.Errorf("request_rate: %s has no metric %q: set request_rate.metric", s.cfg.URL, name)
	}
	if len(fam.GetMetric()) == 0 {
		return 0, fmt.Errorf("request_rate: %s has no samples", name)
	}
	t := fam.GetType()
	switch {
	case s.cfg.Type == config.RateCounter && t == dto.MetricType_GAUGE:
		return 0, fmt.Errorf("request_rate: %s is a gauge: set request_rate.type: gauge if it is in requests per second", name)
	case s.cfg.Type == config.RateGauge && t != dto.MetricType_GAUGE && t != dto.MetricType_UNTYPED:
		return 0, fmt.Errorf("request_rate: %s is a %s: set request_rate.type: counter for a total of requests", name, strings.ToLower(t.String()))
	}
	sum := 0.0
	for _, m := range fam.GetMetric() {
		switch t {
		case dto.MetricType_COUNTER:
			sum += m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			sum += m.GetGauge().GetValue()
		case dto.MetricType_UNTYPED:
			sum += m.GetUntyped().GetValue()
		case dto.MetricType_SUMMARY:
			sum += float64(m.GetSummary().GetSampleCount())
		case dto.MetricType_HISTOGRAM:
			sum += float64(m.GetHistogram().GetSampleCount())
		default:
			return 0, fmt.Errorf("request_rate: %s is a %s: use a counter or a gauge", name, strings.ToLower(t.String()))
		}
	}
	if !finite(sum) || sum < 0 {
		return 0, fmt.Errorf("request_rate: %s sums to %v, not a request count or rate", name, sum)
	}
	return sum, nil
}
