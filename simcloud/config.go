package simcloud

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
	"github.com/flexus-autoscaler/flexus/trace"
)

// Config is simcloud's configuration file.
type Config struct {
	// ProjectID is the only project simcloud serves (default HUAWEICLOUD_SDK_PROJECT_ID).
	ProjectID string `yaml:"project_id"`
	// AccessKey and SecretKey verify request signatures (defaults HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK).
	AccessKey string        `yaml:"access_key"`
	SecretKey config.Secret `yaml:"secret_key"`
	// MaxClockSkew is how far X-Sdk-Date may be from the wall clock (default 15m).
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// MaxBodyBytes is the largest request body accepted (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Faults by API name (e.g. BatchListMetricData), "*" for every API.
	Faults map[string]Fault `yaml:"faults"`
	// RateLimits are calls per minute by API name, answered beyond with 429
	// ces.0429 as Cloud Eye does (default BatchListMetricData: 500); 0 lifts a limit.
	RateLimits map[string]int `yaml:"rate_limits"`
	// Redis, when its address is set, receives each group's queue as a list (world.QueueConfig.RedisKey).
	Redis RedisConfig  `yaml:"redis"`
	World world.Config `yaml:"world"`
}

// Fault is injected trouble for one API: a chance of 429, a chance of 500,
// and added latency.
type Fault struct {
	ThrottleProbability float64        `yaml:"throttle_probability" json:"throttle_probability"`
	ErrorProbability    float64        `yaml:"error_probability" json:"error_probability"`
	Latency             model.Duration `yaml:"latency" json:"latency"`
}

// RedisConfig is where queue lengths are mirrored.
type RedisConfig struct {
	Address  string        `yaml:"address"`
	Password config.Secret `yaml:"password"`
	DB       int           `yaml:"db"`
	// MaxItems caps a mirrored list (default 100000).
	MaxItems int `yaml:"max_items"`
}

// DefaultRateLimits are the documented per-minute limits simcloud enforces
// unless the config says otherwise.
var DefaultRateLimits = map[string]int{"BatchListMetricData": 500}

// Environment variables the SDK itself reads, used as credential defaults.
const (
	EnvAccessKey = "HUAWEICLOUD_SDK_AK"
	EnvSecretKey = "HUAWEICLOUD_SDK_SK"
	EnvProjectID = "HUAWEICLOUD_SDK_PROJECT_ID"
)

// LoadFile reads and validates a config file. Unknown keys are refused,
// credentials default to the SDK's environment variables (read through
// getenv), and trace files are read relative to the config file.
func LoadFile(path string, getenv func(string) string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("simcloud config: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(path), getenv)
	if err != nil {
		return Config{}, fmt.Errorf("simcloud config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes a config, fills defaults, loads trace files relative to dir
// and validates.
func Parse(data []byte, dir string, getenv func(string) string) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, err
	}
	if getenv != nil {
		if cfg.AccessKey == "" {
			cfg.AccessKey = getenv(EnvAccessKey)
		}
		if cfg.SecretKey == "" {
			cfg.SecretKey = config.Secret(getenv(EnvSecretKey))
		}
		if cfg.ProjectID == "" {
			cfg.ProjectID = getenv(EnvProjectID)
		}
	}
	for i := range cfg.World.Groups {
		d := &cfg.World.Groups[i].Demand
		if d.Scenario != world.ScenarioTrace || d.Trace != nil || d.TraceFile == "" {
			continue
		}
		p := d.TraceFile
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		s, err := trace.Load(p)
		if err != nil {
			return Config{}, fmt.Errorf("world: group %q: demand.trace_file: %w", cfg.World.Groups[i].Name, err)
		}
		d.Trace = &s
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// SetDefaults fills zero fields.
func (c *Config) SetDefaults() {
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 15 * time.Minute
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Redis.MaxItems == 0 {
		c.Redis.MaxItems = 100000
	}
	if c.RateLimits == nil {
		c.RateLimits = map[string]int{}
	}
	for api, n := range DefaultRateLimits {
		if _, set := c.RateLimits[api]; !set {
			c.RateLimits[api] = n
		}
	}
	c.World.SetDefaults()
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.ProjectID == "" {
		return fmt.Errorf("project_id is empty: set it or %s", EnvProjectID)
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		return fmt.Errorf("access_key and secret_key are needed to verify signatures: set them or %s and %s", EnvAccessKey, EnvSecretKey)
	}
	if c.MaxClockSkew < 0 || c.MaxBodyBytes < 0 {
		return errors.New("max_clock_skew and max_body_bytes must not be negative")
	}
	for api, n := range c.RateLimits {
		if !knownAPI(api) {
			return fmt.Errorf("rate_limits: unknown API %q: use one of %s", api, strings.Join(apiNames(), ", "))
		}
		if n < 0 {
			return fmt.Errorf("rate_limits: %s: %d calls per minute must not be negative (0 lifts the limit)", api, n)
		}
	}
	names := make([]string, 0, len(c.Faults))
	for n := range c.Faults {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := validateFault(n, c.Faults[n]); err != nil {
			return err
		}
	}
	return c.World.Validate()
}

func validateFault(api string, f Fault) error {
	if api != "*" && !knownAPI(api) {
		return fmt.Errorf("faults: unknown API %q: use one of %s or \"*\"", api, strings.Join(apiNames(), ", "))
	}
	if f.ThrottleProbability < 0 || f.ThrottleProbability > 1 || f.ErrorProbability < 0 || f.ErrorProbability > 1 {
		return fmt.Errorf("faults: %s: throttle_probability and error_probability must be within 0..1", api)
	}
	if f.Latency < 0 || time.Duration(f.Latency) > time.Minute {
		return fmt.Errorf("faults: %s: latency %s must be within 0..1m", api, f.Latency)
	}
	return nil
}
