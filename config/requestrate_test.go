package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// requestRateGroup is a group with instance_capacity and the given
// request_rate block (indented under the group); capacity "" leaves it out.
func requestRateGroup(capacity, block string) string {
	y := "cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n"
	if capacity != "" {
		y += "    instance_capacity: " + capacity + "\n"
	}
	return y + block
}

func TestRequestRateDefaultsToACounterOfHTTPRequests(t *testing.T) {
	c, err := Parse([]byte(requestRateGroup("40", "    request_rate: {url: http://web:8080/metrics}\n")))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Groups[0].RequestRate
	if r.Type != RateCounter || r.Metric != "http_requests_total" || r.Timeout != 5*time.Second {
		t.Errorf("request_rate = %+v, want a counter http_requests_total read within 5s", *r)
	}
	if p := c.Groups[0].ScoringParams(c.Exporter); p.ServiceRate != 40 {
		t.Errorf("service rate %v, want instance_capacity 40", p.ServiceRate)
	}
	c, err = Parse([]byte(requestRateGroup("40", "    request_rate: {url: http://web:8080/metrics, type: gauge, metric: app_requests_per_second, timeout: 2s}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Groups[0].RequestRate; r.Type != RateGauge || r.Metric != "app_requests_per_second" || r.Timeout != 2*time.Second {
		t.Errorf("request_rate = %+v, want the gauge as written", *r)
	}
}

func TestBadRequestRatesNameTheFieldAndTheFix(t *testing.T) {
	for _, tc := range []struct {
		name, capacity, block, want string
	}{
		{"no url", "40", "    request_rate: {metric: http_requests_total}\n",
			"groups[0].request_rate.url: is empty: it must be set to the service's Prometheus metrics endpoint, e.g. http://web.internal:8080/metrics (line 6)"},
		{"unknown type", "40", "    request_rate: {url: http://web/metrics, type: histogram}\n",
			`groups[0].request_rate.type: "histogram" is unknown: use counter (a total of requests, e.g. http_requests_total) or gauge (requests per second) (line 6)`},
		{"a gauge without its name", "40", "    request_rate: {url: http://web/metrics, type: gauge}\n",
			"groups[0].request_rate.metric: is empty: a gauge has no default name, name the series in requests per second (line 6)"},
		{"no timeout", "40", "    request_rate: {url: http://web/metrics, timeout: 0s}\n",
			"groups[0].request_rate.timeout: 0s must be positive, e.g. 5s (line 6)"},
		{"the default capacity", "", "    request_rate: {url: http://web/metrics}\n",
			"groups[0].instance_capacity: must be set with request_rate: the rate counts instances as requests per second over what one instance serves at 100% (the default of 100 is no measure of the service) (line 3)"},
		{"a type on response_time", "40", "    response_time: {url: http://web/metrics, type: counter}\n",
			"groups[0].response_time.type: is request_rate's: remove it (response_time reads the type the endpoint declares) (line 6)"},
		{"a mistyped key", "40", "    request_rate: {url: http://web/metrics, tpye: gauge}\n",
			"groups[0].request_rate.tpye: unknown field: did you mean type? (line 6)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(requestRateGroup(tc.capacity, tc.block)))
			if err == nil {
				t.Fatalf("accepted, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("error\n  %q\nwant\n  %q", err.Error(), tc.want)
			}
		})
	}
}

func TestCheckRefusesARequestRateThatIsNoHTTPURL(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ url, wantErr string }{
		{"http://web.internal:8080/metrics", ""},
		{"cloudeye:SYS.ELB?lbaas_instance_id=x", `groups[0].request_rate.url: "cloudeye:SYS.ELB?lbaas_instance_id=x" must be an http(s) URL`},
		{"web:8080/metrics", `groups[0].request_rate.url: "web:8080/metrics" must be an http(s) URL`},
	} {
		p := filepath.Join(dir, "flexus.yml")
		y := requestRateGroup("40", "    request_rate: {url: \""+tc.url+"\"}\n")
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := CheckFor(p, ForExporter)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error: %v", tc.url, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want it to contain %q", tc.url, err, tc.wantErr)
		}
	}
}

func TestEffectiveRequestRateShowsItsDefaultsAndParsesBack(t *testing.T) {
	c, err := Parse([]byte(requestRateGroup("40", "    response_time: {url: http://web/metrics}\n    request_rate: {url: http://web/metrics}\n")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type: counter", "metric: http_requests_total", "instance_capacity: 40"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the effective config lacks %q:\n%s", want, out)
		}
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("the effective config does not parse back: %v\n%s", err, out)
	}
	forgetCooldownOutDefaulted(back, c)
	if !reflect.DeepEqual(back.Groups[0], c.Groups[0]) {
		t.Errorf("parsed back differs:\n got %+v\nwant %+v", back.Groups[0], c.Groups[0])
	}
}
