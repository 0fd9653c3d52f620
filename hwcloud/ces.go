package hwcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	ces "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	cesv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2"
	cesv2model "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2/model"
)

// Cloud Eye's per-call limits.
const (
	// MaxMetricsPerCall is BatchListMetricData's largest batch.
	MaxMetricsPerCall = 500
	listMetricsPage   = 1000
	agentDimsPage     = 100
)

type cesClient struct {
	v1 *ces.CesClient
	v2 *cesv2.CesClient
	c  caller
}

func (c *cesClient) Series(ctx context.Context, metrics []Metric, period string, from, to time.Time) ([]Series, error) {
	var bp cesmodel.BatchPeriod
	if err := json.Unmarshal([]byte(`"`+period+`"`), &bp); err != nil {
		return nil, fmt.Errorf("ces BatchListMetricData: period %q: %w", period, err)
	}
	filter := cesmodel.GetFilterEnum().AVERAGE
	var (
		out  []Series
		errs []error
	)
	for _, call := range planSeries(len(metrics), MaxMetricsPerCall, period, from, to) {
		batch := metrics[call.lo:call.hi]
		infos := make([]cesmodel.MetricInfo, len(batch))
		for j, m := range batch {
			dims := make([]cesmodel.MetricsDimension, len(m.Dims))
			for k, d := range m.Dims {
				dims[k] = cesmodel.MetricsDimension{Name: d.Name, Value: d.Value}
			}
			infos[j] = cesmodel.MetricInfo{Namespace: m.Namespace, MetricName: m.Name, Dimensions: dims}
		}
		resp, err := invoke[cesmodel.BatchListMetricDataResponse](ctx, c.c, "BatchListMetricData",
			c.v1.BatchListMetricDataInvoker(&cesmodel.BatchListMetricDataRequest{Body: &cesmodel.BatchListMetricDataRequestBody{
				Metrics: infos, Period: &bp, Filter: &filter, From: call.from.UnixMilli(), To: call.to.UnixMilli(),
			}}).BaseInvoker)
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if resp.Metrics == nil {
			continue
		}
		for _, md := range *resp.Metrics {
			s := Series{Metric: Metric{Namespace: strOr(md.Namespace), Name: md.MetricName}}
			if md.Dimensions != nil {
				for _, d := range *md.Dimensions {
					s.Dims = append(s.Dims, Dim{Name: strOr(d.Name), Value: strOr(d.Value)})
				}
			}
			for _, dp := range md.Datapoints {
				if dp.Average != nil {
					s.Points = append(s.Points, Point{At: time.UnixMilli(dp.Timestamp), Value: *dp.Average})
				}
			}
			sort.Slice(s.Points, func(a, b int) bool { return s.Points[a].At.Before(s.Points[b].At) })
			out = append(out, s)
		}
	}
	return mergeSeries(out), errors.Join(errs...)
}

func (c *cesClient) Metrics(ctx context.Context, namespace, name string) ([]Metric, error) {
	var out []Metric
	limit := int32(listMetricsPage)
	start := ""
	for page := 0; page < maxPages; page++ {
		ns, mn := namespace, name
		req := &cesmodel.ListMetricsRequest{Namespace: &ns, MetricName: &mn, Limit: &limit}
		if start != "" {
			s := start
			req.Start = &s
		}
		resp, err := invoke[cesmodel.ListMetricsResponse](ctx, c.c, "ListMetrics", c.v1.ListMetricsInvoker(req).BaseInvoker)
		if err != nil {
			return out, err
		}
		var got []cesmodel.MetricInfoList
		if resp.Metrics != nil {
			got = *resp.Metrics
		}
		for _, m := range got {
			mt := Metric{Namespace: m.Namespace, Name: m.MetricName}
			for _, d := range m.Dimensions {
				mt.Dims = append(mt.Dims, Dim{Name: strOr(d.Name), Value: strOr(d.Value)})
			}
			out = append(out, mt)
		}
		marker := ""
		if resp.MetaData != nil {
			marker = resp.MetaData.Marker
		}
		if len(got) < listMetricsPage || marker == "" || marker == start {
			return out, nil
		}
		start = marker
	}
	return out, fmt.Errorf("ces ListMetrics: %s %s: more than %d pages", namespace, name, maxPages)
}

func (c *cesClient) AgentDimensions(ctx context.Context, instanceID, dim string) (map[string]string, error) {
	// The enum is built from its JSON form. Cloud Eye takes mount_point,
	// disk, proc, gpu and raid; there is no npu (docs/cloud-api.md).
	var name cesv2model.ListAgentDimensionInfoRequestDimName
	if err := json.Unmarshal([]byte(`"`+dim+`"`), &name); err != nil {
		return nil, fmt.Errorf("ces ListAgentDimensionInfo: dimension %q: %w", dim, err)
	}
	limit := int32(agentDimsPage)
	resp, err := invoke[cesv2model.ListAgentDimensionInfoResponse](ctx, c.c, "ListAgentDimensionInfo",
		c.v2.ListAgentDimensionInfoInvoker(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: instanceID, DimName: name, Limit: &limit}).BaseInvoker)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if resp.Dimensions != nil {
		for _, d := range *resp.Dimensions {
			if d.Value != nil && d.OriginValue != nil && *d.OriginValue != "" {
				out[*d.Value] = *d.OriginValue
			}
		}
	}
	return out, nil
}
