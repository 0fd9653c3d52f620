package cost

import (
	"fmt"
	"sort"
	"time"
)

// Hours a monthly and a yearly plan are spread over (Huawei bills a month as
// 730 hours when it converts, 8760 a year).
const (
	HoursPerMonth = 730
	HoursPerYear  = 8760
)

// DefaultCurrency labels costs when neither the API nor the config names one:
// BSS answers in CNY unless it says otherwise (ListOnDemandResourceRatings:
// "currency: empty means CNY").
const DefaultCurrency = "CNY"

// Pricing is the `pricing:` section of the config: what overrides or adjusts
// the prices the cloud's price list (BSS) gives.
type Pricing struct {
	// Currency labels every cost metric when the API does not say (default CNY).
	Currency string `yaml:"currency"`
	// Refresh is how often the exporter looks the prices up again (default 24h).
	Refresh time.Duration `yaml:"refresh"`
	// SpotDiscount is the fraction a spot instance costs less than on demand,
	// 0..0.95 (default DefaultSpotDiscount, also when 0, as the backtest
	// reads it); it prices every instance the cloud lists as spot.
	SpotDiscount float64 `yaml:"spot_discount"`
	// Flavors price a flavour instead of the API: per hour on demand, or a
	// monthly or yearly plan, which is paid whatever the instance does.
	Flavors map[string]FlavorPrice `yaml:"flavors"`
}

// FlavorPrice is one flavour's price; exactly one field is set.
type FlavorPrice struct {
	Hourly  float64 `yaml:"hourly"`
	Monthly float64 `yaml:"monthly"`
	Yearly  float64 `yaml:"yearly"`
}

// SetDefaults fills the fields left empty.
func (p *Pricing) SetDefaults() {
	if p.Currency == "" {
		p.Currency = DefaultCurrency
	}
	if p.Refresh == 0 {
		p.Refresh = 24 * time.Hour
	}
	if p.SpotDiscount == 0 {
		p.SpotDiscount = DefaultSpotDiscount
	}
}

// FieldError is a wrong field of the pricing section: its path below
// `pricing:` and what to do.
type FieldError struct{ Field, Msg string }

func (e *FieldError) Error() string { return "pricing." + e.Field + ": " + e.Msg }

// Validate names the first wrong field and how to fix it (a *FieldError).
func (p *Pricing) Validate() error {
	if p.Refresh < time.Minute {
		return &FieldError{"refresh", fmt.Sprintf("%s is below 1m: prices change daily at most, use 24h", p.Refresh)}
	}
	if p.SpotDiscount < 0 || p.SpotDiscount > 0.95 {
		return &FieldError{"spot_discount", fmt.Sprintf("%g is outside 0..0.95 (0.7 means spot costs 30%% of on demand)", p.SpotDiscount)}
	}
	names := make([]string, 0, len(p.Flavors))
	for n := range p.Flavors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fp := p.Flavors[n]
		set := 0
		for _, v := range []float64{fp.Hourly, fp.Monthly, fp.Yearly} {
			if v < 0 {
				return &FieldError{"flavors." + n, "a price must not be negative"}
			}
			if v > 0 {
				set++
			}
		}
		if set != 1 {
			return &FieldError{"flavors." + n, "set exactly one of hourly, monthly or yearly"}
		}
	}
	return nil
}

// Source says where a price came from: the `source` label of the price metric.
type Source string

// The sources of a price.
const (
	SourceAPI    Source = "api"    // BSS ListOnDemandResourceRatings
	SourceConfig Source = "config" // pricing.flavors.<flavour>.hourly
	SourcePlan   Source = "plan"   // pricing.flavors.<flavour>.monthly or yearly
)

// Quote is what the cloud's price list says one instance-hour of a flavour
// costs this account, after its discounts.
type Quote struct {
	PerHour  float64
	Currency string
}

// Price is what one instance of a group costs per hour.
type Price struct {
	PerHour  float64
	Currency string
	Source   Source
	// Fixed is a plan's price: paid whether the instance runs or not, so
	// scaling in saves nothing on it.
	Fixed bool
}

// Resolve prices one instance of flavor: the config's price wins over the
// API's quote; spot instances get the spot discount on an on-demand price.
func (p Pricing) Resolve(flavor string, spot bool, quotes map[string]Quote) (Price, error) {
	if fp, ok := p.Flavors[flavor]; ok {
		switch {
		case fp.Monthly > 0:
			return Price{PerHour: fp.Monthly / HoursPerMonth, Currency: p.currency(), Source: SourcePlan, Fixed: true}, nil
		case fp.Yearly > 0:
			return Price{PerHour: fp.Yearly / HoursPerYear, Currency: p.currency(), Source: SourcePlan, Fixed: true}, nil
		default:
			return Price{PerHour: p.spot(fp.Hourly, spot), Currency: p.currency(), Source: SourceConfig}, nil
		}
	}
	q, ok := quotes[flavor]
	if !ok {
		return Price{}, fmt.Errorf("cost: no price for flavour %q: the price list did not answer for it; set pricing.flavors.%s.hourly", flavor, flavor)
	}
	cur := q.Currency
	if cur == "" {
		cur = p.currency()
	}
	return Price{PerHour: p.spot(q.PerHour, spot), Currency: cur, Source: SourceAPI}, nil
}

func (p Pricing) spot(perHour float64, spot bool) float64 {
	if spot {
		return perHour * (1 - p.SpotDiscount)
	}
	return perHour
}

func (p Pricing) currency() string {
	if p.Currency == "" {
		return DefaultCurrency
	}
	return p.Currency
}
