package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/scoring"
)

func TestFullExampleLoadsWithDefaults(t *testing.T) {
	c, err := Load("testdata/full.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ResolveSecrets(); err != nil {
		t.Fatal(err)
	}
	if c.Actuator.BearerToken != "s3cr3t-token" {
		t.Errorf("bearer token not read from file")
	}
	if p := c.Pricing; p.Refresh != 12*time.Hour || p.SpotDiscount != 0.7 || p.Flavors["x1.8u.16g"].Monthly != 520 || p.Currency != "CNY" {
		t.Errorf("pricing = %+v, want refresh 12h, spot discount 0.7, the monthly plan and the default currency", p)
	}
	gpu, ok := c.Group("gpu-pool")
	if !ok {
		t.Fatal("gpu-pool missing")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"backend defaults to as with as_group_id", gpu.Backend, BackendAS},
		{"a field set in the file overrides the seed", gpu.Signals[SignalCPU].ScaleOut, 0.75},
		{"fields not set keep the seed's values", gpu.Signals[SignalCPU].ScaleIn, 0.30},
		{"seed hold for cpu", gpu.Signals[SignalCPU].Hold, 5 * time.Minute},
		{"seed memory threshold", gpu.Signals[SignalMemory].ScaleOut, 0.80},
		{"a new signal is added", gpu.Signals[SignalGPU].ScaleOut, 0.80},
		{"a new signal takes its seed hold", gpu.Signals[SignalGPU].Hold, 5 * time.Minute},
		{"predictive's scale-out cooldown", gpu.Scaling.CooldownOut, DefaultCooldownOutPredictive},
		{"redis type defaults to list", gpu.Queue.Redis.Type, "list"},
		{"lead time is boot plus pipeline", gpu.LeadTime(), 150 * time.Second},
		{"cloudeye period defaults to raw", c.CloudEye.Period, "1"},
		{"metrics per request defaults to the API limit", c.CloudEye.MetricsPerRequest, 500},
		{"interval from file", c.Exporter.Interval, 30 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	web, _ := c.Group("web")
	if web.Backend != BackendECS {
		t.Errorf("backend with a tag defaults to ecs, got %s", web.Backend)
	}
	if _, ok := web.Signals[SignalResponseTime]; ok {
		t.Errorf("a disabled signal is removed")
	}
	if got := strings.Join(web.SignalNames(), ","); got != "cpu,memory,queue,error_rate" {
		t.Errorf("signal order %s", got)
	}
	if web.ECS.NamePrefix != "flexus-web" || !web.ECS.Spot || web.ECS.TerminationPolicy != "oldest" {
		t.Errorf("ecs template defaults: %+v", web.ECS)
	}
}

func TestDefaultCloudEyeBudgetStaysWithin500CallsAMinute(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte("{}"), &c); err != nil {
		t.Fatal(err)
	}
	// A full bucket and a minute of refill is the most a minute can spend.
	if most := float64(c.CloudEye.Burst) + c.CloudEye.RequestsPerSecond*60; most > 500 {
		t.Errorf("burst %d + 60 s × %v/s = %v calls in a minute; Cloud Eye allows 500", c.CloudEye.Burst, c.CloudEye.RequestsPerSecond, most)
	}
}

func TestSeedDefaultsMatchTheArticle(t *testing.T) {
	s := defaultSignals()
	want := map[string][4]float64{ // out, in, hold minutes, weight
		SignalCPU:          {0.70, 0.30, 5, 0.30},
		SignalMemory:       {0.80, 0.40, 5, 0.25},
		SignalResponseTime: {2.0, 0.5, 3, 0.25},
		SignalQueue:        {100, 50, 3, 0.15},
		SignalErrorRate:    {0.05, 0.01, 2, 0},
	}
	for name, w := range want {
		got := s[name]
		if got.ScaleOut != w[0] || got.ScaleIn != w[1] || got.Hold != time.Duration(w[2])*time.Minute || got.Weight != w[3] {
			t.Errorf("%s: got %+v, want %v", name, got, w)
		}
	}
}

