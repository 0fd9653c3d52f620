package hwcloud

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/invoker"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/invoker/retry"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	asregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/region"
	ces "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1"
	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	cesregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/region"
	cesv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2"
	cesv2model "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2/model"
	ecs "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"
	ecsregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/region"
	"github.com/prometheus/client_golang/prometheus"
)

// CES holds the Cloud Eye calls the project makes (v1 metric data, v2 agent
// dimensions).
type CES interface {
	BatchListMetricData(*cesmodel.BatchListMetricDataRequest) (*cesmodel.BatchListMetricDataResponse, error)
	ShowMetricData(*cesmodel.ShowMetricDataRequest) (*cesmodel.ShowMetricDataResponse, error)
	ListMetrics(*cesmodel.ListMetricsRequest) (*cesmodel.ListMetricsResponse, error)
	ListAgentDimensionInfo(*cesv2model.ListAgentDimensionInfoRequest) (*cesv2model.ListAgentDimensionInfoResponse, error)
}

// AS holds the Auto Scaling calls the project makes.
type AS interface {
	ListScalingGroups(*asmodel.ListScalingGroupsRequest) (*asmodel.ListScalingGroupsResponse, error)
	ShowScalingGroup(*asmodel.ShowScalingGroupRequest) (*asmodel.ShowScalingGroupResponse, error)
	UpdateScalingGroup(*asmodel.UpdateScalingGroupRequest) (*asmodel.UpdateScalingGroupResponse, error)
	ListScalingInstances(*asmodel.ListScalingInstancesRequest) (*asmodel.ListScalingInstancesResponse, error)
	BatchRemoveScalingInstances(*asmodel.BatchRemoveScalingInstancesRequest) (*asmodel.BatchRemoveScalingInstancesResponse, error)
	ListScalingActivityLogs(*asmodel.ListScalingActivityLogsRequest) (*asmodel.ListScalingActivityLogsResponse, error)
}

// ECS holds the Elastic Cloud Server calls the project makes.
type ECS interface {
	CreateServers(*ecsmodel.CreateServersRequest) (*ecsmodel.CreateServersResponse, error)
	ListServersDetails(*ecsmodel.ListServersDetailsRequest) (*ecsmodel.ListServersDetailsResponse, error)
	DeleteServers(*ecsmodel.DeleteServersRequest) (*ecsmodel.DeleteServersResponse, error)
	ShowJob(*ecsmodel.ShowJobRequest) (*ecsmodel.ShowJobResponse, error)
}

// Clients are the SDK clients built from one Config.
type Clients struct {
	CES CES
	AS  AS
	ECS ECS
	// ProjectID is the resolved project, for requests that carry it.
	ProjectID string
}

var (
	_ CES = (*cesClient)(nil)
	_ AS  = (*asClient)(nil)
	_ ECS = (*ecsClient)(nil)
)

// New builds the clients. cfg must have been resolved (Config.Resolve). reg
// receives the request metrics; pass nil to leave them unregistered.
func New(cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*Clients, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" || cfg.ProjectID == "" {
		return nil, errors.New("hwcloud: credentials and project_id must be resolved before building clients (Config.Resolve)")
	}
	cfg.SetDefaults()
	m := newMetrics(reg)
	r := retrier{max: cfg.Retries(), baseDelayMs: int32(cfg.RetryBaseDelay.Milliseconds()), metrics: m, logger: logger}

	build := func(svc string, builder *core.HcHttpClientBuilder, safeRegion func(string) (*region.Region, error)) (*core.HcHttpClient, error) {
		cred, err := basic.NewCredentialsBuilder().
			WithAk(string(cfg.AccessKey)).
			WithSk(string(cfg.SecretKey)).
			WithProjectId(cfg.ProjectID).
			SafeBuild()
		if err != nil {
			return nil, fmt.Errorf("hwcloud: %s credentials: %w", svc, err)
		}
		transport := &http.Transport{
			Proxy:           http.ProxyFromEnvironment,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}, //nolint:gosec // opt-in, for simcloud's self-signed certificate
		}
		hc := sdkconfig.DefaultHttpConfig().
			WithTimeout(cfg.Timeout).
			WithHttpRoundTripper(&countingTransport{service: svc, next: transport, metrics: m})
		builder = builder.WithCredential(cred).WithHttpConfig(hc)
		if ep := cfg.endpointOverride(svc); ep != "" {
			builder = builder.WithEndpoints([]string{ep})
		} else {
			reg, err := safeRegion(cfg.Region)
			if err != nil {
				return nil, fmt.Errorf("hwcloud: region %q has no %s endpoint in the SDK: set cloud.endpoints.%s", cfg.Region, svc, svc)
			}
			builder = builder.WithRegion(reg)
		}
		c, err := builder.SafeBuild()
		if err != nil {
			return nil, fmt.Errorf("hwcloud: building %s client: %w", svc, err)
		}
		return c, nil
	}

	cesHC, err := build(ServiceCES, ces.CesClientBuilder(), cesregion.SafeValueOf)
	if err != nil {
		return nil, err
	}
	cesV2HC, err := build(ServiceCES, cesv2.CesClientBuilder(), cesregion.SafeValueOf)
	if err != nil {
		return nil, err
	}
	asHC, err := build(ServiceAS, as.AsClientBuilder(), asregion.SafeValueOf)
	if err != nil {
		return nil, err
	}
	ecsHC, err := build(ServiceECS, ecs.EcsClientBuilder(), ecsregion.SafeValueOf)
	if err != nil {
		return nil, err
	}
	return &Clients{
		CES:       &cesClient{v1: ces.NewCesClient(cesHC), v2: cesv2.NewCesClient(cesV2HC), r: r.forService(ServiceCES)},
		AS:        &asClient{c: as.NewAsClient(asHC), r: r.forService(ServiceAS)},
		ECS:       &ecsClient{c: ecs.NewEcsClient(ecsHC), r: r.forService(ServiceECS)},
		ProjectID: cfg.ProjectID,
	}, nil
}

