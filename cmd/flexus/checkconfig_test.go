package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeExample is the configuration the README shows, as a reader copies it.
func readmeExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "## Configuration")
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(after)
	if !ok || m == nil {
		t.Fatal("README.md has no yaml example under ## Configuration")
	}
	return m[1]
}

func TestCheckConfigChecksEachCommandsSections(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flexus.yml")
	// The README's token and state paths are not on this machine: the exporter must not care.
	if err := os.WriteFile(p, []byte(readmeExample(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                   string
		args                   []string
		wantCode               int
		wantStdout, wantStderr []string
		notStderr              string
	}{
		{"the exporter's sections pass without the actuator's secret", []string{"--for", "exporter"}, 0,
			[]string{"Checking " + p + "\n", "  SUCCESS: 2 groups found\n", "  SUCCESS: exporter: cloud, cloudeye, exporter, advisor, groups"}, nil, "FAILED"},
		{"the actuator's missing token is named with the fix", []string{"--for", "actuator"}, 1,
			[]string{"  SUCCESS: 2 groups found\n"},
			[]string{"  FAILED: for the actuator: actuator.bearer_token_file: open /etc/flexus/webhook.token: no such file or directory\n"}, "for the exporter"},
		{"all checks both and names which one failed", nil, 1,
			[]string{"  SUCCESS: exporter: "}, []string{"  FAILED: for the actuator: actuator.bearer_token_file"}, "level="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append(append([]string{"check-config"}, tc.args...), p), &stdout, &stderr, func(string) string { return "" })
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tc.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tc.notStderr != "" && strings.Contains(stderr.String(), tc.notStderr) {
				t.Errorf("stderr has %q:\n%s", tc.notStderr, stderr.String())
			}
		})
	}
}

func TestCheckConfigPrintsOneFailedLinePerProblem(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"check-config", "../../config/testdata/bad/two_mistakes.yml"}, &stdout, &stderr, func(string) string { return "" })
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := "  FAILED: exporter.interval: `30` is a number without a unit: a duration needs one, e.g. 30s (line 2)\n" +
		"  FAILED: groups[0].scaling.max_step_out: `two` is not a whole number: write it in digits, e.g. 3 (line 6)\n"
	if stderr.String() != want {
		t.Errorf("stderr\n%s\nwant\n%s", stderr.String(), want)
	}
	if stdout.String() != "Checking ../../config/testdata/bad/two_mistakes.yml\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestServersPrintAConfigErrorAsPlainLines(t *testing.T) {
	for _, cmd := range []string{"exporter", "actuator"} {
		t.Run(cmd, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			f := "../../config/testdata/bad/duration_without_unit.yml"
			code := run([]string{cmd, "--config.file=" + f, "--web.listen-address=127.0.0.1:0"}, &stdout, &stderr, func(string) string { return "" })
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
			}
			want := "flexus " + cmd + ": " + f + " is not valid:\n" +
				"  groups[1].scaling.cooldown_in: `600` is a number without a unit: a duration needs one, e.g. 600s or 10m (line 9)\n"
			if !strings.HasSuffix(stderr.String(), want) {
				t.Errorf("stderr\n%s\nwant it to end with\n%s", stderr.String(), want)
			}
			if !strings.Contains(stderr.String(), `msg="Starting flexus"`) {
				t.Errorf("no version line at start:\n%s", stderr.String())
			}
		})
	}
}

func TestTheVersionLineFollowsTheLogFormat(t *testing.T) {
	var stdout, stderr bytes.Buffer
	f := "../../config/testdata/bad/duration_without_unit.yml"
	code := run([]string{"--log.format=json", "exporter", "--config.file=" + f}, &stdout, &stderr, func(string) string { return "" })
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	first, rest, _ := strings.Cut(stderr.String(), "\n")
	if !strings.HasPrefix(first, "{") || !strings.Contains(first, `"msg":"Starting flexus"`) || !strings.Contains(first, `"version":`) {
		t.Errorf("first line %q, want the JSON version line", first)
	}
	if !strings.Contains(rest, "flexus exporter: "+f+" is not valid:\n  groups[1].scaling.cooldown_in: ") {
		t.Errorf("the config error is not plain lines:\n%s", rest)
	}
}

func TestTheActuatorWithoutATokenSaysWhatToSet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flexus.yml")
	if err := os.WriteFile(p, []byte("cloud: {region: r}\ngroups:\n  - name: a\n    discovery: {as_group_id: g}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"actuator", "--config.file=" + p, "--web.listen-address=127.0.0.1:0"}, &stdout, &stderr, func(string) string { return "" })
	want := "flexus actuator: " + p + " is not valid:\n  actuator.bearer_token_file: is not set: "
	if code != 1 || !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "insecure_no_auth: true") {
		t.Errorf("exit %d, stderr\n%s\nwant it to contain\n%s", code, stderr.String(), want)
	}
}
