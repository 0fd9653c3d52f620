// Package testenv starts the real programs the tests need (redis-server,
// prometheus, promtool, prometheus-alertmanager) on loopback, and decides what a
// missing one means: a skip on a developer's machine, a failure in CI.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Binary returns the path of the named program. When it is missing the test
// fails under CI=true (CI installs everything, so absence is a real fault) and
// is skipped elsewhere with the command that installs it.
func Binary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s not found on PATH: run `make test` or `apt-get install %s`", name, debianPackage)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a loopback TCP address that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Redis starts a private redis-server on a free loopback port for the life of
// the test and returns its address.
func Redis(t testing.TB) string {
	t.Helper()
	bin := Binary(t, "redis-server", "redis-server")
	dir := t.TempDir()
	addr := FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", dir)
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
	})
	WaitTCP(t, addr, 10*time.Second, logPath)
	return addr
}

// WaitTCP waits until addr accepts connections, failing the test with the tail
// of logPath (if given) when it does not within timeout.
func WaitTCP(t testing.TB, addr string, timeout time.Duration, logPath string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not accept connections within %s%s", addr, timeout, Tail(logPath, 20))
}

// Tail returns the last n lines of a log file, formatted for an error message.
func Tail(path string, n int) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "\n--- " + path + " ---\n" + strings.Join(lines, "\n")
}
