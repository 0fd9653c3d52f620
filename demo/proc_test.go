package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
)

// The test binary doubles as the child program: FLEXUS_DEMO_HELPER says what
// to be. "serve ADDR" answers HTTP; "stubborn ADDR" also ignores SIGTERM and
// leaves a grandchild behind; "crash" writes a log and exits 3; "serve-then-crash
// ADDR" answers HTTP for half a second, then writes a log and exits 3.
func TestMain(m *testing.M) {
	switch os.Getenv("FLEXUS_DEMO_HELPER") {
	case "":
		os.Exit(m.Run())
	case "serve":
		serve(os.Args[len(os.Args)-1])
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		// A grandchild in the same process group must go with it.
		gc := exec.Command("sleep", "300")
		_ = gc.Start()
		fmt.Printf("grandchild %d\n", gc.Process.Pid)
		serve(os.Args[len(os.Args)-1])
	case "crash":
		fmt.Println("loading config")
		fmt.Println("fatal: the config names a group that does not exist")
		os.Exit(3)
	case "serve-then-crash":
		go serve(os.Args[len(os.Args)-1])
		time.Sleep(500 * time.Millisecond)
		fmt.Println("fatal: lost the cloud")
		os.Exit(3)
	case "taken":
		fmt.Println("listen tcp: bind: address already in use")
		os.Exit(1)
	}
}

func serve(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
}

func helperSup(t *testing.T, mode string, grace time.Duration) *Supervisor {
	t.Helper()
	return NewSupervisor(t.TempDir(), []string{"FLEXUS_DEMO_HELPER=" + mode}, grace, promslog.NewNopLogger())
}

// alive tells whether pid runs; a zombie (killed, waiting for init to reap
// it, which a container's init may never do) counts as dead.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func TestSupervisor(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("a child is ready once its HTTP path answers, and SIGTERM stops it", func(t *testing.T) {
		s := helperSup(t, "serve", 5*time.Second)
		p, err := s.Start(ctx, Spec{Name: "web", Bin: self, Args: []string{"{{addr}}"}, Ready: "/-/ready"}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + p.Addr + "/")
		if err != nil {
			t.Fatalf("child not serving on %s: %v", p.Addr, err)
		}
		resp.Body.Close()
		start := time.Now()
		s.StopAll()
		if !isClosed(p.Exited()) {
			t.Fatal("StopAll returned before the child exited")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("a child that honours SIGTERM took %s to stop", d)
		}
		select {
		case c := <-s.Crashed():
			t.Errorf("a stopped child was reported as crashed: %s", c.Name)
		default:
		}
	})

	t.Run("a child ignoring SIGTERM is killed after the grace period, with its process group", func(t *testing.T) {
		s := helperSup(t, "stubborn", 300*time.Millisecond)
		p, err := s.Start(ctx, Spec{Name: "stubborn", Bin: self, Args: []string{"{{addr}}"}, Ready: "/"}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var gc int
		for i := 0; i < 50 && gc == 0; i++ {
			b, _ := os.ReadFile(p.LogPath)
			if _, after, ok := strings.Cut(string(b), "grandchild "); ok {
				gc, _ = strconv.Atoi(strings.TrimSpace(strings.SplitN(after, "\n", 2)[0]))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if gc == 0 || !alive(gc) {
			t.Fatalf("the helper did not start its grandchild (log:%s)", p.Tail(5))
		}
		s.StopAll()
		if !isClosed(p.Exited()) {
			t.Fatal("the stubborn child is still running")
		}
		// The grandchild is reaped by init; give it a moment.
		for i := 0; i < 50 && alive(gc); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(gc) {
			_ = syscall.Kill(gc, syscall.SIGKILL)
			t.Error("the grandchild outlived the stop of its process group")
		}
	})

	t.Run("a child that exits before it is ready is reported with the tail of its log", func(t *testing.T) {
		s := helperSup(t, "crash", time.Second)
		_, err := s.Start(ctx, Spec{Name: "exporter", Bin: self, Ready: "/metrics"}, 10*time.Second)
		if err == nil {
			t.Fatal("a crashing child started without error")
		}
		for _, want := range []string{"exporter exited before it was ready", "exit status 3", "fatal: the config names a group"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	t.Run("a child that dies after start is reported on Crashed", func(t *testing.T) {
		s := helperSup(t, "serve", time.Second)
		p, err := s.Start(ctx, Spec{Name: "actuator", Bin: self, Args: []string{"{{addr}}"}}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case c := <-s.Crashed():
			if c.Name != "actuator" || !strings.Contains(CrashError(c).Error(), "actuator exited unexpectedly") {
				t.Errorf("crash report %v", CrashError(c))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no crash reported")
		}
		s.StopAll()
	})

	t.Run("a port taken by another program is retried on a new one", func(t *testing.T) {
		s := helperSup(t, "taken", time.Second)
		tries := 0
		_, err := s.Start(ctx, Spec{Name: "prometheus", Bin: self, Ready: "/", Prepare: func(string) error { tries++; return nil }}, 5*time.Second)
		if err == nil {
			t.Fatal("a child that cannot bind started without error")
		}
		if tries != 3 {
			t.Errorf("tried %d ports, want 3", tries)
		}
	})

	t.Run("the start timeout names the program and its address", func(t *testing.T) {
		s := helperSup(t, "serve", time.Second)
		// Listening on another port than the one checked: never ready.
		other, _ := NewPorts().Next()
		_, err := s.Start(ctx, Spec{Name: "slow", Bin: self, Args: []string{other}}, 500*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "slow was not ready on 127.0.0.1:") {
			t.Errorf("error %v", err)
		}
		s.StopAll()
	})
}

func TestPortsNeverRepeat(t *testing.T) {
	p := NewPorts()
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		a, err := p.Next()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("port %s handed out twice", a)
		}
		seen[a] = true
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestSettleReportsADeadChildAtOnceWithItsLog(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := helperSup(t, "serve-then-crash", time.Second)
	defer s.StopAll()
	// Ready during its first half second, dead after.
	if _, err := s.Start(context.Background(), Spec{Name: "exporter", Bin: self, Args: []string{"{{addr}}"}, Ready: "/"}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// An hour of minimum age and two of limit: only the crash can end the wait
	// before the context's minute, which is there so a regression fails, not hangs.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &http.Client{Timeout: time.Second}
	err = settle(ctx, Simcloud{Base: "http://127.0.0.1:1", Client: c}, c, "http://127.0.0.1:1", time.Now(), time.Hour, 2*time.Hour, s.Crashed())
	if err == nil || !strings.Contains(err.Error(), "exporter exited unexpectedly") || !strings.Contains(err.Error(), "fatal: lost the cloud") {
		t.Fatalf("settle returned %v, want the exporter's crash with its log's tail", err)
	}
}
