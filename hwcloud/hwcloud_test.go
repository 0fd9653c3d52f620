package hwcloud

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/promslog"
	"go.yaml.in/yaml/v3"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// testClients builds clients for cfg with test credentials.
func testClients(t *testing.T, cfg Config, reg prometheus.Registerer) *Clients {
	t.Helper()
	if err := cfg.Resolve(env(map[string]string{EnvAK: "ak", EnvSK: "sk", EnvProjectID: "p"})); err != nil {
		t.Fatal(err)
	}
	cl, err := New(cfg, reg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	akFile := filepath.Join(dir, "ak")
	if err := os.WriteFile(akFile, []byte("AKFROMFILE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := map[string]string{EnvAK: "ak", EnvSK: "sk", EnvProjectID: "p1"}
	tests := []struct {
		name    string
		cfg     Config
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "credentials come from the SDK's environment variables", cfg: Config{Region: "cn-north-4"}, env: full,
			check: func(t *testing.T, c Config) {
				if c.AccessKey != "ak" || c.SecretKey != "sk" || c.ProjectID != "p1" {
					t.Errorf("got %q %q %q", c.AccessKey, c.SecretKey, c.ProjectID)
				}
			}},
		{name: "a key file wins over the environment and is trimmed", cfg: Config{Region: "r", AccessKeyFile: akFile}, env: full,
			check: func(t *testing.T, c Config) {
				if c.AccessKey != "AKFROMFILE" {
					t.Errorf("access key %q", c.AccessKey)
				}
			}},
		{name: "missing access key names the variable", cfg: Config{Region: "r"}, env: map[string]string{EnvSK: "s", EnvProjectID: "p"},
			wantErr: "cloud: access_key is empty: set access_key_file or HUAWEICLOUD_SDK_AK"},
		{name: "missing project id is an error, never an IAM lookup", cfg: Config{Region: "r"}, env: map[string]string{EnvAK: "a", EnvSK: "s"},
			wantErr: "cloud: project_id is empty"},
		{name: "unreadable key file is named", cfg: Config{Region: "r", SecretKeyFile: filepath.Join(dir, "nope")}, env: full,
			wantErr: "cloud: secret_key_file:"},
		{name: "no region and no endpoint", cfg: Config{}, env: full, wantErr: "cloud: region is empty"},
		{name: "endpoint override needs no region", cfg: Config{Endpoint: "http://127.0.0.1:9849"}, env: full},
		{name: "endpoint must be a URL", cfg: Config{Endpoint: "127.0.0.1:9849"}, env: full, wantErr: "cloud: endpoint:"},
		{name: "unknown service in endpoints", cfg: Config{Region: "r", Endpoints: map[string]string{"rds": "http://x"}}, env: full,
			wantErr: `cloud: endpoints: unknown service "rds"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			err := c.Resolve(env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c := Config{AccessKey: "AKVISIBLE", SecretKey: "SKVISIBLE"}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "VISIBLE") {
		t.Fatalf("secret printed:\n%s", out)
	}
}

func TestAPINames(t *testing.T) {
	tests := map[string][2]string{
		"BatchListMetricData":         {"POST", "/V1.0/p/batch-query-metric-data"},
		"ListAgentDimensionInfo":      {"GET", "/v2/p/instances/i-1/agent-dimensions"},
		"ShowScalingGroup":            {"GET", "/autoscaling-api/v1/p/scaling_group/g1"},
		"UpdateScalingGroup":          {"PUT", "/autoscaling-api/v1/p/scaling_group/g1"},
		"ListScalingGroups":           {"GET", "/autoscaling-api/v1/p/scaling_group"},
		"BatchRemoveScalingInstances": {"POST", "/autoscaling-api/v1/p/scaling_group_instance/g1/action"},
		"CreateServers":               {"POST", "/v1.1/p/cloudservers"},
		"ShowJob":                     {"GET", "/v1/p/jobs/j1"},
		"other":                       {"DELETE", "/v1/p/jobs/j1"},
	}
	for want, mp := range tests {
		if got := apiName(mp[0], mp[1]); got != want {
			t.Errorf("apiName(%s %s) = %s, want %s", mp[0], mp[1], got, want)
		}
	}
}

// A throttled call is retried and every attempt counted.
func TestThrottledCallIsRetriedAndCounted(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"AS.0001","message":"throttled"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"total_number":0,"start_number":0,"limit":100,"scaling_group_instances":[]}`))
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	cl := testClients(t, Config{Endpoint: srv.URL, RetryBaseDelay: time.Millisecond}, reg)
	if _, err := cl.AS.Members(context.Background(), "g1"); err != nil {
		t.Fatalf("call failed after retries: %v", err)
	}
	for _, name := range []string{"flexus_cloud_retries_total", "flexus_cloud_throttled_requests_total"} {
		if got := counterValue(t, reg, name, "as", "ListScalingInstances"); got != 2 {
			t.Errorf("%s{as, ListScalingInstances} = %v, want 2", name, got)
		}
		if got := counterValue(t, reg, name, "ces", "BatchListMetricData"); got != 0 {
			t.Errorf("%s{ces, BatchListMetricData} = %v, want 0: no such call was made", name, got)
		}
	}
	wantReq := `
# HELP flexus_cloud_requests_total HTTP requests to Huawei Cloud APIs, every attempt, by service, API and status code ("error" when no response came).
# TYPE flexus_cloud_requests_total counter
flexus_cloud_requests_total{api="ListScalingInstances",code="200",service="as"} 1
flexus_cloud_requests_total{api="ListScalingInstances",code="429",service="as"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantReq), "flexus_cloud_requests_total"); err != nil {
		t.Fatal(err)
	}
}

// A request that times out is retried: the SDK reports it as a plain
// *url.Error, which Retryable must still recognise.
func TestTimeoutIsRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"total_number":0,"start_number":0,"limit":100,"scaling_group_instances":[]}`))
	}))
	defer srv.Close()
	cl := testClients(t, Config{Endpoint: srv.URL, Timeout: 100 * time.Millisecond, RetryBaseDelay: time.Millisecond}, prometheus.NewRegistry())
	if _, err := cl.AS.Members(context.Background(), "g1"); err != nil {
		t.Fatalf("a timed-out call was not retried: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

func TestZeroRetriesCanBeSet(t *testing.T) {
	zero := 0
	c := Config{MaxRetries: &zero}
	c.SetDefaults()
	if c.Retries() != 0 {
		t.Fatalf("max_retries: 0 became %d", c.Retries())
	}
	var unset Config
	unset.SetDefaults()
	if unset.Retries() != 3 {
		t.Fatalf("default retries %d, want 3", unset.Retries())
	}
}

// A transient failure of a read is retried; a permanent one is not. A write
// that failed ambiguously may have landed, so it is not resent; a throttled
// write (certainly not applied) is.
func TestWhatIsRetried(t *testing.T) {
	read := func(cl *Clients) { _, _ = cl.AS.Group(context.Background(), "g1") }
	write := func(cl *Clients) { _ = cl.AS.SetDesired(context.Background(), "g1", 4) }
	for _, tc := range []struct {
		name         string
		call         func(*Clients)
		status       int
		wantAttempts int32
	}{
		{"a 500 on a read is retried", read, http.StatusInternalServerError, 2},
		{"a 429 on a read is retried", read, http.StatusTooManyRequests, 2},
		{"a 403 on a read is returned, not retried", read, http.StatusForbidden, 1},
		{"a 404 on a read is returned, not retried", read, http.StatusNotFound, 1},
		{"a 500 on a write is returned, not resent", write, http.StatusInternalServerError, 1},
		{"a 429 on a write is retried", write, http.StatusTooManyRequests, 2},
		{"a 400 on a write is returned, not resent", write, http.StatusBadRequest, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if calls.Add(1) == 1 {
					w.WriteHeader(tc.status)
					_, _ = w.Write([]byte(`{"error":{"code":"AS.0001","message":"try later"}}`))
					return
				}
				_, _ = w.Write([]byte(`{"scaling_group":{"scaling_group_id":"g1"}}`))
			}))
			defer srv.Close()
			tc.call(testClients(t, Config{Endpoint: srv.URL, RetryBaseDelay: time.Millisecond}, prometheus.NewRegistry()))
			if n := calls.Load(); n != tc.wantAttempts {
				t.Fatalf("%d attempts, want %d", n, tc.wantAttempts)
			}
		})
	}
}