// retrier drives the SDK invoker's own retry loop: 429, 5xx and connection
// failures are retried with equal-jitter exponential backoff.
type retrier struct {
	service     string
	max         int
	baseDelayMs int32
	metrics     *metrics
	logger      *slog.Logger
}

func (r retrier) forService(s string) retrier { r.service = s; return r }

// Retryable reports whether an SDK error is transient: throttling, a server
// error, or a failure below HTTP (timeouts and refused connections come back
// from the SDK as plain *url.Error).
func Retryable(err error) bool {
	var sre *sdkerr.ServiceResponseError
	switch {
	case err == nil:
		return false
	case errors.As(err, &sre):
		return sre.StatusCode == http.StatusTooManyRequests || sre.StatusCode >= 500
	default:
		var ce *sdkerr.ConnectionError
		var te *sdkerr.RequestTimeoutError
		var ue *url.Error
		var ne net.Error
		return errors.As(err, &ce) || errors.As(err, &te) || errors.As(err, &ue) || errors.As(err, &ne)
	}
}

// StatusCode returns the HTTP status of an SDK error, or 0 when none came back.
func StatusCode(err error) int {
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		return sre.StatusCode
	}
	return 0
}

// writes are the calls that change the cloud. After an ambiguous failure (a
// timeout, a 5xx) a write may have landed, so it is not resent blindly: the
// caller re-reads fresh state and decides again. Only a 429, which the cloud
// refused before doing anything, is retried here.
func isWrite(api string) bool {
	switch api {
	case "UpdateScalingGroup", "BatchRemoveScalingInstances", "CreateServers", "DeleteServers":
		return true
	}
	return false
}

func invoke[T any](r retrier, api string, bi *invoker.BaseInvoker) (*T, error) {
	attempts := 0
	write := isWrite(api)
	checker := func(_ interface{}, err error) bool {
		attempts++
		if !Retryable(err) || attempts > r.max {
			return false
		}
		if write && StatusCode(err) != http.StatusTooManyRequests {
			return false
		}
		r.metrics.retries.WithLabelValues(r.service, api).Inc()
		if r.logger != nil {
			r.logger.Debug("retrying cloud request", "service", r.service, "api", api, "attempt", attempts, "err", err)
		}
		return true
	}
	strategy := retry.NewEqualJitter()
	strategy.SetBaseDelay(r.baseDelayMs)
	res, err := bi.WithRetry(r.max, checker, strategy).Invoke()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.service, api, err)
	}
	out, ok := res.(*T)
	if !ok {
		return nil, fmt.Errorf("%s %s: unexpected response type %T", r.service, api, res)
	}
	return out, nil
}

type cesClient struct {
	v1 *ces.CesClient
	v2 *cesv2.CesClient
	r  retrier
}

func (c *cesClient) BatchListMetricData(req *cesmodel.BatchListMetricDataRequest) (*cesmodel.BatchListMetricDataResponse, error) {
	return invoke[cesmodel.BatchListMetricDataResponse](c.r, "BatchListMetricData", c.v1.BatchListMetricDataInvoker(req).BaseInvoker)
}

