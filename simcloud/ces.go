package simcloud

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

const maxBatchMetrics = 500

// decodeBody unmarshals a JSON body into an SDK request model, which gives
// the exact field names and types the SDK sends.
func decodeBody(service string, body []byte, v any) error {
	if len(body) == 0 {
		return badRequest(service, "the request body is empty: a JSON object is expected")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest(service, "the request body is not valid JSON for this API: %v", err)
	}
	return nil
}

func intParam(service string, q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(service, "query parameter %s=%q must be an integer within %d..%d", name, s, lo, hi)
	}
	return n, nil
}

// periods maps the period values Cloud Eye accepts to how simcloud reads
// them: 1 is raw data, the rest aggregate.
func period(service, s string) (time.Duration, error) {
	switch s {
	case "1":
		return 0, nil
	case "60", "300", "1200", "3600", "14400", "86400":
		n, _ := strconv.Atoi(s)
		return time.Duration(n) * time.Second, nil
	}
	return 0, badRequest(service, "period %q must be one of 1, 60, 300, 1200, 3600, 14400, 86400", s)
}

func checkFilter(service, f string) error {
	switch f {
	case "average", "max", "min", "sum", "variance":
		return nil
	}
	return badRequest(service, "filter %q must be one of average, max, min, sum, variance", f)
}

func checkRange(service string, from, to int64) error {
	if from <= 0 || to <= 0 || from >= to {
		return badRequest(service, "from (%d) and to (%d) must be positive UNIX milliseconds with from < to", from, to)
	}
	return nil
}

// MaxBatchPoints bounds one BatchListMetricData answer: metrics x (to -
// from) / interval <= 3000, the interval of period "1" (raw) counted as 60 s
// (Cloud Eye API reference, "Querying Monitoring Data in Batches").
const MaxBatchPoints = 3000

// batchWindow is the longest to - from Cloud Eye serves per period,
// whatever the number of metrics (BatchListMetricDataRequestBody.from in
// the SDK). Period 60 is not listed there; the 3000-point rule bounds it.
var batchWindow = map[string]time.Duration{
	"1": 4 * time.Hour, "300": 24 * time.Hour, "1200": 3 * 24 * time.Hour, "3600": 10 * 24 * time.Hour,
	"14400": 30 * 24 * time.Hour, "86400": 180 * 24 * time.Hour,
}

// batchFrom is the from Cloud Eye actually uses: it does not refuse a
// window that is too long, it silently moves from towards to.
func batchFrom(period string, metrics int, from, to int64) int64 {
	interval := int64(60_000)
	if n, err := strconv.ParseInt(period, 10, 64); err == nil && n > 1 {
		interval = n * 1000
	}
	longest := MaxBatchPoints * interval / int64(max(metrics, 1))
	if w, ok := batchWindow[period]; ok {
		longest = min(longest, w.Milliseconds())
	}
	return max(from, to-longest)
}

// datapoints encodes Cloud Eye datapoints carrying only the requested filter
// (and unit, for ShowMetricData) straight to JSON: a 500-metric answer holds
// thousands of them.
type datapoints struct {
	filter string
	unit   string
	points []world.Point
}

func (d datapoints) MarshalJSON() ([]byte, error) { return d.append(nil), nil }

