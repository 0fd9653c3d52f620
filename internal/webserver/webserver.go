// Package webserver builds every HTTP server of the flexus binary with the
// same limits: read, header, write and idle timeouts, a body limit, a cap on
// requests in flight, and a handler panic answered 500 instead of a reset
// connection.
package webserver

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// Options are one server's limits. A zero field means no limit.
type Options struct {
	// ReadHeaderTimeout bounds reading the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, body included: a client
	// that trickles its body is cut off.
	ReadTimeout time.Duration
	// WriteTimeout bounds the handler and the answer, from the end of the headers.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends nothing.
	IdleTimeout time.Duration
	// MaxRequests is how many requests are served at once; more get 503.
	MaxRequests int
	// MaxBodyBytes bounds what a handler can read of a body.
	MaxBodyBytes int64
	// EnableLifecycle allows POST /-/reload (--web.enable-lifecycle).
	EnableLifecycle bool
}

// Defaults are the limits of a server whose requests are small and whose
// answers are quick; a server with slower work raises WriteTimeout.
func Defaults() Options {
	return Options{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxRequests:       64,
		MaxBodyBytes:      1 << 20,
	}
}

// AddFlags registers --web.read-timeout, --web.max-requests and, when
// lifecycle is true, --web.enable-lifecycle, with def's values as defaults.
// The returned Options are filled once the flags are parsed.
func AddFlags(cmd *kingpin.CmdClause, def Options, lifecycle bool) *Options {
	o := def
	cmd.Flag("web.read-timeout", "Maximum time to read a whole request, body included.").
		Default(def.ReadTimeout.String()).DurationVar(&o.ReadTimeout)
	cmd.Flag("web.max-requests", "Maximum number of requests served at once; more are answered 503.").
		Default(strconv.Itoa(def.MaxRequests)).IntVar(&o.MaxRequests)
	if lifecycle {
		cmd.Flag("web.enable-lifecycle", "Allow reloading the configuration through POST /-/reload (SIGHUP always reloads).").
			BoolVar(&o.EnableLifecycle)
	}
	return &o
}

// New is an http.Server with o's timeouts serving h behind Limit.
func New(h http.Handler, o Options, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           Limit(h, o, logger),
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Limit serves h with o's body limit and request cap, and turns a panic into
// a logged 500: net/http would reset the connection, which a webhook sender
// retries for ever.
func Limit(h http.Handler, o Options, logger *slog.Logger) http.Handler {
	var slots chan struct{}
	if o.MaxRequests > 0 {
		slots = make(chan struct{}, o.MaxRequests)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				http.Error(w, "too many requests in flight, retry later", http.StatusServiceUnavailable)
				return
			}
		}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // the sentinel is panicked as is
				panic(p)
			}
			logger.Error("panic serving a request: answered 500", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}()
		if o.MaxBodyBytes > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
		}
		h.ServeHTTP(w, r)
	})
}
