package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one supervised child program. Its log (stdout and stderr) goes
// to a file in the supervisor's directory so a crash can be reported with its tail.
type Process struct {
	Name    string
	Addr    string // host:port it listens on
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // valid once done is closed

	mu       sync.Mutex
	stopping bool
}

// Reload sends SIGHUP, on which flexus reloads its config file.
func (p *Process) Reload() error { return p.cmd.Process.Signal(syscall.SIGHUP) }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err is the exit error; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string { return tail(p.LogPath, n) }

// Supervisor starts child programs in their own process groups and stops
// every one of them: SIGTERM to the group, then SIGKILL after a grace period.
type Supervisor struct {
	dir    string
	grace  time.Duration
	env    []string
	logger *slog.Logger

	mu      sync.Mutex
	procs   []*Process
	crashed chan *Process
	ports   *Ports
}

// NewSupervisor keeps logs in dir and gives children env on top of the
// current environment.
func NewSupervisor(dir string, env []string, grace time.Duration, logger *slog.Logger) *Supervisor {
	return &Supervisor{dir: dir, grace: grace, env: env, logger: logger, crashed: make(chan *Process, 16), ports: NewPorts()}
}

// Crashed reports each child that exited while it was not being stopped.
func (s *Supervisor) Crashed() <-chan *Process { return s.crashed }

// Ports is the supervisor's port allocator.
func (s *Supervisor) Ports() *Ports { return s.ports }

// Spec is what to start: args may contain {{addr}}, replaced by the chosen
// loopback address, and Ready is the HTTP path that answers 200 when the
// program is ready (empty: the port accepting connections is enough).
type Spec struct {
	Name  string
	Bin   string
	Args  []string
	Ready string
	// Addr, when set, is used as is instead of picking a free port.
	Addr string
	// Prepare runs after the port is chosen and before the program starts,
	// e.g. to render a config file that names the port.
	Prepare func(addr string) error
}

// addrInUse tells whether a child's log says its port was taken.
func addrInUse(log string) bool {
	return strings.Contains(log, "address already in use") || strings.Contains(log, "bind: address")
}

// Start starts spec on a free loopback port and waits until it is ready. A
// port taken between choosing and binding (another program was faster) is
// retried with a new port.
func (s *Supervisor) Start(ctx context.Context, spec Spec, timeout time.Duration) (*Process, error) {
	const attempts = 3
	var lastErr error
	for i := 0; i < attempts; i++ {
		addr := spec.Addr
		if addr == "" {
			a, err := s.ports.Next()
			if err != nil {
				return nil, err
			}
			addr = a
		}
		if spec.Prepare != nil {
			if err := spec.Prepare(addr); err != nil {
				return nil, fmt.Errorf("%s: %w", spec.Name, err)
			}
		}
		p, err := s.spawn(spec, addr)
		if err != nil {
			return nil, err
		}
		err = waitReady(ctx, p, spec.Ready, timeout)
		if err == nil {
			s.logger.Debug("started", "name", spec.Name, "addr", addr, "pid", p.cmd.Process.Pid)
			return p, nil
		}
		s.stop(p)
		lastErr = err
		if spec.Addr != "" || !addrInUse(p.Tail(20)) || ctx.Err() != nil {
			break
		}
		s.logger.Info("port was taken, retrying on another", "name", spec.Name, "addr", addr)
	}
	return nil, lastErr
}

func (s *Supervisor) spawn(spec Spec, addr string) (*Process, error) {
	args := make([]string, len(spec.Args))
	for i, a := range spec.Args {
		args[i] = strings.ReplaceAll(a, "{{addr}}", addr)
	}
	logPath := filepath.Join(s.dir, spec.Name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", spec.Name, err)
	}
	fmt.Fprintf(f, "# %s %s\n", spec.Bin, strings.Join(args, " "))
	cmd := exec.Command(spec.Bin, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so the whole tree can be signalled; and die with us
	// if the demo itself is killed without a chance to clean up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", spec.Name, spec.Bin, err)
	}
	p := &Process{Name: spec.Name, Addr: addr, LogPath: logPath, cmd: cmd, log: f, done: make(chan struct{})}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if !stopping {
			select {
			case s.crashed <- p:
			default:
			}
		}
	}()
	return p, nil
}

// waitReady polls the process's port (and path) until it answers, it exits,
// or the timeout passes; errors carry the tail of its log.
func waitReady(ctx context.Context, p *Process, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if readyOnce(ctx, client, p.Addr, path) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready (%v)%s", p.Name, p.err, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s was not ready on %s within %s%s", p.Name, p.Addr, timeout, p.Tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readyOnce(ctx context.Context, client *http.Client, addr, path string) bool {
	if path == "" {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StopAll stops every child, last started first, and waits for each.
func (s *Supervisor) StopAll() {
	s.mu.Lock()
	procs := append([]*Process(nil), s.procs...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for i := len(procs) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(p *Process) {
			defer wg.Done()
			s.stop(p)
		}(procs[i])
	}
	wg.Wait()
}

// stop sends SIGTERM to the process group, then SIGKILL after the grace period.
func (s *Supervisor) stop(p *Process) {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(s.grace):
		s.logger.Warn("child ignored SIGTERM, killing it", "name", p.Name, "grace", s.grace)
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the child left behind in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// CrashError describes a child that exited on its own.
func CrashError(p *Process) error {
	return fmt.Errorf("%s exited unexpectedly (%v)%s", p.Name, p.Err(), p.Tail(20))
}

// tail returns the last n lines of a file, formatted for an error message.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return "\n--- last lines of " + path + " ---\n" + strings.Join(lines, "\n")
}

// Ports hands out free loopback addresses, never the same one twice.
type Ports struct {
	mu   sync.Mutex
	seen map[string]bool
}

// NewPorts returns an empty allocator.
func NewPorts() *Ports { return &Ports{seen: map[string]bool{}} }

// Next returns a loopback address that was free a moment ago.
func (p *Ports) Next() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("finding a free loopback port: %w", err)
		}
		addr := l.Addr().String()
		l.Close()
		if !p.seen[addr] {
			p.seen[addr] = true
			return addr, nil
		}
	}
	return "", errors.New("finding a free loopback port: the kernel kept handing out ports already in use")
}