func TestBadConfigsNameTheFieldAndTheFix(t *testing.T) {
	// Each error names the field by its path in the file, the fix, and the line.
	want := map[string]string{
		"unknown_key":               "groups[0].max_instance: unknown field: did you mean max_instances? (line 5)",
		"misspelt_section":          "actuater: unknown field: did you mean actuator? (line 2)",
		"misspelt_signal":           "groups[0].signals.memroy: unknown signal: did you mean memory? (line 6)",
		"no_groups":                 "groups: is empty: configure at least one scaling group",
		"max_below_min":             "groups[0].max_instances: 1 is below min_instances 3 (line 6)",
		"bad_name":                  `groups[0].name: "GPU_Pool" must be 1-64 lowercase letters, digits or dashes (line 3)`,
		"no_discovery":              "groups[0].discovery: set as_group_id (an Auto Scaling group) or tag (ECS servers by tag) (line 3)",
		"ecs_without_template":      "groups[0].ecs: is missing: backend ecs needs a template (flavor, image_id, subnet_id, ...) (line 3)",
		"out_below_in":              "groups[0].signals.cpu.scale_out: 0.2 must be above scale_in 0.3 (line 6)",
		"percent_not_ratio":         "groups[0].signals.memory.scale_out: 85 is above 1: memory is a ratio, write 0.85 for 85% (line 6)",
		"percent_for_ratio":         "groups[0].signals.cpu.scale_out: 70 is above 1: cpu is a ratio, write 0.7 for 70% (line 6)",
		"percent_sign":              "groups[0].signals.cpu.scale_out: `70%` is a percent: write the ratio 0.7 (line 6)",
		"unknown_signal":            "groups[0].signals.disk: unknown signal (known: cpu, memory, gpu, gpu_memory, npu, queue, response_time, error_rate) (line 6)",
		"bad_period":                `cloudeye.period: "60" is not a Cloud Eye period: use 1 (raw), 300, 1200, 3600, 14400 or 86400 (line 2)`,
		"bad_duration":              "exporter.interval: `soon` is not a duration: write a number with a unit, e.g. 30s, 5m or 1h (line 2)",
		"duration_without_unit":     "groups[1].scaling.cooldown_in: `600` is a number without a unit: a duration needs one, e.g. 600s or 10m (line 9)",
		"word_for_number":           "groups[0].max_instances: `eight` is not a whole number: write it in digits, e.g. 3 (line 5)",
		"two_mistakes":              "exporter.interval: `30` is a number without a unit: a duration needs one, e.g. 30s (line 2); groups[0].scaling.max_step_out: `two` is not a whole number: write it in digits, e.g. 3 (line 6)",
		"duplicate_group":           `groups[1].name: "a" is already the name of groups[0]: group names must be unique (line 5)`,
		"redis_type":                `groups[0].queue.redis.type: "hash" is unknown: use list, stream or zset (line 5)`,
		"no_region":                 "cloud: region is empty: set region (e.g. cn-north-4) or an endpoint override",
		"weights":                   "groups[0].signals: weights add up to 1.55, above 1: lower them (the seed uses 0.95 plus 0.05 for the trend; gpu, gpu_memory and npu are not counted) (line 5)",
		"max_step_out_zero":         "groups[0].scaling.max_step_out: 0 must be at least 1: a smaller step never scales out (pause the group with paused: true) (line 6)",
		"no_horizons":               "exporter.forecast_horizons: is empty: give at least one horizon, e.g. [5m, 15m, 1h] (line 3)",
		"empty":                     "the file is empty: at least one group is needed under groups:",
		"pricing_two_prices":        "pricing.flavors.x1.2u.4g: set exactly one of hourly, monthly or yearly (line 4)",
		"list_for_mapping":          "groups[0].signals: a list is not allowed here (it wants a mapping) (line 5)",
		"tab_indent":                "yaml: line 3: found a tab character that violates indentation: indent with spaces",
		"extra_without_mount_point": `groups[0].extra_metrics[0]: AGT.ECS disk_usedPercent is published per mount point: set dimension: mount_point and origin (e.g. "/") (line 6)`,
		"ecs_long_name":             `groups[0].ecs.name_prefix: "flexus-wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww" has 67 characters: ECS names servers created together with 1..59: set a shorter name_prefix (line 5)`,
		"dms_no_series":             "groups[0].queue.dms: namespace and metric are empty: name the Cloud Eye series, or set a preset: kafka_backlog (SYS.DMS group_msgs by kafka_instance_id), rabbitmq_ready (SYS.DMS messages_ready by rabbitmq_instance_id) (line 6)",
		"dms_consumer_group":        `groups[0].queue.dms.dimensions.kafka_groups: SYS.DMS group_msgs has only the dimension kafka_instance_id (DMS for Kafka "Kafka Metrics", instance metrics: messages accumulated in all consumer groups of the instance): remove kafka_groups (line 6)`,
		"risk_percent":              "groups[0].risk: 90 must be a quantile in [0.5, 0.999], e.g. 0.9 (line 5)",
		"drain_window_zero":         "groups[0].scaling.drain_window: 0s must be positive, e.g. 2m (line 6)",
		"headroom_budget":           "groups[0].headroom.budget: 0.5 must be 0 (off) or in [1, 10]: the headroom's cost over a week as a multiple of provisioning exactly each peak, e.g. 1.1 (line 5)",
	}
	files, _ := filepath.Glob("testdata/bad/*.yml")
	if len(files) != len(want) {
		t.Errorf("%d bad files, %d expectations: keep them in step", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(b)
			if err == nil {
				t.Fatalf("accepted, want %q", want[name])
			}
			if err.Error() != want[name] {
				t.Fatalf("error\n  %q\nwant\n  %q", err.Error(), want[name])
			}
		})
	}
}

