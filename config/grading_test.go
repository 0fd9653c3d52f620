package config

import (
	"testing"
	"time"
)

func TestGradingIsOptionalAndValidated(t *testing.T) {
	tests := []struct {
		name     string
		actuator string
		wantErr  string
	}{
		{name: "without grading decisions stay ungraded", actuator: `{}`},
		{name: "a Prometheus URL alone takes the defaults", actuator: `{grading: {prometheus_url: "http://prometheus:9090"}}`},
		{name: "grading needs a Prometheus URL", actuator: `{grading: {max_utilization: 0.8}}`,
			wantErr: "actuator.grading.prometheus_url: is empty: name the Prometheus that scrapes the exporter (e.g. http://prometheus:9090), or remove actuator.grading (line 1)"},
		{name: "the URL is an http(s) base URL", actuator: `{grading: {prometheus_url: "prometheus:9090"}}`,
			wantErr: `actuator.grading.prometheus_url: "prometheus:9090" is not an http(s) URL (e.g. http://prometheus:9090) (line 1)`},
		{name: "the SLO is a utilisation ratio", actuator: `{grading: {prometheus_url: "http://p:9090", max_utilization: 90}}`,
			wantErr: "actuator.grading.max_utilization: 90 must be in (0, 1]: the utilisation above which a minute violates the SLO (line 1)"},
		{name: "grading rounds are at least a second apart", actuator: `{grading: {prometheus_url: "http://p:9090", interval: 1ms}}`,
			wantErr: "actuator.grading.interval: 1ms is below 1s (line 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("actuator: " + tc.actuator + etcdGroups))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := c.Actuator.Grading; g != nil && (g.MaxUtilization != 0.9 || g.Delay != time.Minute || g.Interval != time.Minute || g.Timeout != 10*time.Second) {
				t.Errorf("defaults %+v, want max_utilization 0.9 (the backtest's SLO), delay 1m, interval 1m, timeout 10s", *g)
			}
		})
	}
}
