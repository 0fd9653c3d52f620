package hwcloud_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/hwcloud"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

func billingClients(t *testing.T, domain string) (*hwcloud.Clients, *prometheus.Registry) {
	t.Helper()
	env := simcloudtest.Start(t, simcloudtest.Config(), clock.NewFake(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)))
	cc := hwcloud.Config{Endpoint: env.URL}
	if err := cc.Resolve(func(k string) string {
		return map[string]string{hwcloud.EnvAK: simcloudtest.AccessKey, hwcloud.EnvSK: simcloudtest.SecretKey,
			hwcloud.EnvProjectID: simcloudtest.ProjectID, hwcloud.EnvDomainID: domain}[k]
	}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cl, err := hwcloud.New(cc, reg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return cl, reg
}

func TestHourlyPricesComeFromTheBillingAPI(t *testing.T) {
	cl, reg := billingClients(t, "0d0d0d0d0d0d0d0d")
	got, err := cl.Billing.HourlyPrices(context.Background(), simcloudtest.Region, []string{"x1.2u.4g", "x1.4u.8g"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x1.2u.4g", "x1.4u.8g"} {
		f, _ := world.LookupFlavor(name)
		if q := got[name]; q.Amount != f.PricePerHour || q.Official != f.PricePerHour || q.Currency != "CNY" {
			t.Errorf("%s: quote %+v, want %g CNY", name, q, f.PricePerHour)
		}
	}
	if n := testutil.ToFloat64(counter(t, reg, "ListOnDemandResourceRatings")); n != 1 {
		t.Errorf("two flavours took %g calls, want 1", n)
	}
}

func TestHourlyPricesSplitAtTheHundredProductLimit(t *testing.T) {
	cl, reg := billingClients(t, "0d0d0d0d0d0d0d0d")
	flavors := make([]string, 150)
	for i := range flavors {
		flavors[i] = "x1.2u.4g"
	}
	if _, err := cl.Billing.HourlyPrices(context.Background(), simcloudtest.Region, flavors); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(counter(t, reg, "ListOnDemandResourceRatings")); n != 2 {
		t.Errorf("150 products took %g calls, want 2 (100 per call)", n)
	}
}

func TestHourlyPricesOfAnUnknownFlavourDoNotHideTheOthers(t *testing.T) {
	cl, _ := billingClients(t, "0d0d0d0d0d0d0d0d")
	got, err := cl.Billing.HourlyPrices(context.Background(), simcloudtest.Region, []string{"x1.2u.4g", "x1.99u.1g"})
	if err == nil || !strings.Contains(err.Error(), "x1.99u.1g") {
		t.Fatalf("the error should name the flavour without a price, got %v", err)
	}
	if _, ok := got["x1.2u.4g"]; !ok || len(got) != 1 {
		t.Fatalf("the known flavour should still be priced, got %v", got)
	}
}

func TestBillingNeedsTheDomainID(t *testing.T) {
	cl, _ := billingClients(t, "")
	if cl.Billing != nil {
		t.Fatal("without cloud.domain_id there must be no billing client: the SDK would look the domain up through IAM")
	}
}

// counter is flexus_cloud_requests_total of api, summed over codes.
func counter(t *testing.T, reg *prometheus.Registry, api string) prometheus.Collector {
	t.Helper()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "flexus_cloud_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" && l.GetValue() == api {
					c.Add(m.GetCounter().GetValue())
				}
			}
		}
	}
	return c
}
