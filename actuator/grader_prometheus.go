package actuator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flexus-autoscaler/flexus/metricnames"
	"github.com/flexus-autoscaler/flexus/scoring"
)

// PrometheusHindsight reads what followed a decision from the series the
// exporter publishes, through Prometheus's range-query API: the group's CPU
// utilisation times its in-service instances is the load in instances at
// 100%. max() rather than sum() keeps two exporter replicas from doubling it.
type PrometheusHindsight struct {
	// URL is Prometheus's base URL (actuator.grading.prometheus_url).
	URL    string
	Client *http.Client
	// Timeout bounds each query.
	Timeout time.Duration
}

var _ Hindsight = PrometheusHindsight{}

// gradingStep is the Aftermath's resolution: one entry a minute, or four
// over a lead time shorter than four minutes (the demo's is 40s), so that
// what followed is more than the moment of the decision.
func gradingStep(from, to time.Time) time.Duration {
	return min(time.Minute, max(to.Sub(from)/4, time.Second)).Truncate(time.Second)
}

// InServiceQuery is the PromQL of a group's in-service instances.
func InServiceQuery(group string) string {
	return fmt.Sprintf(`max(%s{group=%q,state="in_service"})`, metricnames.GroupInstances, group)
}

// UtilizationQuery is the PromQL of a group's CPU utilisation (0..1).
func UtilizationQuery(group string) string {
	return fmt.Sprintf(`max(%s{group=%q,signal=%q})`, metricnames.Signal(scoring.CPU), group, string(scoring.CPU))
}

// Aftermath queries both series over [from, to] (gradingStep apart) and
// pairs them by timestamp; a step missing from either is left out.
func (p PrometheusHindsight) Aftermath(ctx context.Context, group string, from, to time.Time) (Aftermath, error) {
	serving, err := p.queryRange(ctx, InServiceQuery(group), from, to)
	if err != nil {
		return Aftermath{}, err
	}
	util, err := p.queryRange(ctx, UtilizationQuery(group), from, to)
	if err != nil {
		return Aftermath{}, err
	}
	byTime := make(map[float64]float64, len(util))
	for _, s := range util {
		byTime[s.t] = s.v
	}
	var after Aftermath
	for _, s := range serving {
		u, ok := byTime[s.t]
		if !ok {
			continue
		}
		n := int(math.Round(s.v))
		after.InService = append(after.InService, n)
		after.Load = append(after.Load, u*float64(n))
	}
	return after, nil
}

type promSample struct{ t, v float64 }

// queryRange runs one range query whose result is at most one series.
func (p PrometheusHindsight) queryRange(ctx context.Context, query string, from, to time.Time) ([]promSample, error) {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	form := url.Values{
		"query": {query},
		"start": {strconv.FormatFloat(float64(from.UnixMilli())/1e3, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(to.UnixMilli())/1e3, 'f', 3, 64)},
		"step":  {strconv.Itoa(int(gradingStep(from, to) / time.Second))},
	}
	endpoint := strings.TrimSuffix(p.URL, "/") + "/api/v1/query_range"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("actuator.grading.prometheus_url %q: %w", p.URL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("querying Prometheus at %s (actuator.grading.prometheus_url): %w", p.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading Prometheus's answer from %s: %w", endpoint, err)
	}
	var ans struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Values [][2]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, fmt.Errorf("Prometheus at %s answered %s with no API JSON (is actuator.grading.prometheus_url Prometheus's base URL?): %w", endpoint, resp.Status, err)
	}
	if ans.Status != "success" {
		return nil, fmt.Errorf("Prometheus at %s refused %s: %s (%s)", endpoint, query, ans.Error, resp.Status)
	}
	if ans.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("Prometheus at %s answered a %q to a range query, not a matrix", endpoint, ans.Data.ResultType)
	}
	if len(ans.Data.Result) == 0 {
		return nil, nil
	}
	var out []promSample
	for _, v := range ans.Data.Result[0].Values {
		var t float64
		var s string
		if err := json.Unmarshal(v[0], &t); err != nil {
			return nil, fmt.Errorf("Prometheus at %s: a sample's time %s is not a number", endpoint, v[0])
		}
		if err := json.Unmarshal(v[1], &s); err != nil {
			return nil, fmt.Errorf("Prometheus at %s: a sample's value %s is not a string", endpoint, v[1])
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) {
			continue // a NaN minute says nothing
		}
		out = append(out, promSample{t: t, v: f})
	}
	return out, nil
}
