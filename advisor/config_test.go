package advisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func validOn() Config {
	c := DefaultConfig()
	c.Mode = ModeAdvise
	c.APIKeyEnv = "DEEPSEEK_API_KEY"
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string // substring; "" means valid
	}{
		{name: "the defaults are valid and off", mutate: func(c *Config) { *c = DefaultConfig() }},
		{name: "mode off needs no key", mutate: func(c *Config) { c.Mode = ModeOff; c.APIKeyEnv = "" }},
		{name: "advise with a key from the environment is valid", mutate: func(*Config) {}},
		{name: "apply with a key file is valid", mutate: func(c *Config) { c.Mode = ModeApply; c.APIKeyEnv = ""; c.APIKeyFile = "/run/secrets/deepseek" }},
		{name: "an unknown mode names the valid ones", mutate: func(c *Config) { c.Mode = "auto" },
			wantErr: `advisor: mode "auto" is not valid: use off, advise or apply`},
		{name: "an empty base_url is refused", mutate: func(c *Config) { c.BaseURL = "" },
			wantErr: "advisor: base_url is empty: set it, e.g. https://api.deepseek.com/v1"},
		{name: "a base_url without scheme is refused", mutate: func(c *Config) { c.BaseURL = "api.deepseek.com/v1" },
			wantErr: `advisor: base_url "api.deepseek.com/v1" must be an absolute http or https URL`},
		{name: "a base_url with credentials is refused without echoing them", mutate: func(c *Config) { c.BaseURL = "https://me:hunter2@example.com/v1" },
			wantErr: "advisor: base_url must not carry credentials: use api_key_file or api_key_env"},
		{name: "an empty model is refused", mutate: func(c *Config) { c.Model = " " },
			wantErr: "advisor: model is empty: set it, e.g. deepseek-chat"},
		{name: "no key source is refused", mutate: func(c *Config) { c.APIKeyEnv = "" },
			wantErr: "advisor: 0 of api_key, api_key_file, api_key_env are set: set exactly one"},
		{name: "two key sources are refused", mutate: func(c *Config) { c.APIKeyFile = "/k" },
			wantErr: "advisor: 2 of api_key, api_key_file, api_key_env are set: set exactly one"},
		{name: "an interval under a minute is refused", mutate: func(c *Config) { c.Interval = 30 * time.Second },
			wantErr: "advisor: interval 30s is below 1m: use e.g. 1h"},
		{name: "a timeout as long as the interval is refused", mutate: func(c *Config) { c.Timeout = time.Hour },
			wantErr: "advisor: timeout 1h0m0s must be above 0 and below interval 1h0m0s"},
		{name: "a zero timeout is refused", mutate: func(c *Config) { c.Timeout = 0 },
			wantErr: "advisor: timeout 0s must be above 0"},
		{name: "a negative initial delay is refused", mutate: func(c *Config) { c.InitialDelay = -time.Second },
			wantErr: "advisor: initial_delay -1s is negative"},
		{name: "zero max_tokens is refused", mutate: func(c *Config) { c.MaxTokens = 0 },
			wantErr: "advisor: max_tokens 0 must be above 0"},
		{name: "min_change 0 applies every change", mutate: func(c *Config) { c.MinChange = 0 }},
		{name: "a min_change of 1 is refused", mutate: func(c *Config) { c.MinChange = 1 },
			wantErr: "advisor: min_change 1 must be in [0, 1): use e.g. 0.05"},
		{name: "min_change_interval 0 removes the rate limit", mutate: func(c *Config) { c.MinChangeInterval = 0 }},
		{name: "a negative min_change_interval is refused", mutate: func(c *Config) { c.MinChangeInterval = -time.Minute },
			wantErr: "advisor: min_change_interval -1m0s is negative"},
		{name: "an expire_after below the interval is refused", mutate: func(c *Config) { c.ExpireAfter = 30 * time.Minute },
			wantErr: "advisor: expire_after 30m0s is below interval 1h0m0s: applied values would lapse between two proposals"},
		{name: "a check over ten minutes of history is allowed", mutate: func(c *Config) { c.CheckMinHistory = 10 * time.Minute }},
		{name: "a check over less than ten minutes of history is refused", mutate: func(c *Config) { c.CheckMinHistory = 5 * time.Minute },
			wantErr: "advisor: check_min_history 5m0s is below 10m: a replay that short judges nothing; use e.g. 1h0m0s"},
		{name: "a zero check_timeout is refused", mutate: func(c *Config) { c.CheckTimeout = 0 },
			wantErr: "advisor: check_timeout 0s must be above 0: use e.g. 2m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validOn()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("the error quotes the password: %v", err)
			}
		})
	}
}

func TestUnmarshalYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    func(c Config) bool
		wantErr string
	}{
		{
			name: "unset keys take the defaults",
			yaml: "mode: advise\napi_key_env: DEEPSEEK_API_KEY\n",
			want: func(c Config) bool {
				return c.BaseURL == DefaultBaseURL && c.Model == DefaultModel && c.Interval == time.Hour &&
					c.Timeout == 30*time.Second && c.JSONMode && c.APIKeyEnv == "DEEPSEEK_API_KEY"
			},
		},
		{
			name: "durations and an endpoint are read",
			yaml: "mode: apply\nbase_url: http://127.0.0.1:11434/v1\nmodel: qwen2.5\napi_key_file: /k\ninterval: 2h\ntimeout: 45s\njson_mode: false\n",
			want: func(c Config) bool {
				return c.Mode == ModeApply && c.Interval == 2*time.Hour && c.Timeout == 45*time.Second && !c.JSONMode && c.Model == "qwen2.5"
			},
		},
		{
			name: "an inline key is read as a Secret",
			yaml: "mode: advise\napi_key: sk-inline\n",
			want: func(c Config) bool { return c.APIKey == "sk-inline" },
		},
		{
			name:    "an unknown key is refused with its line",
			yaml:    "mode: advise\napi_key_env: K\ntemprature: 0\n",
			wantErr: `advisor: line 3: unknown field "temprature" (known: api_key, api_key_env, api_key_file, base_url`,
		},
		{
			name:    "a bad duration is refused",
			yaml:    "mode: advise\napi_key_env: K\ninterval: often\n",
			wantErr: "advisor: yaml: unmarshal errors",
		},
		{
			name:    "an invalid result is refused after decoding",
			yaml:    "mode: apply\n",
			wantErr: "advisor: 0 of api_key, api_key_file, api_key_env are set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := yaml.Unmarshal([]byte(tt.yaml), &c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Errorf("config = %+v", c)
			}
		})
	}

	t.Run("a nested advisor block is read the same way", func(t *testing.T) {
		var outer struct {
			Advisor Config `yaml:"advisor"`
		}
		if err := yaml.Unmarshal([]byte("advisor:\n  mode: advise\n  api_key_env: K\n"), &outer); err != nil {
			t.Fatal(err)
		}
		if outer.Advisor.Mode != ModeAdvise || outer.Advisor.Model != DefaultModel {
			t.Errorf("advisor = %+v", outer.Advisor)
		}
	})

	t.Run("Decode reads the raw block of the shared config, and an absent block is off", func(t *testing.T) {
		var outer struct {
			Advisor yaml.Node `yaml:"advisor"`
			Other   string    `yaml:"other"`
		}
		if err := yaml.Unmarshal([]byte("other: x\n"), &outer); err != nil {
			t.Fatal(err)
		}
		c, err := Decode(&outer.Advisor)
		if err != nil || c.Mode != ModeOff || c.Interval != DefaultInterval {
			t.Errorf("absent block: %+v, %v; want the defaults", c, err)
		}
		if err := yaml.Unmarshal([]byte("advisor:\n  mode: apply\n  api_key_env: K\n  interval: 3h\n"), &outer); err != nil {
			t.Fatal(err)
		}
		c, err = Decode(&outer.Advisor)
		if err != nil || c.Mode != ModeApply || c.Interval != 3*time.Hour {
			t.Errorf("block: %+v, %v", c, err)
		}
		if err := yaml.Unmarshal([]byte("advisor:\n  mode: apply\n  api_key_env: K\n  bogus: 1\n"), &outer); err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(&outer.Advisor); err == nil || !strings.Contains(err.Error(), `line 4: unknown field "bogus"`) {
			t.Errorf("unknown key in the block: err = %v, want it named with its line in the file", err)
		}
	})

	t.Run("marshalling the config hides an inline key", func(t *testing.T) {
		c := validOn()
		c.APIKeyEnv = ""
		c.APIKey = testKey
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), testKey) {
			t.Errorf("marshalled config shows the key:\n%s", out)
		}
	})
}

func TestAPIKeySources(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(testKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) string {
		if name == "SET" {
			return " " + testKey + " "
		}
		return ""
	}
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string
	}{
		{name: "a key file is read and trimmed", mutate: func(c *Config) { c.APIKeyFile = keyFile }},
		{name: "an environment variable is read and trimmed", mutate: func(c *Config) { c.APIKeyEnv = "SET" }},
		{name: "an inline key is used as is", mutate: func(c *Config) { c.APIKey = testKey }},
		{name: "a missing key file names the file", mutate: func(c *Config) { c.APIKeyFile = filepath.Join(dir, "nope") },
			wantErr: "advisor: reading api_key_file: open " + filepath.Join(dir, "nope")},
		{name: "an empty key file names the file", mutate: func(c *Config) { c.APIKeyFile = emptyFile },
			wantErr: "advisor: api_key_file " + emptyFile + " is empty: write the key into it"},
		{name: "an unset variable names the variable", mutate: func(c *Config) { c.APIKeyEnv = "UNSET" },
			wantErr: "advisor: environment variable UNSET (api_key_env) is empty or unset: export the key in it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validOn()
			c.APIKeyEnv = ""
			tt.mutate(&c)
			a, err := New(c, nil, env, nil)
			if err != nil {
				t.Fatalf("New err = %v: a key that cannot be read disables the advisor, it does not fail New", err)
			}
			if tt.wantErr != "" {
				if a.keyErr == nil || !strings.Contains(a.keyErr.Error(), tt.wantErr) || a.client != nil {
					t.Fatalf("advisor disabled by %v, want %q", a.keyErr, tt.wantErr)
				}
				return
			}
			if a.secret != testKey {
				t.Errorf("key = %q, want the trimmed key", a.secret)
			}
		})
	}
}
