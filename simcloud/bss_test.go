package simcloud_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/global"
	sdkconfig "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	bss "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2"
	bssmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/bss/v2/model"
	"github.com/shopspring/decimal"

	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// bssClient is the SDK's BSS client, signed with global credentials as the
// real service requires.
func bssClient(t *testing.T, env *simcloudtest.Env, sk string) *bss.BssClient {
	t.Helper()
	cred, err := global.NewCredentialsBuilder().WithAk(simcloudtest.AccessKey).WithSk(sk).WithDomainId("0d0d0d0d0d0d0d0d").SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := bss.BssClientBuilder().WithEndpoints([]string{env.URL}).WithCredential(cred).
		WithHttpConfig(sdkconfig.DefaultHttpConfig().WithTimeout(5 * time.Second).WithRetries(0)).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return bss.NewBssClient(hc)
}

func hourOf(id, spec string) bssmodel.DemandProductInfo {
	one := decimal.NewFromInt(1)
	return bssmodel.DemandProductInfo{Id: id, CloudServiceType: "hws.service.type.ec2", ResourceType: "hws.resource.type.vm",
		ResourceSpec: spec, Region: simcloudtest.Region, UsageFactor: "Duration", UsageValue: &one, UsageMeasureId: 4, SubscriptionNum: 1}
}

func TestListOnDemandResourceRatingsPricesTheWorldsFlavours(t *testing.T) {
	env, _ := start(t)
	c := bssClient(t, env, simcloudtest.SecretKey)
	two := hourOf("b", "pi2.2xlarge.4.linux")
	two.SubscriptionNum = 2
	resp, err := c.ListOnDemandResourceRatings(&bssmodel.ListOnDemandResourceRatingsRequest{Body: &bssmodel.RateOnDemandReq{
		ProjectId: simcloudtest.ProjectID, ProductInfos: []bssmodel.DemandProductInfo{hourOf("a", "x1.2u.4g.linux"), two},
	}})
	if err != nil {
		t.Fatal(err)
	}
	x1, _ := world.LookupFlavor("x1.2u.4g")
	gpu, _ := world.LookupFlavor("pi2.2xlarge.4")
	want := map[string]float64{"a": x1.PricePerHour, "b": 2 * gpu.PricePerHour}
	if resp.ProductRatingResults == nil || len(*resp.ProductRatingResults) != 2 {
		t.Fatalf("want two results, got %+v", resp)
	}
	for _, r := range *resp.ProductRatingResults {
		if got := r.Amount.InexactFloat64(); got != want[*r.Id] {
			t.Errorf("product %s costs %g, want the world's %g", *r.Id, got, want[*r.Id])
		}
	}
	if total := resp.Amount.InexactFloat64(); total != want["a"]+want["b"] || resp.Currency == nil || *resp.Currency != "CNY" {
		t.Errorf("total %g %v, want %g CNY", total, resp.Currency, want["a"]+want["b"])
	}
}

