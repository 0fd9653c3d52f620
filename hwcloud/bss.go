package hwcloud

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/global"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	bss "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2"
	bssmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/model"
	bssregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/region"
	"github.com/shopspring/decimal"
)

// Billing is Huawei Cloud's price list (BSS, the billing centre).
type Billing interface {
	// HourlyPrices is the price of one Linux instance of each flavour in
	// region for one hour on demand, as this account pays it (after its
	// discounts), in as many calls as the 100-products-per-call limit needs.
	// A flavour the price list does not know is left out of the answer and
	// named in the error, joined with any other.
	HourlyPrices(ctx context.Context, region string, flavors []string) (map[string]Quote, error)
}

// Quote is a price of one instance-hour.
type Quote struct {
	// Amount is what the account pays; Official is the list price before discounts.
	Amount, Official float64
	// Currency is the API's, "" meaning CNY.
	Currency string
}

var _ Billing = (*bssClient)(nil)

// ListOnDemandResourceRatings's documented limits and codes
// (https://support.huaweicloud.com/api-oce/bcloud_01001.html; SDK
// services/bss/v2/model/model_rate_on_demand_req.go and
// model_demand_product_info.go).
const (
	// MaxProductsPerRating is product_infos' largest list.
	MaxProductsPerRating = 100
	// ECS on demand: the service and resource type codes, billed by
	// "Duration" in hours (usage_measure_id 4).
	bssServiceTypeECS  = "hws.service.type.ec2"
	bssResourceTypeVM  = "hws.resource.type.vm"
	bssUsageFactor     = "Duration"
	bssUsageMeasureHrs = 4
	// bssRegion is where the SDK finds BSS: one global endpoint.
	bssRegion = "cn-north-1"
)

type bssClient struct {
	sdk       *bss.BssClient
	c         caller
	projectID string
}

// newBSS builds the billing client. BSS is a global service: it signs with
// the account (domain) id rather than a project, which must be given, since
// the SDK's own lookup would call IAM.
func newBSS(cfg Config, rt http.RoundTripper, c caller) (*bssClient, error) {
	cred, err := global.NewCredentialsBuilder().
		WithAk(string(cfg.AccessKey)).
		WithSk(string(cfg.SecretKey)).
		WithDomainId(cfg.DomainID).
		SafeBuild()
	if err != nil {
		return nil, fmt.Errorf("hwcloud: bss credentials: %w", err)
	}
	hc := sdkconfig.DefaultHttpConfig().WithTimeout(cfg.Timeout).WithHttpRoundTripper(rt)
	builder := bss.BssClientBuilder().WithCredential(cred).WithHttpConfig(hc)
	if ep := cfg.endpointOverride(ServiceBSS); ep != "" {
		builder = builder.WithEndpoints([]string{ep})
	} else {
		reg, err := bssregion.SafeValueOf(bssRegion)
		if err != nil {
			return nil, fmt.Errorf("hwcloud: the SDK has no bss endpoint: set cloud.endpoints.bss: %w", err)
		}
		builder = builder.WithRegion(reg)
	}
	hcClient, err := builder.SafeBuild()
	if err != nil {
		return nil, fmt.Errorf("hwcloud: building bss client: %w", err)
	}
	return &bssClient{sdk: bss.NewBssClient(hcClient), c: c, projectID: cfg.ProjectID}, nil
}

// bssTransport is the round-tripper every other service gets, for BSS.
func bssTransport(cfg Config, inflight *calls, m *metrics) http.RoundTripper {
	base := &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify}, //nolint:gosec // opt-in, for simcloud's self-signed certificate
	}
	return &contextTransport{calls: inflight, next: &countingTransport{service: ServiceBSS, next: base, metrics: m}}
}

func (b *bssClient) HourlyPrices(ctx context.Context, region string, flavors []string) (map[string]Quote, error) {
	out := map[string]Quote{}
	var errs []error
	for i := 0; i < len(flavors); i += MaxProductsPerRating {
		batch := flavors[i:min(i+MaxProductsPerRating, len(flavors))]
		got, err := b.rate(ctx, region, batch)
		if err != nil && len(batch) > 1 && StatusCode(err) >= 400 && StatusCode(err) < 500 && ctx.Err() == nil {
			// The API refuses the whole list when one product is unknown:
			// ask one by one, so the others still get their price.
			got, err = map[string]Quote{}, nil
			for _, f := range batch {
				one, e := b.rate(ctx, region, []string{f})
				for k, v := range one {
					got[k] = v
				}
				err = errors.Join(err, e)
			}
		}
		for k, v := range got {
			out[k] = v
		}
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return out, errors.Join(errs...)
}

func (b *bssClient) rate(ctx context.Context, region string, flavors []string) (map[string]Quote, error) {
	one := decimal.NewFromInt(1)
	infos := make([]bssmodel.DemandProductInfo, len(flavors))
	for i, f := range flavors {
		infos[i] = bssmodel.DemandProductInfo{
			Id:               strconv.Itoa(i),
			CloudServiceType: bssServiceTypeECS,
			ResourceType:     bssResourceTypeVM,
			ResourceSpec:     f + ".linux",
			Region:           region,
			UsageFactor:      bssUsageFactor,
			UsageValue:       &one,
			UsageMeasureId:   bssUsageMeasureHrs,
			SubscriptionNum:  1,
		}
	}
	precision := int32(1)
	resp, err := invoke[bssmodel.ListOnDemandResourceRatingsResponse](ctx, b.c, "ListOnDemandResourceRatings",
		b.sdk.ListOnDemandResourceRatingsInvoker(&bssmodel.ListOnDemandResourceRatingsRequest{Body: &bssmodel.RateOnDemandReq{
			ProjectId: b.projectID, InquiryPrecision: &precision, ProductInfos: infos,
		}}).BaseInvoker)
	if err != nil {
		return nil, fmt.Errorf("pricing %v in %s: %w", flavors, region, err)
	}
	currency := ""
	if resp.Currency != nil {
		currency = *resp.Currency
	}
	out := map[string]Quote{}
	if resp.ProductRatingResults != nil {
		for _, r := range *resp.ProductRatingResults {
			if r.Id == nil || r.Amount == nil {
				continue
			}
			i, err := strconv.Atoi(*r.Id)
			if err != nil || i < 0 || i >= len(flavors) {
				continue
			}
			q := Quote{Amount: r.Amount.InexactFloat64(), Currency: currency}
			q.Official = q.Amount
			if r.OfficialWebsiteAmount != nil {
				q.Official = r.OfficialWebsiteAmount.InexactFloat64()
			}
			out[flavors[i]] = q
		}
	}
	var missing []string
	for _, f := range flavors {
		if _, ok := out[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("bss ListOnDemandResourceRatings: no price for %v in %s", missing, region)
	}
	return out, nil
}
