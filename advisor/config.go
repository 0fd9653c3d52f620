package advisor

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// Mode says what the advisor may do with a proposal.
type Mode string

const (
	// ModeOff sends nothing and publishes nothing.
	ModeOff Mode = "off"
	// ModeAdvise publishes the clamped proposal as flexus_advisor_* metrics only.
	ModeAdvise Mode = "advise"
	// ModeApply also hands the clamped proposal to the exporter as the thresholds in force.
	ModeApply Mode = "apply"
)

// Defaults: DeepSeek's OpenAI-compatible endpoint, hourly, 30 s per request.
const (
	DefaultBaseURL      = "https://api.deepseek.com/v1"
	DefaultModel        = "deepseek-chat"
	DefaultInterval     = time.Hour
	DefaultInitialDelay = 5 * time.Minute
	DefaultTimeout      = 30 * time.Second
	DefaultMaxTokens    = 600
	// In mode apply: a signal's setting changes at most every 6 h, only by 5 % or more,
	// and an applied value lasts a day unless the model proposes it again.
	DefaultMinChange         = 0.05
	DefaultMinChangeInterval = 6 * time.Hour
	DefaultExpireAfter       = 24 * time.Hour
	// Every proposal is replayed over the group's recent history before it
	// counts (check.go): at least an hour of it, in at most two minutes.
	DefaultCheckMinHistory = time.Hour
	DefaultCheckTimeout    = 2 * time.Minute
)

// Config is the advisor's block of the configuration file. It is a plain struct:
// the shared config package may embed it; DefaultConfig and Validate work without YAML.
type Config struct {
	Mode    Mode   `yaml:"mode"`
	BaseURL string `yaml:"base_url"`
	Model   string `yaml:"model"`
	// Exactly one of APIKey, APIKeyFile and APIKeyEnv gives the key when the mode is not off.
	APIKey     config.Secret `yaml:"api_key,omitempty"`
	APIKeyFile string        `yaml:"api_key_file,omitempty"`
	APIKeyEnv  string        `yaml:"api_key_env,omitempty"`
	Interval   time.Duration `yaml:"interval"`
	// InitialDelay keeps a crash-looping exporter from calling the model on every start.
	InitialDelay time.Duration `yaml:"initial_delay"`
	Timeout      time.Duration `yaml:"timeout"`
	MaxTokens    int           `yaml:"max_tokens"`
	// JSONMode sends response_format json_object; turn it off for endpoints that refuse it.
	JSONMode bool `yaml:"json_mode"`
	// MinChange is the smallest change applied, as a fraction of the value in force
	// (of the enabled signals' total for weights): smaller proposals are noise.
	MinChange float64 `yaml:"min_change"`
	// MinChangeInterval is the least time between two applied changes of one signal's
	// thresholds, and between two changes of the weights.
	MinChangeInterval time.Duration `yaml:"min_change_interval"`
	// ExpireAfter is how long an applied value lasts; the config's value then returns.
	// A proposal that repeats the value in force renews it.
	ExpireAfter time.Duration `yaml:"expire_after"`
	// CheckMinHistory is the least history a proposal is replayed over; with
	// less, the check is counted insufficient_history and the proposal passes.
	CheckMinHistory time.Duration `yaml:"check_min_history"`
	// CheckTimeout bounds one replay (both runs, and the wait for another
	// group's replay); one that runs out passes the proposal, counted error.
	CheckTimeout time.Duration `yaml:"check_timeout"`
}

// DefaultConfig returns the defaults: mode off, DeepSeek endpoint and model.
func DefaultConfig() Config {
	return Config{
		Mode:         ModeOff,
		BaseURL:      DefaultBaseURL,
		Model:        DefaultModel,
		Interval:     DefaultInterval,
		InitialDelay: DefaultInitialDelay,
		Timeout:      DefaultTimeout,
		MaxTokens:    DefaultMaxTokens,
		JSONMode:     true,

		MinChange:         DefaultMinChange,
		MinChangeInterval: DefaultMinChangeInterval,
		ExpireAfter:       DefaultExpireAfter,
		CheckMinHistory:   DefaultCheckMinHistory,
		CheckTimeout:      DefaultCheckTimeout,
	}
}

// UnmarshalYAML sets the defaults, refuses unknown keys (yaml.v3 does not pass
// KnownFields down to custom unmarshalers), decodes, then validates.
func (c *Config) UnmarshalYAML(value *yaml.Node) error {
	*c = DefaultConfig()
	if value.Kind == yaml.MappingNode {
		known := yamlKeys(reflect.TypeOf(*c))
		for i := 0; i+1 < len(value.Content); i += 2 {
			k := value.Content[i]
			if !known[k.Value] {
				return fmt.Errorf("advisor: line %d: unknown field %q (known: %s)", k.Line, k.Value, strings.Join(sortedKeys(known), ", "))
			}
		}
	}
	type plain Config
	if err := value.Decode((*plain)(c)); err != nil {
		return fmt.Errorf("advisor: %w", err)
	}
	return c.Validate()
}

// Decode reads the advisor block kept raw by the shared config package. An absent
// block (a zero Node) gives DefaultConfig, which is mode off.
func Decode(node *yaml.Node) (Config, error) {
	if node == nil || node.Kind == 0 {
		return DefaultConfig(), nil
	}
	var c Config
	if err := node.Decode(&c); err != nil {
		return Config{}, err
	}
	return c, nil
}