func TestListOnDemandResourceRatingsRefusesWhatBSSRefuses(t *testing.T) {
	env, _ := start(t)
	c := bssClient(t, env, simcloudtest.SecretKey)
	many := make([]bssmodel.DemandProductInfo, 101)
	for i := range many {
		many[i] = hourOf(fmt.Sprint(i), "x1.2u.4g.linux")
	}
	byMonth := hourOf("a", "x1.2u.4g.linux")
	byMonth.UsageMeasureId = 2
	for _, tc := range []struct {
		name    string
		req     bssmodel.RateOnDemandReq
		status  int
		code    string
		message string
	}{
		{"an unknown flavour fails the whole inquiry", bssmodel.RateOnDemandReq{ProjectId: simcloudtest.ProjectID,
			ProductInfos: []bssmodel.DemandProductInfo{hourOf("a", "x1.2u.4g.linux"), hourOf("b", "x9.99u.1g.linux")}}, 400, "CBC.0100", "no product found"},
		{"more than 100 products", bssmodel.RateOnDemandReq{ProjectId: simcloudtest.ProjectID, ProductInfos: many}, 400, "CBC.0100", "1..100"},
		{"no products", bssmodel.RateOnDemandReq{ProjectId: simcloudtest.ProjectID}, 400, "CBC.0100", "1..100"},
		{"repeated ids", bssmodel.RateOnDemandReq{ProjectId: simcloudtest.ProjectID,
			ProductInfos: []bssmodel.DemandProductInfo{hourOf("a", "x1.2u.4g.linux"), hourOf("a", "x1.4u.8g.linux")}}, 400, "CBC.0100", "repeated"},
		{"a spec without operating system", bssmodel.RateOnDemandReq{ProjectId: simcloudtest.ProjectID,
			ProductInfos: []bssmodel.DemandProductInfo{hourOf("a", "x1.2u.4g")}}, 400, "CBC.0100", ".linux or .win"},
		{"a unit other than hours", bssmodel.RateOnDemandReq{ProjectId: simcloudtest.ProjectID,
			ProductInfos: []bssmodel.DemandProductInfo{byMonth}}, 400, "CBC.0100", "usage_measure_id"},
		{"another account's project", bssmodel.RateOnDemandReq{ProjectId: "someone-else",
			ProductInfos: []bssmodel.DemandProductInfo{hourOf("a", "x1.2u.4g.linux")}}, 403, "CBC.0151", "Access denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			_, err := c.ListOnDemandResourceRatings(&bssmodel.ListOnDemandResourceRatingsRequest{Body: &req})
			wantServiceError(t, err, tc.status, tc.code)
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %v should say %q", err, tc.message)
			}
		})
	}
}

func TestListOnDemandResourceRatingsVerifiesSignatures(t *testing.T) {
	env, _ := start(t)
	c := bssClient(t, env, "a-wrong-secret-key")
	_, err := c.ListOnDemandResourceRatings(&bssmodel.ListOnDemandResourceRatingsRequest{Body: &bssmodel.RateOnDemandReq{
		ProjectId: simcloudtest.ProjectID, ProductInfos: []bssmodel.DemandProductInfo{hourOf("a", "x1.2u.4g.linux")}}})
	wantServiceError(t, err, http.StatusUnauthorized, "APIGW.0301")
}

// The documented rules of docs/cloud-api.md, run by TestCloudRules.

func ratings(c *bss.BssClient, infos ...bssmodel.DemandProductInfo) error {
	_, err := c.ListOnDemandResourceRatings(&bssmodel.ListOnDemandResourceRatingsRequest{Body: &bssmodel.RateOnDemandReq{
		ProjectId: simcloudtest.ProjectID, ProductInfos: infos}})
	return err
}

func checkBSSProducts(t *testing.T) {
	env, _ := start(t)
	c := bssClient(t, env, simcloudtest.SecretKey)
	many := make([]bssmodel.DemandProductInfo, 101)
	for i := range many {
		many[i] = hourOf(fmt.Sprint(i), "x1.2u.4g.linux")
	}
	if err := ratings(c, many[:100]...); err != nil {
		t.Fatalf("100 products are allowed: %v", err)
	}
	wantServiceError(t, ratings(c, many...), 400, "CBC.0100")
	wantServiceError(t, ratings(c), 400, "CBC.0100")
	wantServiceError(t, ratings(c, hourOf("a", "x1.2u.4g.linux"), hourOf("a", "x1.4u.8g.linux")), 400, "CBC.0100")
}

func checkBSSUnknownProduct(t *testing.T) {
	env, _ := start(t)
	c := bssClient(t, env, simcloudtest.SecretKey)
	wantServiceError(t, ratings(c, hourOf("a", "x1.2u.4g.linux"), hourOf("b", "x1.99u.1g.linux")), 400, "CBC.0100")
}

func checkBSSGlobalCredentials(t *testing.T) {
	env, _ := start(t)
	status, body := signed(t, env, http.MethodPost, "/v2/bills/ratings/on-demand-resources",
		`{"project_id":"`+simcloudtest.ProjectID+`","product_infos":[]}`)
	if status != http.StatusUnauthorized || body["error_code"] != "APIGW.0301" {
		t.Fatalf("project-signed BSS request: %d %v, want 401 APIGW.0301 (BSS needs global credentials with X-Domain-Id)", status, body)
	}
}
