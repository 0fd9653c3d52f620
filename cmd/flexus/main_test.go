package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
		// wantOnce must appear exactly once in stdout.
		wantOnce string
	}{
		{name: "--help prints the usage once", args: []string{"--help"}, wantCode: 0, wantOnce: "usage: flexus"},
		{name: "a command's --help prints its usage once", args: []string{"backtest", "--help"}, wantCode: 0, wantOnce: "usage: flexus backtest"},
		{name: "help COMMAND prints its usage once", args: []string{"help", "demo"}, wantCode: 0, wantOnce: "usage: flexus demo"},
		{name: "--help lists every command and exits 0", args: []string{"--help"}, wantCode: 0, wantStdout: "check-config"},
		{name: "-h is --help", args: []string{"-h"}, wantCode: 0, wantStdout: "exporter"},
		{name: "a command's help exits 0", args: []string{"actuator", "--help"}, wantCode: 0, wantStdout: "--config.file"},
		{name: "--version exits 0", args: []string{"--version"}, wantCode: 0},
		{name: "no command is a usage error", args: nil, wantCode: 2, wantStderr: "command not specified"},
		{name: "an unknown command is a usage error", args: []string{"scale-everything"}, wantCode: 2, wantStderr: "try --help"},
		{name: "check-config names the broken field", args: []string{"check-config", "../../config/testdata/bad/max_below_min.yml"}, wantCode: 1,
			wantStderr: "  FAILED: groups[0].max_instances: 1 is below min_instances 3 (line 6)\n"},
		{name: "check-config --effective prints a written zero as zero, next to the defaults", args: []string{"check-config", "--effective", "--for", "exporter", "../../config/testdata/zero/cooldown_out.yml"}, wantCode: 0,
			wantStdout: "      cooldown_out: 0s\n      cooldown_in: 5m0s\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr, func(string) string { return "" })
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantStdout, stdout.String())
			}
			if n := strings.Count(stdout.String(), tc.wantOnce); tc.wantOnce != "" && n != 1 {
				t.Errorf("stdout has %q %d times, want once:\n%s", tc.wantOnce, n, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr.String())
			}
		})
	}
}