func (d datapoints) append(b []byte) []byte {
	b = append(b, '[')
	for i, p := range d.points {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"`...)
		b = append(b, d.filter...)
		b = append(b, `":`...)
		b = strconv.AppendFloat(b, pick(p, d.filter), 'g', -1, 64)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, p.Time.UnixMilli(), 10)
		if d.unit != "" {
			b = append(b, `,"unit":`...)
			b = appendString(b, d.unit)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func pick(p world.Point, filter string) float64 {
	switch filter {
	case "max":
		return p.Max
	case "min":
		return p.Min
	case "sum":
		return p.Sum
	case "variance":
		return p.Variance
	}
	return p.Average
}

type dimensionJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (s *Server) batchListMetricData(r *http.Request, body []byte) (int, any, error) {
	var req cesmodel.BatchListMetricDataRequestBody
	if err := decodeBody("ces", body, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Metrics) == 0 || len(req.Metrics) > maxBatchMetrics {
		return 0, nil, badRequest("ces", "metrics must hold 1..%d metrics, not %d", maxBatchMetrics, len(req.Metrics))
	}
	if req.Period == nil || req.Filter == nil {
		return 0, nil, badRequest("ces", "period and filter are required")
	}
	p, err := period("ces", req.Period.Value())
	if err != nil {
		return 0, nil, err
	}
	filter := req.Filter.Value()
	if err := checkFilter("ces", filter); err != nil {
		return 0, nil, err
	}
	if err := checkRange("ces", req.From, req.To); err != nil {
		return 0, nil, err
	}
	req.From = batchFrom(req.Period.Value(), len(req.Metrics), req.From, req.To)
	ids := make([]world.MetricID, len(req.Metrics))
	for i, m := range req.Metrics {
		if m.Namespace == "" || m.MetricName == "" {
			return 0, nil, badRequest("ces", "metrics[%d]: namespace and metric_name are required", i)
		}
		if len(m.Dimensions) == 0 || len(m.Dimensions) > 4 {
			return 0, nil, badRequest("ces", "metrics[%d]: dimensions must hold 1..4 dimensions", i)
		}
		ids[i] = world.MetricID{Namespace: m.Namespace, Name: m.MetricName}
		for j, d := range m.Dimensions {
			if d.Name == "" || d.Value == "" {
				return 0, nil, badRequest("ces", "metrics[%d].dimensions[%d]: name and value are required", i, j)
			}
			ids[i].Dimensions = append(ids[i].Dimensions, world.Dimension{Name: d.Name, Value: d.Value})
		}
	}
	series := s.world.Datapoints(ids, time.UnixMilli(req.From), time.UnixMilli(req.To), p)
	// Written by hand: a 500-metric answer holds thousands of datapoints, and
	// encoding/json re-validates what custom marshalers return.
	b := make([]byte, 0, 4096+len(ids)*256)
	b = append(b, `{"metrics":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"namespace":`...)
		b = appendString(b, id.Namespace)
		b = append(b, `,"metric_name":`...)
		b = appendString(b, id.Name)
		b = append(b, `,"dimensions":[`...)
		for j, d := range id.Dimensions {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, d.Name)
			b = append(b, `,"value":`...)
			b = appendString(b, d.Value)
			b = append(b, '}')
		}
		b = append(b, `],"datapoints":`...)
		b = datapoints{filter: filter, points: series[i].Points}.append(b)
		if u := series[i].Unit; u != "" {
			b = append(b, `,"unit":`...)
			b = appendString(b, u)
		}
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	return http.StatusOK, json.RawMessage(b), nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// parseDims reads dim.0..dim.3 query parameters ("name,value").
func parseDims(q url.Values, required bool) ([]world.Dimension, error) {
	var dims []world.Dimension
	for i := 0; i < 4; i++ {
		v := q.Get("dim." + strconv.Itoa(i))
		if v == "" {
			continue
		}
		name, value, ok := strings.Cut(v, ",")
		if !ok || name == "" || value == "" {
			return nil, badRequest("ces", "dim.%d=%q must be name,value", i, v)
		}
		dims = append(dims, world.Dimension{Name: name, Value: value})
	}
	if required && len(dims) == 0 {
		return nil, badRequest("ces", "dim.0 is required, e.g. dim.0=instance_id,<id>")
	}
	return dims, nil
}

func (s *Server) showMetricData(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	ns, name := q.Get("namespace"), q.Get("metric_name")
	if ns == "" || name == "" {
		return 0, nil, badRequest("ces", "namespace and metric_name are required")
	}
	dims, err := parseDims(q, true)
	if err != nil {
		return 0, nil, err
	}
	filter := q.Get("filter")
	if err := checkFilter("ces", filter); err != nil {
		return 0, nil, err
	}
	p, err := period("ces", q.Get("period"))
	if err != nil {
		return 0, nil, err
	}
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, nil, badRequest("ces", "from and to must be UNIX milliseconds")
	}
	if err := checkRange("ces", from, to); err != nil {
		return 0, nil, err
	}
	id := world.MetricID{Namespace: ns, Name: name, Dimensions: dims}
	series := s.world.Datapoints([]world.MetricID{id}, time.UnixMilli(from), time.UnixMilli(to), p)[0]
	points := datapoints{filter: filter, unit: series.Unit, points: series.Points}
	return http.StatusOK, map[string]any{"datapoints": points, "metric_name": name}, nil
}

type metricInfoJSON struct {
	Namespace  string          `json:"namespace"`
	MetricName string          `json:"metric_name"`
	Unit       string          `json:"unit"`
	Dimensions []dimensionJSON `json:"dimensions"`
}

func (s *Server) listMetrics(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	limit, err := intParam("ces", q, "limit", 1000, 1, 1000)
	if err != nil {
		return 0, nil, err
	}
	order := q.Get("order")
	if order == "" {
		order = "asc"
	}
	if order != "asc" && order != "desc" {
		return 0, nil, badRequest("ces", "order %q must be asc or desc", order)
	}
	dims, err := parseDims(q, false)
	if err != nil {
		return 0, nil, err
	}
	ns, name, start := q.Get("namespace"), q.Get("metric_name"), q.Get("start")
	var match []world.MetricInfo
	for _, m := range s.world.ListMetrics() {
		if ns != "" && m.Namespace != ns || name != "" && m.Name != name || !hasDims(m.Dimensions, dims) {
			continue
		}
		match = append(match, m)
	}
	if order == "desc" {
		sort.SliceStable(match, func(i, j int) bool { return match[i].Key() > match[j].Key() })
	}
	from := 0
	if start != "" {
		from = sort.Search(len(match), func(i int) bool {
			if order == "desc" {
				return match[i].Key() < start
			}
			return match[i].Key() > start
		})
	}
	end := min(from+limit, len(match))
	page := make([]metricInfoJSON, 0, end-from)
	for _, m := range match[from:end] {
		mj := metricInfoJSON{Namespace: m.Namespace, MetricName: m.Name, Unit: m.Unit}
		for _, d := range m.Dimensions {
			mj.Dimensions = append(mj.Dimensions, dimensionJSON(d))
		}
		page = append(page, mj)
	}
	// As in Cloud Eye, every non-empty page carries the key of its last
	// entry as marker, the last page too: a client stops on a short or
	// empty page, not on an empty marker.
	marker := ""
	if end > from {
		marker = match[end-1].Key()
	}
	return http.StatusOK, map[string]any{
		"metrics":   page,
		"meta_data": map[string]any{"count": len(page), "total": len(match), "marker": marker},
	}, nil
}

func hasDims(have, want []world.Dimension) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

type agentDimensionJSON struct {
	Name        string `json:"name"`
	Value       string `json:"value"`
	OriginValue string `json:"origin_value"`
}

func (s *Server) listAgentDimensionInfo(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	dimName := q.Get("dim_name")
	if dimName == "" {
		return 0, nil, badRequest("ces", "dim_name is required: one of %s", strings.Join(world.AgentDimNames, ", "))
	}
	offset, err := intParam("ces", q, "offset", 0, 0, 1<<31-1)
	if err != nil {
		return 0, nil, err
	}
	limit, err := intParam("ces", q, "limit", 1000, 1, 1000)
	if err != nil {
		return 0, nil, err
	}
	dims, err := s.world.AgentDimensions(r.PathValue("instance_id"), dimName)
	if err != nil {
		return 0, nil, worldError("ces", err)
	}
	out := []agentDimensionJSON{}
	total := 0
	for _, d := range dims {
		if v := q.Get("dim_value"); v != "" && v != d.Value {
			continue
		}
		if total >= offset && len(out) < limit {
			out = append(out, agentDimensionJSON{Name: d.Name, Value: d.Value, OriginValue: d.Origin})
		}
		total++
	}
	return http.StatusOK, map[string]any{"dimensions": out, "count": total}, nil
}