func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// Small set: insertion sort keeps the import list short.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Validate checks the fields; each error names the field and the fix.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeOff:
		return nil
	case ModeAdvise, ModeApply:
	default:
		return fmt.Errorf("advisor: mode %q is not valid: use off, advise or apply", c.Mode)
	}
	var errs []error
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		errs = append(errs, fmt.Errorf("advisor: base_url is empty: set it, e.g. %s", DefaultBaseURL))
	case err != nil:
		errs = append(errs, fmt.Errorf("advisor: base_url does not parse: %w", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("advisor: base_url %q must be an absolute http or https URL, e.g. %s", u.Redacted(), DefaultBaseURL))
	case u.User != nil:
		errs = append(errs, errors.New("advisor: base_url must not carry credentials: use api_key_file or api_key_env"))
	}
	if strings.TrimSpace(c.Model) == "" {
		errs = append(errs, fmt.Errorf("advisor: model is empty: set it, e.g. %s", DefaultModel))
	}
	sources := 0
	for _, set := range []bool{c.APIKey != "", c.APIKeyFile != "", c.APIKeyEnv != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		errs = append(errs, fmt.Errorf("advisor: %d of api_key, api_key_file, api_key_env are set: set exactly one (api_key_env names an environment variable)", sources))
	}
	if c.Interval < time.Minute {
		errs = append(errs, fmt.Errorf("advisor: interval %s is below 1m: use e.g. 1h", c.Interval))
	}
	if c.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("advisor: initial_delay %s is negative: use 0 or more", c.InitialDelay))
	}
	if c.Timeout <= 0 || c.Timeout >= c.Interval {
		errs = append(errs, fmt.Errorf("advisor: timeout %s must be above 0 and below interval %s: use e.g. 30s", c.Timeout, c.Interval))
	}
	if c.MaxTokens <= 0 {
		errs = append(errs, fmt.Errorf("advisor: max_tokens %d must be above 0: use e.g. %d", c.MaxTokens, DefaultMaxTokens))
	}
	if !(c.MinChange >= 0 && c.MinChange < 1) {
		errs = append(errs, fmt.Errorf("advisor: min_change %g must be in [0, 1): use e.g. %g (5 %% of the value in force)", c.MinChange, DefaultMinChange))
	}
	if c.MinChangeInterval < 0 {
		errs = append(errs, fmt.Errorf("advisor: min_change_interval %s is negative: use 0 or more, e.g. %s", c.MinChangeInterval, DefaultMinChangeInterval))
	}
	if c.ExpireAfter < c.Interval {
		errs = append(errs, fmt.Errorf("advisor: expire_after %s is below interval %s: applied values would lapse between two proposals; use e.g. %s", c.ExpireAfter, c.Interval, DefaultExpireAfter))
	}
	if c.CheckMinHistory < 10*time.Minute {
		errs = append(errs, fmt.Errorf("advisor: check_min_history %s is below 10m: a replay that short judges nothing; use e.g. %s", c.CheckMinHistory, DefaultCheckMinHistory))
	}
	if c.CheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("advisor: check_timeout %s must be above 0: use e.g. %s", c.CheckTimeout, DefaultCheckTimeout))
	}
	return errors.Join(errs...)
}

// LogValue keeps the key out of logs whatever handler prints the config.
func (c Config) LogValue() slog.Value {
	base := c.BaseURL
	if u, err := url.Parse(c.BaseURL); err == nil {
		base = u.Redacted()
	}
	return slog.GroupValue(
		slog.String("mode", string(c.Mode)),
		slog.String("base_url", base),
		slog.String("model", c.Model),
		slog.String("api_key_source", c.keySource()),
		slog.Duration("interval", c.Interval),
		slog.Duration("timeout", c.Timeout),
		slog.Float64("min_change", c.MinChange),
		slog.Duration("min_change_interval", c.MinChangeInterval),
		slog.Duration("expire_after", c.ExpireAfter),
		slog.Duration("check_min_history", c.CheckMinHistory),
		slog.Duration("check_timeout", c.CheckTimeout),
	)
}

func (c Config) keySource() string {
	switch {
	case c.APIKeyFile != "":
		return "file " + c.APIKeyFile
	case c.APIKeyEnv != "":
		return "env " + c.APIKeyEnv
	case c.APIKey != "":
		return "inline"
	}
	return "none"
}

// apiKey reads the key from where the config says. Errors name the source, never the value.
func (c Config) apiKey(getenv func(string) string) (string, error) {
	switch {
	case c.APIKey != "":
		return string(c.APIKey), nil
	case c.APIKeyFile != "":
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("advisor: reading api_key_file: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return "", fmt.Errorf("advisor: api_key_file %s is empty: write the key into it", c.APIKeyFile)
		}
		return k, nil
	case c.APIKeyEnv != "":
		k := strings.TrimSpace(getenv(c.APIKeyEnv))
		if k == "" {
			return "", fmt.Errorf("advisor: environment variable %s (api_key_env) is empty or unset: export the key in it", c.APIKeyEnv)
		}
		return k, nil
	}
	return "", errors.New("advisor: no api key configured: set api_key_file or api_key_env")
}
