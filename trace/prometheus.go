package trace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// PrometheusQuery reads a trace from a Prometheus server's range query API.
type PrometheusQuery struct {
	// URL is the server's base URL, e.g. http://prometheus:9090.
	URL string
	// Query is a PromQL expression that must return one series, e.g.
	// sum(rate(http_requests_total{job="web"}[5m])).
	Query      string
	Start, End time.Time
	// Step is the resolution (default 1m).
	Step time.Duration
	// PagePoints is the most samples one request asks for (default 10,000,
	// under Prometheus's limit of 11,000 points per series).
	PagePoints int
	// MaxRequests bounds the requests one read makes (default 100, a million
	// samples); a longer range at this step is refused before any request.
	MaxRequests int
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// MaxGapSteps is the longest run of missing samples filled by
	// interpolation (default 5), as for files.
	MaxGapSteps int
}

// Prometheus's own cap on the points of one series in a range query answer.
const prometheusMaxPoints = 11000

func (q PrometheusQuery) withDefaults() (PrometheusQuery, error) {
	if q.Step == 0 {
		q.Step = time.Minute
	}
	if q.PagePoints == 0 {
		q.PagePoints = 10000
	}
	if q.MaxRequests == 0 {
		q.MaxRequests = 100
	}
	if q.Timeout == 0 {
		q.Timeout = 30 * time.Second
	}
	if q.MaxGapSteps == 0 {
		q.MaxGapSteps = 5
	}
	switch {
	case q.URL == "":
		return q, errors.New("prometheus: the server URL is empty: set --prometheus.url")
	case q.Query == "":
		return q, errors.New("prometheus: the query is empty: set --query")
	case q.Start.IsZero() || q.End.IsZero():
		return q, errors.New("prometheus: start and end are both needed: set --start and --end")
	case !q.End.After(q.Start):
		return q, fmt.Errorf("prometheus: end %s is not after start %s", q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	case q.Step < time.Second || q.Step%time.Second != 0:
		return q, fmt.Errorf("prometheus: step %v must be whole seconds, at least 1s", q.Step)
	case q.PagePoints < 1 || q.PagePoints > prometheusMaxPoints:
		return q, fmt.Errorf("prometheus: %d points per request is outside 1..%d", q.PagePoints, prometheusMaxPoints)
	case q.MaxRequests < 1:
		return q, fmt.Errorf("prometheus: at most %d requests: want at least 1", q.MaxRequests)
	}
	if _, err := url.Parse(q.URL); err != nil {
		return q, fmt.Errorf("prometheus: server URL: %w", err)
	}
	return q, nil
}

// ReadPrometheus runs the range query page by page, each page at most
// PagePoints samples, and returns the one series as a trace named name.
// Samples missing inside the range are filled as in a file (short gaps) or
// refused (long ones).
func ReadPrometheus(ctx context.Context, client *http.Client, q PrometheusQuery, name string) (Series, error) {
	q, err := q.withDefaults()
	if err != nil {
		return Series{}, err
	}
	start := q.Start.Truncate(q.Step)
	if start.Before(q.Start) {
		start = start.Add(q.Step)
	}
	total := int(q.End.Sub(start)/q.Step) + 1
	pages := (total + q.PagePoints - 1) / q.PagePoints
	if pages > q.MaxRequests {
		return Series{}, fmt.Errorf("prometheus: %s..%s at step %v is %d samples, %d requests of %d: more than the %d allowed; use a coarser step or a shorter range",
			q.Start.Format(time.RFC3339), q.End.Format(time.RFC3339), q.Step, total, pages, q.PagePoints, q.MaxRequests)
	}
	var pts []point
	pageSpan := time.Duration(q.PagePoints-1) * q.Step
	for from := start; !from.After(q.End); from = from.Add(pageSpan + q.Step) {
		to := from.Add(pageSpan)
		if to.After(q.End) {
			to = q.End
		}
		page, err := queryRange(ctx, client, q, from, to)
		if err != nil {
			return Series{}, err
		}
		for _, p := range page {
			// line counts samples from the start of the range in errors.
			p.line = int(p.t.Sub(start)/q.Step) + 1
			pts = append(pts, p)
		}
	}
	if len(pts) == 0 {
		return Series{}, fmt.Errorf("prometheus: %q returned no samples between %s and %s: check the query in the Prometheus UI over that range",
			q.Query, q.Start.Format(time.RFC3339), q.End.Format(time.RFC3339))
	}
	return evenlySpaced(name, pts, q.Step, q.MaxGapSteps, "sample")
}

// rangeAnswer is the part of /api/v1/query_range's answer we read.
type rangeAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func queryRange(ctx context.Context, client *http.Client, q PrometheusQuery, from, to time.Time) ([]point, error) {
	ctx, cancel := context.WithTimeout(ctx, q.Timeout)
	defer cancel()
	form := url.Values{
		"query": {q.Query},
		"start": {strconv.FormatInt(from.Unix(), 10)},
		"end":   {strconv.FormatInt(to.Unix(), 10)},
		"step":  {strconv.FormatFloat(q.Step.Seconds(), 'f', -1, 64)},
	}
	endpoint := strings.TrimSuffix(q.URL, "/") + "/api/v1/query_range"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: query_range %s..%s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("prometheus: reading the answer: %w", err)
	}
	var a rangeAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("prometheus: %s answered HTTP %d that is not the query API's JSON (%.200q): check --prometheus.url", endpoint, resp.StatusCode, body)
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("prometheus: query %q: %s: %s", q.Query, a.ErrorType, a.Error)
	}
	if a.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("prometheus: query %q gave a %s, want a range vector (matrix)", q.Query, a.Data.ResultType)
	}
	switch n := len(a.Data.Result); {
	case n == 0:
		return nil, nil
	case n > 1:
		return nil, fmt.Errorf("prometheus: query %q returned %d series between %s and %s, want one: aggregate it, e.g. sum(%s)",
			q.Query, n, from.Format(time.RFC3339), to.Format(time.RFC3339), q.Query)
	}
	values := a.Data.Result[0].Values
	pts := make([]point, 0, len(values))
	for _, sv := range values {
		ts, ok := sv[0].(float64)
		vs, ok2 := sv[1].(string)
		if !ok || !ok2 {
			return nil, fmt.Errorf("prometheus: query %q: sample %v is not [time, \"value\"]", q.Query, sv)
		}
		t := time.UnixMilli(int64(math.Round(ts * 1000))).UTC()
		v, err := strconv.ParseFloat(vs, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("prometheus: query %q: value %q at %s is not a finite number", q.Query, vs, t.Format(time.RFC3339))
		}
		pts = append(pts, point{t: t, v: v})
	}
	return pts, nil
}
