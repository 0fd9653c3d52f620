package webserver

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
)

// serve runs New(h, o) on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, o Options, logger *slog.Logger) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(h, o, logger)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestASlowBodyIsCutOffByTheReadTimeout(t *testing.T) {
	o := Defaults()
	o.ReadTimeout = 300 * time.Millisecond
	readErr := make(chan error, 1)
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), o, promslog.NewNopLogger())

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const bodyLen = 2000
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, conn); close(closed) }()
	sent := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
send:
	for sent < bodyLen {
		select {
		case <-closed:
			break send
		case <-tick.C:
		}
		if _, err := conn.Write([]byte{'x'}); err != nil {
			break
		}
		sent++
	}
	select {
	case <-closed:
	default:
		t.Fatalf("the server kept a connection open while its body trickled in (%d of %d bytes sent)", sent, bodyLen)
	}
	if sent >= bodyLen {
		t.Fatal("the whole trickled body was read: the read timeout did not apply")
	}
	if err := <-readErr; err == nil {
		t.Error("the handler read a trickled body without an error")
	}
}

// lockedBuffer is a log the server writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLimit(t *testing.T) {
	t.Run("a request over max-requests is answered 503 while the others are served", func(t *testing.T) {
		o := Options{MaxRequests: 1}
		entered, release := make(chan struct{}), make(chan struct{})
		h := Limit(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			entered <- struct{}{}
			<-release
		}), o, promslog.NewNopLogger())
		first := httptest.NewRecorder()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); h.ServeHTTP(first, httptest.NewRequest("GET", "/", nil)) }()
		<-entered
		second := httptest.NewRecorder()
		h.ServeHTTP(second, httptest.NewRequest("GET", "/", nil))
		close(release)
		wg.Wait()
		if second.Code != http.StatusServiceUnavailable || first.Code != http.StatusOK {
			t.Fatalf("in flight %d, over the cap %d: want 200 and 503", first.Code, second.Code)
		}
		go func() { <-entered }()
		third := httptest.NewRecorder()
		h.ServeHTTP(third, httptest.NewRequest("GET", "/", nil))
		if third.Code != http.StatusOK {
			t.Errorf("after the first finished: %d, want 200", third.Code)
		}
	})
	t.Run("a body over the limit fails to read", func(t *testing.T) {
		var err error
		h := Limit(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, err = io.ReadAll(r.Body) }), Options{MaxBodyBytes: 10}, promslog.NewNopLogger())
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11))))
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			t.Fatalf("reading 11 bytes under a 10-byte limit: %v", err)
		}
	})
	t.Run("a panic is answered 500 and logged, not a reset connection", func(t *testing.T) {
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		addr := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			var m map[string]*int
			_ = *m["web"]
		}), Defaults(), logger)
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("the connection failed instead of an answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
		if !strings.Contains(logs.String(), "panic serving a request") {
			t.Errorf("the panic is not logged: %s", logs.String())
		}
	})
}
