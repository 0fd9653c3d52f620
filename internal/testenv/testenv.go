// Package testenv starts the real programs the tests need (redis-server, etcd,
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

// Etcd is a private single-member etcd on loopback ports, with its data in a
// temp directory. Stop and Start restart it on the same ports and data, as an
// operator's restart or a leader change looks to a client.
type Etcd struct {
	// Endpoint is the client address, host:port.
	Endpoint string
	t        testing.TB
	bin      string
	dir      string
	peer     string
	logPath  string
	cancel   context.CancelFunc
	done     chan struct{}
}

// StartEtcd starts etcd for the life of the test, with its data in memory
// when the machine allows (tests measure behaviour, not the disk).
func StartEtcd(t testing.TB) *Etcd { return StartEtcdIn(t, memDir(t)) }

// StartEtcdIn starts etcd with its data under dir, e.g. t.TempDir() on
// disk, where every write is synced as in production.
func StartEtcdIn(t testing.TB, dir string) *Etcd {
	t.Helper()
	e := &Etcd{t: t, bin: Binary(t, "etcd", "etcd-server"), dir: dir, Endpoint: FreePort(t), peer: FreePort(t)}
	e.logPath = filepath.Join(e.dir, "etcd.log")
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

// memDir is a temp directory in memory when the machine has one.
func memDir(t testing.TB) string {
	dir, err := os.MkdirTemp("/dev/shm", "flexus-etcd-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Start runs the server (again) and waits until it accepts clients.
func (e *Etcd) Start() {
	e.t.Helper()
	if e.cancel != nil {
		return
	}
	logFile, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, e.bin, "--name", "flexus-test", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", "http://"+e.Endpoint, "--advertise-client-urls", "http://"+e.Endpoint,
		"--listen-peer-urls", "http://"+e.peer, "--initial-advertise-peer-urls", "http://"+e.peer,
		"--initial-cluster", "flexus-test=http://"+e.peer)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		cancel()
		logFile.Close()
		e.t.Fatalf("starting etcd: %v", err)
	}
	e.cancel, e.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}(e.done)
	WaitTCP(e.t, e.Endpoint, 20*time.Second, e.logPath)
}

// Stop kills the server and waits for it to exit; its data stays for Start.
func (e *Etcd) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
	e.cancel = nil
}
