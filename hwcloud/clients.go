package hwcloud

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	asregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/region"
	ces "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1"
	cesregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/region"
	cesv2 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2"
	ecs "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2"
	ecsregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/region"
	"github.com/prometheus/client_golang/prometheus"
)

// Clients are the cloud's services, built from one Config.
type Clients struct {
	CES CloudEye
	AS  AutoScaling
	ECS Servers
	// Billing is nil without cloud.domain_id.
	Billing Billing
}

var (
	_ CloudEye    = (*cesClient)(nil)
	_ AutoScaling = (*asClient)(nil)
	_ Servers     = (*ecsClient)(nil)
)

// New builds the clients over the Huawei SDK. cfg must have been resolved
// (Config.Resolve). reg receives the request metrics; pass nil to leave them
// unregistered.
func New(cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*Clients, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" || cfg.ProjectID == "" {
		return nil, errors.New("hwcloud: credentials and project_id must be resolved before building clients (Config.Resolve)")
	}
	cfg.SetDefaults()
	m := newMetrics(reg)
	inflight := newCalls()
	callerFor := func(svc string) caller {
		return caller{service: svc, max: cfg.Retries(), baseDelay: cfg.RetryBaseDelay, metrics: m, logger: logger, calls: inflight}
	}

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
			WithHttpRoundTripper(&contextTransport{calls: inflight, next: &countingTransport{service: svc, next: transport, metrics: m}})
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
	cl := &Clients{
		CES: &cesClient{v1: ces.NewCesClient(cesHC), v2: cesv2.NewCesClient(cesV2HC), c: callerFor(ServiceCES)},
		AS:  &asClient{sdk: as.NewAsClient(asHC), c: callerFor(ServiceAS)},
		ECS: &ecsClient{sdk: ecs.NewEcsClient(ecsHC), c: callerFor(ServiceECS)},
	}
	if cfg.DomainID != "" {
		b, err := newBSS(cfg, bssTransport(cfg, inflight, m), callerFor(ServiceBSS))
		if err != nil {
			return nil, err
		}
		cl.Billing = b
	}
	return cl, nil
}
