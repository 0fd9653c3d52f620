package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

const etcdGroups = `
cloud: {region: r}
groups:
  - name: a
    discovery: {as_group_id: g}
`

func TestEtcdStateStore(t *testing.T) {
	tests := []struct {
		name     string
		actuator string
		wantErr  string
	}{
		{name: "etcd alone is accepted with its defaults", actuator: `{etcd: {endpoints: [127.0.0.1:2379]}}`},
		{name: "state_file and etcd are mutually exclusive", actuator: `{state_file: s.json, etcd: {endpoints: [127.0.0.1:2379]}}`,
			wantErr: "actuator: state_file and etcd are mutually exclusive: etcd holds the state every replica shares; remove state_file (line 1)"},
		{name: "etcd needs endpoints", actuator: `{etcd: {prefix: /x/}}`,
			wantErr: "actuator.etcd.endpoints: is empty: list the etcd members (e.g. [127.0.0.1:2379]) (line 1)"},
		{name: "the prefix is a directory", actuator: `{etcd: {endpoints: [e:2379], prefix: flexus}}`,
			wantErr: `actuator.etcd.prefix: "flexus" must start and end with / (e.g. /flexus/) (line 1)`},
		{name: "a username needs its password file", actuator: `{etcd: {endpoints: [e:2379], username: u}}`,
			wantErr: "actuator.etcd: set username and password_file together (line 1)"},
		{name: "a client certificate needs its key", actuator: `{etcd: {endpoints: [e:2379], tls: {cert_file: c.pem}}}`,
			wantErr: "actuator.etcd.tls: set cert_file and key_file together (line 1)"},
		{name: "a lease shorter than etcd allows is refused", actuator: `{etcd: {endpoints: [e:2379], lease_ttl: 1s}}`,
			wantErr: "actuator.etcd.lease_ttl: 1s is below 5s, etcd's shortest lease (line 1)"},
		{name: "ECS jobs are followed for at least a minute", actuator: `{job_timeout: 10s}`,
			wantErr: "actuator.job_timeout: 10s is below 1m: ECS jobs take minutes (line 1)"},
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
			e := c.Actuator.Etcd
			if c.Actuator.StateFile != "" || e.Prefix != "/flexus/" || e.DialTimeout != 5*time.Second || e.LeaseTTL != 10*time.Second {
				t.Errorf("defaults: state_file %q, etcd %+v", c.Actuator.StateFile, e)
			}
		})
	}
	t.Run("the file store stays the default without etcd", func(t *testing.T) {
		c, err := Parse([]byte(etcdGroups))
		if err != nil {
			t.Fatal(err)
		}
		if c.Actuator.StateFile == "" || c.Actuator.Etcd != nil || c.Actuator.JobTimeout != 10*time.Minute {
			t.Errorf("state_file %q, etcd %v, job_timeout %s", c.Actuator.StateFile, c.Actuator.Etcd, c.Actuator.JobTimeout)
		}
	})
	t.Run("the etcd password is read from its file", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("hunter2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Parse([]byte("actuator: {etcd: {endpoints: [e:2379], username: flexus, password_file: " + pw + "}}" + etcdGroups))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ResolveSecrets(); err != nil {
			t.Fatal(err)
		}
		if c.Actuator.Etcd.Password != "hunter2" {
			t.Errorf("password %q", c.Actuator.Etcd.Password)
		}
	})
}