func TestAZeroTheFileWritesStaysZero(t *testing.T) {
	for _, tc := range []struct {
		file      string
		got       func(g *Group) any
		want, def any
	}{
		{"cooldown_out", func(g *Group) any { return g.Scaling.CooldownOut }, time.Duration(0), time.Minute}, // predictive's
		{"weight", func(g *Group) any { return g.Signals[SignalMemory].Weight }, 0.0, 0.25},
		{"scale_in", func(g *Group) any { return g.Signals[SignalCPU].ScaleIn }, 0.0, 0.30},
		{"min_instances", func(g *Group) any { return g.MinInstances }, 0, 1},
		{"target", func(g *Group) any { return g.Signals[SignalCPU].Target }, 0.0, 0.6},
	} {
		t.Run(tc.file+" written as 0 stays 0", func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "zero", tc.file+".yml"))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.got(&c.Groups[0]); got != tc.want {
				t.Errorf("%s = %v, want the file's %v", tc.file, got, tc.want)
			}
			unset, err := Parse([]byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.got(&unset.Groups[0]); got != tc.def {
				t.Errorf("%s left out = %v, want the default %v", tc.file, got, tc.def)
			}
		})
	}
}

func TestZeroWeightsAndTargetsReachScoring(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func(p scoring.Params) bool
	}{
		{"weight", func(p scoring.Params) bool { _, ok := p.Weights[scoring.Memory]; return !ok }},
		{"scale_in", func(p scoring.Params) bool { return p.Thresholds[scoring.CPU].In == 0 }},
		{"target", func(p scoring.Params) bool { _, ok := p.Targets[scoring.CPU]; return !ok }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", "zero", tc.file+".yml"))
			if err != nil {
				t.Fatal(err)
			}
			p := c.Groups[0].ScoringParams(c.Exporter)
			if !tc.check(p) {
				t.Errorf("the zero did not reach scoring: %+v", p)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("scoring refuses the zero: %v", err)
			}
		})
	}
}

func TestEffectiveConfigShowsDefaultsAndParsesBack(t *testing.T) {
	for _, file := range []string{"testdata/full.yml", "testdata/zero/cooldown_out.yml"} {
		t.Run(file, func(t *testing.T) {
			c, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Effective(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"cooldown_out: ", "max_step_out: 10", "stale_after: 5m0s", "weight: 0.3"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the effective config lacks %q:\n%s", want, out)
				}
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("the effective config does not parse back: %v\n%s", err, out)
			}
			back.Advisor, c.Advisor = yaml.Node{}, yaml.Node{}
			if c.Actuator.BearerToken != "" {
				back.Actuator.BearerToken = c.Actuator.BearerToken
			}
			forgetCooldownOutDefaulted(back, c)
			if !reflect.DeepEqual(back, c) {
				t.Errorf("parsed back differs:\n got %+v\nwant %+v", back, c)
			}
		})
	}
}

