package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// For names the command a check or a secret is for. Each command needs only
// its own sections: the exporter never reads the actuator's token, and the
// actuator never reads the queues' passwords.
type For int

const (
	ForExporter For = 1 << iota
	ForActuator
	ForAll = ForExporter | ForActuator
)

// Commands lists the single commands f covers, exporter first.
func (f For) Commands() []For {
	var out []For
	for _, c := range []For{ForExporter, ForActuator} {
		if f&c != 0 {
			out = append(out, c)
		}
	}
	return out
}

func (f For) String() string {
	switch f {
	case ForExporter:
		return "exporter"
	case ForActuator:
		return "actuator"
	case ForAll:
		return "all"
	}
	return fmt.Sprintf("For(%d)", int(f))
}

// ParseFor reads the --for flag's value: exporter, actuator or all.
func ParseFor(s string) (For, error) {
	for _, f := range []For{ForExporter, ForActuator, ForAll} {
		if f.String() == s {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%q is not a command to check for: use exporter, actuator or all", s)
}

// Sections names the parts of the file a command reads, for check-config to
// say what it checked.
func (f For) Sections() []string {
	var out []string
	if f&ForExporter != 0 {
		out = append(out, "cloud", "cloudeye", "exporter", "advisor", "groups (discovery, signals, queue, response_time, request_rate, extra_metrics)")
	}
	if f&ForActuator != 0 {
		if f&ForExporter == 0 {
			out = append(out, "cloud")
		}
		out = append(out, "actuator", "groups (discovery, backend, instances, scaling, ecs)")
	}
	return out
}

// errNoToken refuses a webhook that would run open by accident.
var errNoToken = errors.New("is not set: name the file holding the token Alertmanager sends (its http_config.authorization.credentials_file), or set actuator.insecure_no_auth: true to run without authentication")

// Check is CheckFor every command.
func Check(path string) (*Config, error) { return CheckFor(path, ForAll) }

// CheckFor loads a file and validates everything the commands in f will rely
// on, without credentials or any cloud call: the file itself, then for the
// exporter each group's scoring parameters, response-time source and queue
// password, for the actuator its token and state directory. Errors are an
// *Error naming the file, the field and the fix. Callers check their own raw
// blocks (the advisor's) on the result.
func CheckFor(path string, f For) (*Config, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := c.CheckFor(f); err != nil {
		err.(*Error).File = path
		return nil, err
	}
	return c, nil
}

// CheckFor checks what the commands in f read beyond the file's own
// validation, and reports every problem found, not only the first.
func (c *Config) CheckFor(f For) error {
	e := &Error{}
	add := func(path string, err error) {
		e.Problems = append(e.Problems, within(path, err).(*Error).Problems...)
	}
	if f&ForExporter != 0 {
		for i := range c.Groups {
			g := &c.Groups[i]
			at := fmt.Sprintf("groups[%d]", i)
			if err := g.ScoringParams(c.Exporter).Validate(); err != nil {
				add(at+".signals", err)
			}
			if err := checkResponseTimeURL(g.ResponseTime); err != nil {
				add(at+".response_time.url", err)
			}
			if err := checkRequestRateURL(g.RequestRate); err != nil {
				add(at+".request_rate.url", err)
			}
			if g.Queue != nil && g.Queue.Redis != nil && g.Queue.Redis.PasswordFile != "" {
				if _, err := readSecret(g.Queue.Redis.PasswordFile); err != nil {
					add(at+".queue.redis.password_file", err)
				}
			}
		}
	}
	if f&ForActuator != 0 {
		a := c.Actuator
		switch {
		case a.BearerTokenFile != "":
			if _, err := readSecret(a.BearerTokenFile); err != nil {
				add("actuator.bearer_token_file", err)
			}
		case a.BearerToken == "" && !a.InsecureNoAuth:
			add("actuator.bearer_token_file", errNoToken)
		}
		if err := checkWritableDir(filepath.Dir(a.StateFile)); err != nil {
			add("actuator.state_file", fmt.Errorf("%q: %w", a.StateFile, err))
		}
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// ELBScheme marks a response-time source read from Cloud Eye's ELB metrics
// (cloudeye:SYS.ELB?lbaas_instance_id=ID) instead of the service's endpoint.
const ELBScheme = "cloudeye"

// checkResponseTimeURL accepts an http(s) endpoint of the service, or Cloud
// Eye ELB metrics naming at least one dimension.
func checkResponseTimeURL(src *HTTPSource) error {
	if src == nil {
		return nil
	}
	u, err := url.Parse(src.URL)
	if strings.HasPrefix(src.URL, ELBScheme+":") {
		switch {
		case err != nil:
			return fmt.Errorf("%q: %w", src.URL, err)
		case len(u.Query()) == 0:
			return fmt.Errorf("%q names no dimension: use cloudeye:SYS.ELB?lbaas_instance_id=<ELB id>", src.URL)
		}
		return nil
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an http(s) URL of the service's metrics, or cloudeye:SYS.ELB?lbaas_instance_id=<ELB id>", src.URL)
	}
	return nil
}

// checkWritableDir proves dir takes a new file by creating and removing one,
// the only test that also holds for read-only mounts and ACLs.
func checkWritableDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("its directory: %w: create it", err)
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".flexus-check-*")
	if err != nil {
		return fmt.Errorf("its directory %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