func (c *cesClient) ShowMetricData(req *cesmodel.ShowMetricDataRequest) (*cesmodel.ShowMetricDataResponse, error) {
	return invoke[cesmodel.ShowMetricDataResponse](c.r, "ShowMetricData", c.v1.ShowMetricDataInvoker(req).BaseInvoker)
}

func (c *cesClient) ListMetrics(req *cesmodel.ListMetricsRequest) (*cesmodel.ListMetricsResponse, error) {
	return invoke[cesmodel.ListMetricsResponse](c.r, "ListMetrics", c.v1.ListMetricsInvoker(req).BaseInvoker)
}

func (c *cesClient) ListAgentDimensionInfo(req *cesv2model.ListAgentDimensionInfoRequest) (*cesv2model.ListAgentDimensionInfoResponse, error) {
	return invoke[cesv2model.ListAgentDimensionInfoResponse](c.r, "ListAgentDimensionInfo", c.v2.ListAgentDimensionInfoInvoker(req).BaseInvoker)
}

type asClient struct {
	c *as.AsClient
	r retrier
}

func (c *asClient) ListScalingGroups(req *asmodel.ListScalingGroupsRequest) (*asmodel.ListScalingGroupsResponse, error) {
	return invoke[asmodel.ListScalingGroupsResponse](c.r, "ListScalingGroups", c.c.ListScalingGroupsInvoker(req).BaseInvoker)
}

func (c *asClient) ShowScalingGroup(req *asmodel.ShowScalingGroupRequest) (*asmodel.ShowScalingGroupResponse, error) {
	return invoke[asmodel.ShowScalingGroupResponse](c.r, "ShowScalingGroup", c.c.ShowScalingGroupInvoker(req).BaseInvoker)
}

func (c *asClient) UpdateScalingGroup(req *asmodel.UpdateScalingGroupRequest) (*asmodel.UpdateScalingGroupResponse, error) {
	return invoke[asmodel.UpdateScalingGroupResponse](c.r, "UpdateScalingGroup", c.c.UpdateScalingGroupInvoker(req).BaseInvoker)
}

func (c *asClient) ListScalingInstances(req *asmodel.ListScalingInstancesRequest) (*asmodel.ListScalingInstancesResponse, error) {
	return invoke[asmodel.ListScalingInstancesResponse](c.r, "ListScalingInstances", c.c.ListScalingInstancesInvoker(req).BaseInvoker)
}

func (c *asClient) BatchRemoveScalingInstances(req *asmodel.BatchRemoveScalingInstancesRequest) (*asmodel.BatchRemoveScalingInstancesResponse, error) {
	return invoke[asmodel.BatchRemoveScalingInstancesResponse](c.r, "BatchRemoveScalingInstances", c.c.BatchRemoveScalingInstancesInvoker(req).BaseInvoker)
}

func (c *asClient) ListScalingActivityLogs(req *asmodel.ListScalingActivityLogsRequest) (*asmodel.ListScalingActivityLogsResponse, error) {
	return invoke[asmodel.ListScalingActivityLogsResponse](c.r, "ListScalingActivityLogs", c.c.ListScalingActivityLogsInvoker(req).BaseInvoker)
}

type ecsClient struct {
	c *ecs.EcsClient
	r retrier
}

func (c *ecsClient) CreateServers(req *ecsmodel.CreateServersRequest) (*ecsmodel.CreateServersResponse, error) {
	return invoke[ecsmodel.CreateServersResponse](c.r, "CreateServers", c.c.CreateServersInvoker(req).BaseInvoker)
}

func (c *ecsClient) ListServersDetails(req *ecsmodel.ListServersDetailsRequest) (*ecsmodel.ListServersDetailsResponse, error) {
	return invoke[ecsmodel.ListServersDetailsResponse](c.r, "ListServersDetails", c.c.ListServersDetailsInvoker(req).BaseInvoker)
}

func (c *ecsClient) DeleteServers(req *ecsmodel.DeleteServersRequest) (*ecsmodel.DeleteServersResponse, error) {
	return invoke[ecsmodel.DeleteServersResponse](c.r, "DeleteServers", c.c.DeleteServersInvoker(req).BaseInvoker)
}

func (c *ecsClient) ShowJob(req *ecsmodel.ShowJobRequest) (*ecsmodel.ShowJobResponse, error) {
	return invoke[ecsmodel.ShowJobResponse](c.r, "ShowJob", c.c.ShowJobInvoker(req).BaseInvoker)
}
