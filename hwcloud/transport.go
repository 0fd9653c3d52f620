package hwcloud

import (
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_cloud_requests_total",
			Help: "HTTP requests to Huawei Cloud APIs, every attempt, by service, API and status code (\"error\" when no response came).",
		}, []string{"service", "api", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flexus_cloud_request_duration_seconds",
			Help:    "Duration of HTTP requests to Huawei Cloud APIs.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"service", "api"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_cloud_retries_total",
			Help: "Retries of Huawei Cloud API calls after 429, 5xx or connection failures.",
		}, []string{"service", "api"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_cloud_throttled_requests_total",
			Help: "Huawei Cloud API requests answered 429 Too Many Requests.",
		}, []string{"service", "api"}),
	}
	// Retries and throttling start at 0 for every API we call, so that
	// increase() and alerts see the first one, and a dashboard shows a
	// flat zero rather than no data.
	for _, r := range routes {
		m.retries.WithLabelValues(r.service, r.api)
		m.throttled.WithLabelValues(r.service, r.api)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.retries, m.throttled)
	}
	return m
}

// countingTransport counts every HTTP attempt, so retries inside the SDK's
// invoker show up too.
type countingTransport struct {
	service string
	next    http.RoundTripper
	metrics *metrics
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	api := apiName(req.Method, req.URL.Path)
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	t.metrics.duration.WithLabelValues(t.service, api).Observe(time.Since(start).Seconds())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			t.metrics.throttled.WithLabelValues(t.service, api).Inc()
		}
	}
	t.metrics.requests.WithLabelValues(t.service, api, code).Inc()
	return resp, err
}

type route struct {
	service string
	method  string
	path    *regexp.Regexp
	api     string
}

// routes maps the request paths of the calls in this package to API names,
// with the service (client) that makes each call.
var routes = []route{
	{ServiceCES, "POST", regexp.MustCompile(`^/V1\.0/[^/]+/batch-query-metric-data$`), "BatchListMetricData"},
	{ServiceCES, "GET", regexp.MustCompile(`^/V1\.0/[^/]+/metric-data$`), "ShowMetricData"},
	{ServiceCES, "GET", regexp.MustCompile(`^/V1\.0/[^/]+/metrics$`), "ListMetrics"},
	{ServiceCES, "GET", regexp.MustCompile(`^/v2/[^/]+/instances/[^/]+/agent-dimensions$`), "ListAgentDimensionInfo"},
	{ServiceAS, "GET", regexp.MustCompile(`^/autoscaling-api/v1/[^/]+/scaling_group$`), "ListScalingGroups"},
	{ServiceAS, "GET", regexp.MustCompile(`^/autoscaling-api/v1/[^/]+/scaling_group/[^/]+$`), "ShowScalingGroup"},
	{ServiceAS, "PUT", regexp.MustCompile(`^/autoscaling-api/v1/[^/]+/scaling_group/[^/]+$`), "UpdateScalingGroup"},
	{ServiceAS, "GET", regexp.MustCompile(`^/autoscaling-api/v1/[^/]+/scaling_group_instance/[^/]+/list$`), "ListScalingInstances"},
	{ServiceAS, "POST", regexp.MustCompile(`^/autoscaling-api/v1/[^/]+/scaling_group_instance/[^/]+/action$`), "BatchRemoveScalingInstances"},
	{ServiceAS, "GET", regexp.MustCompile(`^/autoscaling-api/v1/[^/]+/scaling_activity_log/[^/]+$`), "ListScalingActivityLogs"},
	{ServiceAS, "GET", regexp.MustCompile(`^/autoscaling-api/[^/]+/scaling-groups/[^/]+/warm-pool$`), "ShowWarmPool"},
	{ServiceAS, "PUT", regexp.MustCompile(`^/autoscaling-api/[^/]+/scaling-groups/[^/]+/warm-pool$`), "PutWarmPool"},
	{ServiceECS, "POST", regexp.MustCompile(`^/v1\.1/[^/]+/cloudservers$`), "CreateServers"},
	{ServiceECS, "GET", regexp.MustCompile(`^/v1/[^/]+/cloudservers/detail$`), "ListServersDetails"},
	{ServiceECS, "POST", regexp.MustCompile(`^/v1/[^/]+/cloudservers/delete$`), "DeleteServers"},
	{ServiceECS, "GET", regexp.MustCompile(`^/v1/[^/]+/jobs/[^/]+$`), "ShowJob"},
	{ServiceECS, "POST", regexp.MustCompile(`^/v1/[^/]+/cloudservers/action$`), "BatchServerAction"},
	{ServiceBSS, "POST", regexp.MustCompile(`^/v2/bills/ratings/on-demand-resources$`), "ListOnDemandResourceRatings"},
}

func apiName(method, path string) string {
	for _, r := range routes {
		if r.method == method && r.path.MatchString(path) {
			return r.api
		}
	}
	return "other"
}
