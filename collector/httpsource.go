package collector

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flexus-autoscaler/flexus/config"
)

// DefaultResponseTimeMetric is read when response_time.metric is empty.
const DefaultResponseTimeMetric = "http_request_duration_seconds"

// maxScrapeBytes bounds what a service endpoint can make us read.
const maxScrapeBytes = 8 << 20

// httpReading is one scrape of a service's own metrics.
type httpReading struct {
	// responseTime is the mean response time in seconds since the previous
	// scrape (or ever, on the first); ok says whether it could be computed.
	responseTime   float64
	responseTimeOK bool
	// errorRate is the ratio of 5xx answers since the previous scrape.
	errorRate   float64
	errorRateOK bool
}

// totals are the cumulative counts of a summary or histogram.
type totals struct {
	sum, count, errors float64
}

// httpSource reads response time and error rate from a Prometheus text
// endpoint of the service. Counters are turned into rates between scrapes,
// so the value describes the last interval, not the whole uptime.
type httpSource struct {
	cfg    config.HTTPSource
	client *http.Client
	prev   *totals
}

func newHTTPSource(cfg config.HTTPSource, client *http.Client) *httpSource {
	return &httpSource{cfg: cfg, client: client}
}

func (s *httpSource) metric() string {
	if s.cfg.Metric != "" {
		return s.cfg.Metric
	}
	return DefaultResponseTimeMetric
}

func (s *httpSource) read(ctx context.Context) (httpReading, error) {
	fams, err := scrape(ctx, s.client, s.cfg, "response_time")
	if err != nil {
		return httpReading{}, err
	}
	fam, ok := fams[s.metric()]
	if !ok {
		return httpReading{}, fmt.Errorf("response_time: %s has no metric %q: set response_time.metric", s.cfg.URL, s.metric())
	}
	return s.reading(fam, fams)
}

// scrape reads the families of a service's Prometheus text endpoint within
// the source's timeout; field names the config block in errors.
func scrape(ctx context.Context, client *http.Client, cfg config.HTTPSource, field string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", field, cfg.URL, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s answered %s", field, cfg.URL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, maxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: parsing %s: %w", field, cfg.URL, err)
	}
	return fams, nil
}

// reading turns a family into a reading. A gauge is the response time itself;
// a summary or histogram gives the mean over the last interval, and its
// series labelled code/status 5xx give the error rate.
func (s *httpSource) reading(fam *dto.MetricFamily, fams map[string]*dto.MetricFamily) (httpReading, error) {
	var r httpReading
	switch fam.GetType() {
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		sum, n := 0.0, 0
		for _, m := range fam.GetMetric() {
			v := m.GetGauge().GetValue()
			if fam.GetType() == dto.MetricType_UNTYPED {
				v = m.GetUntyped().GetValue()
			}
			sum += v
			n++
		}
		if n == 0 {
			return r, fmt.Errorf("response_time: %s has no samples", fam.GetName())
		}
		r.responseTime, r.responseTimeOK = sum/float64(n), true
		if er, ok := errorRatioGauge(fams); ok {
			r.errorRate, r.errorRateOK = er, true
		}
		return r, nil
	case dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM:
		var t totals
		for _, m := range fam.GetMetric() {
			var sum, count float64
			if fam.GetType() == dto.MetricType_SUMMARY {
				sum, count = m.GetSummary().GetSampleSum(), float64(m.GetSummary().GetSampleCount())
			} else {
				sum, count = m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())
			}
			t.sum += sum
			t.count += count
			if isServerError(m) {
				t.errors += count
			}
		}
		d := t
		if s.prev != nil && t.count >= s.prev.count {
			d = totals{sum: t.sum - s.prev.sum, count: t.count - s.prev.count, errors: t.errors - s.prev.errors}
		}
		s.prev = &t
		if d.count > 0 {
			r.responseTime, r.responseTimeOK = d.sum/d.count, true
			r.errorRate, r.errorRateOK = d.errors/d.count, true
		}
		if er, ok := errorRatioGauge(fams); ok {
			r.errorRate, r.errorRateOK = er, true
		}
		return r, nil
	default:
		return r, fmt.Errorf("response_time: %s is a %s: use a gauge, summary or histogram", fam.GetName(), strings.ToLower(fam.GetType().String()))
	}
}

// errorRatioGauge reads the service's error ratio gauge when it has one: the
// first family, by name, whose name ends in error_ratio (simcloud's app
// endpoint serves flexus_simcloud_error_ratio next to its response time).
func errorRatioGauge(fams map[string]*dto.MetricFamily) (float64, bool) {
	names := make([]string, 0, 1)
	for name, f := range fams {
		if strings.HasSuffix(name, "error_ratio") && len(f.GetMetric()) > 0 &&
			(f.GetType() == dto.MetricType_GAUGE || f.GetType() == dto.MetricType_UNTYPED) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return 0, false
	}
	sort.Strings(names)
	f := fams[names[0]]
	sum := 0.0
	for _, m := range f.GetMetric() {
		if f.GetType() == dto.MetricType_UNTYPED {
			sum += m.GetUntyped().GetValue()
		} else {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum / float64(len(f.GetMetric())), true
}

func isServerError(m *dto.Metric) bool {
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "code", "status", "status_code":
			return strings.HasPrefix(l.GetValue(), "5")
		}
	}
	return false
}

// httpTimeout is the default client timeout when none is given.
const httpTimeout = 10 * time.Second
