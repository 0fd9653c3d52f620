package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Check loads a file and validates everything the exporter and the actuator
// will rely on, without credentials or any cloud call: the file itself, each
// group's scoring parameters, the response-time sources, and the files the
// actuator and the queues read or write. Errors name the file, the field and
// the fix. Callers check their own raw blocks (the advisor's) on the result.
func Check(path string) (*Config, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) check() error {
	for i := range c.Groups {
		g := &c.Groups[i]
		if err := g.ScoringParams(c.Exporter).Validate(); err != nil {
			return fmt.Errorf("group %q: %w", g.Name, err)
		}
		if err := checkResponseTimeURL(g.ResponseTime); err != nil {
			return fmt.Errorf("group %q: %w", g.Name, err)
		}
		if g.Queue != nil && g.Queue.Redis != nil && g.Queue.Redis.PasswordFile != "" {
			if _, err := readSecret(g.Queue.Redis.PasswordFile); err != nil {
				return fmt.Errorf("group %q: queue.redis.password_file: %w", g.Name, err)
			}
		}
	}
	a := c.Actuator
	if a.BearerTokenFile != "" {
		if _, err := readSecret(a.BearerTokenFile); err != nil {
			return fmt.Errorf("actuator.bearer_token_file: %w", err)
		}
	}
	if err := checkWritableDir(filepath.Dir(a.StateFile)); err != nil {
		return fmt.Errorf("actuator.state_file %q: %w", a.StateFile, err)
	}
	return nil
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
			return fmt.Errorf("response_time.url %q: %w", src.URL, err)
		case len(u.Query()) == 0:
			return fmt.Errorf("response_time.url %q names no dimension: use cloudeye:SYS.ELB?lbaas_instance_id=<ELB id>", src.URL)
		}
		return nil
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("response_time.url %q must be an http(s) URL of the service's metrics, or cloudeye:SYS.ELB?lbaas_instance_id=<ELB id>", src.URL)
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
