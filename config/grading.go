package config

import (
	"net/url"
	"time"
)

// Grading grades the actuator's applied decisions in hindsight, from what
// Prometheus recorded after them (docs/actuator.md, Grading). Without it
// decisions stay ungraded.
type Grading struct {
	// PrometheusURL is the Prometheus that scrapes the exporter; its
	// query_range API tells what followed each decision.
	PrometheusURL string `yaml:"prometheus_url"`
	// MaxUtilization is the SLO a decision is judged against: a minute above
	// it on the count that served is a violation (the backtest's 0.9).
	MaxUtilization float64 `yaml:"max_utilization"`
	// Delay is how long after a decision's lead time it is graded, for the
	// last samples to reach Prometheus (scrape interval, rule evaluation).
	Delay time.Duration `yaml:"delay"`
	// Interval is how often due decisions are looked for.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one query.
	Timeout time.Duration `yaml:"timeout"`
}

// UnmarshalYAML decodes the grading block over its defaults.
func (g *Grading) UnmarshalYAML(unmarshal func(any) error) error {
	*g = Grading{MaxUtilization: 0.9, Delay: time.Minute, Interval: time.Minute, Timeout: 10 * time.Second}
	type grading Grading
	return unmarshal((*grading)(g))
}

func (g *Grading) validate() error {
	if g == nil {
		return nil
	}
	u, err := url.Parse(g.PrometheusURL)
	switch {
	case g.PrometheusURL == "":
		return fieldError("actuator.grading.prometheus_url", "is empty: name the Prometheus that scrapes the exporter (e.g. http://prometheus:9090), or remove actuator.grading")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fieldError("actuator.grading.prometheus_url", "%q is not an http(s) URL (e.g. http://prometheus:9090)", g.PrometheusURL)
	case g.MaxUtilization <= 0 || g.MaxUtilization > 1:
		return fieldError("actuator.grading.max_utilization", "%g must be in (0, 1]: the utilisation above which a minute violates the SLO", g.MaxUtilization)
	case g.Delay < 0:
		return fieldError("actuator.grading.delay", "%s is negative", g.Delay)
	case g.Interval < time.Second:
		return fieldError("actuator.grading.interval", "%s is below 1s", g.Interval)
	case g.Timeout <= 0:
		return fieldError("actuator.grading.timeout", "%s must be positive", g.Timeout)
	}
	return nil
}
