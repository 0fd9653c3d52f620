// Package hwcloud is the cloud as the project sees it: Auto Scaling groups,
// ECS servers and Cloud Eye series behind context-first interfaces in the
// project's terms (domain.go), built over the Huawei SDK from config. Paging,
// per-call limits, retries, error classification (Retryable) and the request
// budget (Throttle) live here, not in the callers; every HTTP attempt is
// counted by service, API and status code. hwcloudtest holds the fake that
// unit tests use.
package hwcloud

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// The SDK's own environment variables, honoured the same way here.
const (
	EnvAK        = "HUAWEICLOUD_SDK_AK"
	EnvSK        = "HUAWEICLOUD_SDK_SK"
	EnvProjectID = "HUAWEICLOUD_SDK_PROJECT_ID"
	EnvDomainID  = "HUAWEICLOUD_SDK_DOMAIN_ID"
)

// Services we talk to; the keys of Config.Endpoints.
const (
	ServiceCES = "ces"
	ServiceAS  = "as"
	ServiceECS = "ecs"
	ServiceBSS = "bss"
)

var services = []string{ServiceCES, ServiceAS, ServiceECS, ServiceBSS}

// Config is the `cloud:` section of the configuration file.
type Config struct {
	Region    string `yaml:"region"`
	ProjectID string `yaml:"project_id"`
	// DomainID is the account id BSS (prices) signs with; without it prices
	// come only from the config (default HUAWEICLOUD_SDK_DOMAIN_ID).
	DomainID string `yaml:"domain_id"`
	// Endpoint overrides every service's endpoint (simcloud, a private gateway).
	Endpoint string `yaml:"endpoint"`
	// Endpoints overrides one service's endpoint; it wins over Endpoint.
	Endpoints map[string]string `yaml:"endpoints"`

	AccessKey     commoncfg.Secret `yaml:"access_key"`
	SecretKey     commoncfg.Secret `yaml:"secret_key"`
	AccessKeyFile string           `yaml:"access_key_file"`
	SecretKeyFile string           `yaml:"secret_key_file"`

	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is a pointer so that an explicit 0 (no retries) differs from unset.
	MaxRetries         *int          `yaml:"max_retries"`
	RetryBaseDelay     time.Duration `yaml:"retry_base_delay"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
}

// SetDefaults fills the fields left empty in the file.
func (c *Config) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRetries == nil {
		n := 3
		c.MaxRetries = &n
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = 200 * time.Millisecond
	}
}

// Resolve reads credentials from files or the SDK's environment variables and
// checks that nothing the SDK would otherwise look up on its own (IAM project
// lookup, the metadata service) is missing. Errors name the field and the fix.
func (c *Config) Resolve(getenv func(string) string) error {
	if err := fillSecret(&c.AccessKey, c.AccessKeyFile, getenv(EnvAK), "access_key"); err != nil {
		return err
	}
	if err := fillSecret(&c.SecretKey, c.SecretKeyFile, getenv(EnvSK), "secret_key"); err != nil {
		return err
	}
	if c.ProjectID == "" {
		c.ProjectID = getenv(EnvProjectID)
	}
	if c.DomainID == "" {
		c.DomainID = getenv(EnvDomainID)
	}
	switch {
	case c.AccessKey == "":
		return fmt.Errorf("cloud: access_key is empty: set access_key_file or %s", EnvAK)
	case c.SecretKey == "":
		return fmt.Errorf("cloud: secret_key is empty: set secret_key_file or %s", EnvSK)
	case c.ProjectID == "":
		return fmt.Errorf("cloud: project_id is empty: set it in the config or %s (the SDK's IAM lookup is disabled on purpose)", EnvProjectID)
	}
	return c.Validate()
}

// Validate checks the fields that do not depend on the environment.
func (c *Config) Validate() error {
	if c.Timeout < 0 {
		return fmt.Errorf("cloud: timeout %s is negative", c.Timeout)
	}
	if n := c.Retries(); n < 0 || n > 10 {
		return fmt.Errorf("cloud: max_retries %d is outside 0..10", n)
	}
	if c.Endpoint != "" {
		if err := checkURL(c.Endpoint); err != nil {
			return fmt.Errorf("cloud: endpoint: %w", err)
		}
	}
	for svc, ep := range c.Endpoints {
		if !contains(services, svc) {
			return fmt.Errorf("cloud: endpoints: unknown service %q (known: %s)", svc, strings.Join(services, ", "))
		}
		if err := checkURL(ep); err != nil {
			return fmt.Errorf("cloud: endpoints.%s: %w", svc, err)
		}
	}
	for _, svc := range services {
		if c.endpointOverride(svc) == "" && c.Region == "" {
			return errors.New("cloud: region is empty: set region (e.g. cn-north-4) or an endpoint override")
		}
	}
	return nil
}

// Retries is how many times a failed call is retried (3 unless set).
func (c *Config) Retries() int {
	if c.MaxRetries == nil {
		return 3
	}
	return *c.MaxRetries
}

func (c *Config) endpointOverride(svc string) string {
	if ep := c.Endpoints[svc]; ep != "" {
		return ep
	}
	return c.Endpoint
}

func fillSecret(dst *commoncfg.Secret, file, env, field string) error {
	if *dst != "" {
		return nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("cloud: %s_file: %w", field, err)
		}
		*dst = commoncfg.Secret(strings.TrimSpace(string(b)))
		return nil
	}
	*dst = commoncfg.Secret(env)
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL with a host", s)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