func TestEffectiveConfigKeepsAZeroCooldownAndHidesSecrets(t *testing.T) {
	c, err := Parse([]byte("cloud: {region: r, access_key: AKIDEXAMPLE}\nactuator: {bearer_token: hunter2}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n    scaling: {cooldown_out: 0s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Effective(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "cooldown_out: 0s\n") || !strings.Contains(s, "cooldown_in: 5m0s\n") {
		t.Errorf("want cooldown_out: 0s next to the default cooldown_in: 5m0s:\n%s", s)
	}
	if strings.Contains(s, "hunter2") || strings.Contains(s, "AKIDEXAMPLE") || !strings.Contains(s, "<secret>") {
		t.Errorf("secrets must print as <secret>:\n%s", s)
	}
}

func TestCheckRefusesWhatTheActuatorCouldNotUse(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	group := "groups:\n  - name: a\n    discovery: {as_group_id: g}\n"
	for _, tc := range []struct {
		name, actuator, wantErr string
	}{
		{"readable token and writable state directory pass", "{bearer_token_file: " + token + ", state_file: " + filepath.Join(dir, "state.json") + "}", ""},
		{"a missing token file is named", "{bearer_token_file: " + filepath.Join(dir, "nope") + "}", "actuator.bearer_token_file: open"},
		{"an empty token file is named", "{bearer_token_file: " + empty + "}", "actuator.bearer_token_file: " + empty + " is empty"},
		{"a state file in a missing directory is named", "{insecure_no_auth: true, state_file: " + filepath.Join(dir, "gone", "state.json") + "}", "actuator.state_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "flexus.yml")
			if err := os.WriteFile(p, []byte("cloud: {region: r}\nactuator: "+tc.actuator+"\n"+group), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Check(p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestEachCommandChecksAndReadsOnlyItsOwnSecrets(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	// The README's example: the token file is not on this machine, and neither is the Redis password.
	file := "cloud: {region: r}\nactuator: {bearer_token_file: " + missing + ".token, state_file: " + filepath.Join(dir, "state.json") + "}\n" +
		"groups:\n  - name: a\n    discovery: {as_group_id: g}\n" +
		"    queue: {redis: {address: \"127.0.0.1:6379\", key: q, password_file: " + missing + ".redis}}\n"
	p := filepath.Join(dir, "flexus.yml")
	if err := os.WriteFile(p, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		f       For
		want    []string
		notWant string
	}{
		{"the exporter is refused for its Redis password, not for the actuator's token", ForExporter,
			[]string{"groups[0].queue.redis.password_file: open " + missing + ".redis"}, "bearer_token_file"},
		{"the actuator is refused for its token, not for the exporter's Redis password", ForActuator,
			[]string{"actuator.bearer_token_file: open " + missing + ".token"}, "password_file"},
		{"all names both problems", ForAll,
			[]string{"groups[0].queue.redis.password_file", "actuator.bearer_token_file"}, "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckFor(p, tc.f)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckFor: %v, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("CheckFor: %v, must not mention %q", err, tc.notWant)
			}
			c, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			err = c.ResolveSecretsFor(tc.f)
			if err == nil || strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("ResolveSecretsFor: %v, want only %s's secret named", err, tc.f)
			}
		})
	}
}

func TestTheActuatorNeedsATokenOrAnExplicitNoAuth(t *testing.T) {
	c, err := Parse([]byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Actuator.StateFile = filepath.Join(t.TempDir(), "state.json")
	if err := c.CheckFor(ForExporter); err != nil {
		t.Errorf("the exporter needs no token: %v", err)
	}
	if err := c.CheckFor(ForActuator); err == nil || !strings.Contains(err.Error(), "actuator.bearer_token_file: is not set") {
		t.Errorf("the actuator without a token: %v", err)
	}
	c.Actuator.InsecureNoAuth = true
	if err := c.CheckFor(ForActuator); err != nil {
		t.Errorf("insecure_no_auth is an explicit choice: %v", err)
	}
	p := filepath.Join(t.TempDir(), "flexus.yml")
	if err := os.WriteFile(p, []byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFor(p, ForExporter); err != nil {
		t.Errorf("the exporter starts without a token: %v", err)
	}
	var e *Error
	if _, err := LoadFor(p, ForActuator); !errors.As(err, &e) || e.File != p || e.Problems[0].Path != "actuator.bearer_token_file" {
		t.Errorf("the actuator starting without a token: %v, want a config error naming actuator.bearer_token_file", err)
	}
}

func TestPredictiveSettingsReachScoring(t *testing.T) {
	c, err := Parse([]byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n    instance_capacity: 40\n    risk: 0.95\n    scaling:\n      warm_up: 30s\n      drain_window: 5m\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := &c.Groups[0]
	p := g.ScoringParams(c.Exporter)
	if p.Risk != 0.95 || p.ServiceRate != 40 || p.DrainWindow != 5*time.Minute || p.Lead.WarmUp != 30*time.Second {
		t.Errorf("risk %v, service rate %v, drain window %v, warm-up %v; want 0.95, 40, 5m, 30s", p.Risk, p.ServiceRate, p.DrainWindow, p.Lead.WarmUp)
	}
	if got := g.LeadTime(); got != 180*time.Second || got != p.Lead.Total() {
		t.Errorf("lead time %v (scoring %v), want boot 60s + warm-up 30s + pipeline 90s = 3m", got, p.Lead.Total())
	}
}

func TestHeadroomDefaultsFieldByField(t *testing.T) {
	c, err := Parse([]byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n  - name: b\n    discovery: {as_group_id: h}\n    headroom: {budget: 1.5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Groups[0].ScoringParams(c.Exporter).Headroom; h != scoring.DefaultHeadroom() {
		t.Errorf("default headroom %+v, want %+v", h, scoring.DefaultHeadroom())
	}
	if h := c.Groups[1].ScoringParams(c.Exporter).Headroom; h.Budget != 1.5 || h.MaxUtilization != scoring.DefaultHeadroom().MaxUtilization {
		t.Errorf("headroom %+v, want budget 1.5 and the default max_utilization", h)
	}
}
