// Package simcloud emulates the subset of Huawei Cloud the project uses (Cloud
// Eye, Auto Scaling, ECS) over HTTP, at the paths and in the JSON shapes of
// huaweicloud-sdk-go-v3, verifying the SDK's request signatures. Behind the
// API is a world.World, advanced to the server's clock before every request.
package simcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// Server is simcloud: an http.Handler in front of a world.
type Server struct {
	cfg    Config
	clk    clock.Clock
	wall   clock.Clock
	logger *slog.Logger
	world  *world.World
	reg    *prometheus.Registry
	mux    *http.ServeMux

	requests *prometheus.CounterVec

	mu     sync.Mutex
	faults map[string]Fault
	rng    *rand.Rand
	reqSeq uint64
	// calls holds, per rate-limited API, the times of the calls of the last minute.
	calls map[string][]time.Time

	mirror *redisMirror
}

// Option changes how NewServer builds a server.
type Option func(*Server)

// WithWallClock sets the clock signatures are checked against. The SDK
// signs with the wall clock, so this defaults to clock.Real{} even when the
// world runs in virtual time.
func WithWallClock(c clock.Clock) Option { return func(s *Server) { s.wall = c } }

// NewServer builds simcloud from cfg; its world starts at clk.Now() and is
// advanced to clk.Now() before each request and on each Step.
func NewServer(cfg Config, clk clock.Clock, logger *slog.Logger, opts ...Option) (*Server, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := world.New(cfg.World, clk.Now())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, clk: clk, wall: clock.Real{}, logger: logger, world: w,
		reg:    prometheus.NewRegistry(),
		faults: map[string]Fault{},
		calls:  map[string][]time.Time{},
		rng:    rand.New(rand.NewPCG(uint64(cfg.World.Seed), 0xfa17)),
	}
	for k, v := range cfg.Faults {
		s.faults[k] = v
	}
	for _, o := range opts {
		o(s)
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flexus_simcloud_requests_total",
		Help: "Requests simcloud answered, by cloud service, API and HTTP status code.",
	}, []string{"service", "api", "code"})
	s.reg.MustRegister(s.requests, &worldCollector{w: w})
	if cfg.Redis.Address != "" {
		s.mirror = newRedisMirror(cfg.Redis, logger)
	}
	s.routes()
	return s, nil
}

// World is the world behind the API, for tests and the backtest.
func (s *Server) World() *world.World { return s.world }

// Registry holds simcloud's own metrics, served on /metrics; callers may add collectors.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Config is the server's configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Handler serves the cloud APIs, the /-/sim/ admin endpoints and /metrics.
func (s *Server) Handler() http.Handler { return s.mux }

// Step advances the world to the clock's now and mirrors queues to Redis.
func (s *Server) Step(ctx context.Context) error {
	s.world.Advance(s.clk.Now())
	if s.mirror != nil {
		return s.mirror.sync(ctx, s.world.Groups())
	}
	return nil
}

// Run steps the world every interval until ctx ends. Redis errors are
// logged when they start or change, not on every step, and are not fatal.
func (s *Server) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	lastErr := ""
	for {
		err := s.Step(ctx)
		switch {
		case err != nil && ctx.Err() == nil && err.Error() != lastErr:
			s.logger.Warn("mirroring queues to Redis failed", "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			s.logger.Info("mirroring queues to Redis works again")
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			if s.mirror != nil {
				s.mirror.close()
			}
			return
		case <-t.C:
		}
	}
}

// SetFault sets the fault of one API ("*" for all); a zero Fault clears it.
func (s *Server) SetFault(api string, f Fault) error {
	if err := validateFault(api, f); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (Fault{}) {
		delete(s.faults, api)
	} else {
		s.faults[api] = f
	}
	return nil
}

// Faults returns the faults in force.
func (s *Server) Faults() map[string]Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Fault, len(s.faults))
	for k, v := range s.faults {
		out[k] = v
	}
	return out
}

// api is one cloud API: where it lives and how it answers.
type api struct {
	service, name, pattern string
	handle                 func(r *http.Request, body []byte) (int, any, error)
}

func (s *Server) apis() []api {
	return []api{
		{"ces", "BatchListMetricData", "POST /V1.0/{project_id}/batch-query-metric-data", s.batchListMetricData},
		{"ces", "ShowMetricData", "GET /V1.0/{project_id}/metric-data", s.showMetricData},
		{"ces", "ListMetrics", "GET /V1.0/{project_id}/metrics", s.listMetrics},
		{"ces", "ListAgentDimensionInfo", "GET /v2/{project_id}/instances/{instance_id}/agent-dimensions", s.listAgentDimensionInfo},
		{"as", "ListScalingGroups", "GET /autoscaling-api/v1/{project_id}/scaling_group", s.listScalingGroups},
		{"as", "ShowScalingGroup", "GET /autoscaling-api/v1/{project_id}/scaling_group/{scaling_group_id}", s.showScalingGroup},
		{"as", "UpdateScalingGroup", "PUT /autoscaling-api/v1/{project_id}/scaling_group/{scaling_group_id}", s.updateScalingGroup},
		{"as", "ListScalingInstances", "GET /autoscaling-api/v1/{project_id}/scaling_group_instance/{scaling_group_id}/list", s.listScalingInstances},
		{"as", "BatchRemoveScalingInstances", "POST /autoscaling-api/v1/{project_id}/scaling_group_instance/{scaling_group_id}/action", s.batchRemoveScalingInstances},
		{"as", "ListScalingActivityLogs", "GET /autoscaling-api/v1/{project_id}/scaling_activity_log/{scaling_group_id}", s.listScalingActivityLogs},
		{"as", "ShowWarmPool", warmPoolPattern("GET", s.cfg.ProjectID), s.showWarmPool},
		{"as", "PutWarmPool", warmPoolPattern("PUT", s.cfg.ProjectID), s.putWarmPool},
		{"ecs", "CreateServers", "POST /v1.1/{project_id}/cloudservers", s.createServers},
		{"ecs", "ListServersDetails", "GET /v1/{project_id}/cloudservers/detail", s.listServersDetails},
		{"ecs", "DeleteServers", "POST /v1/{project_id}/cloudservers/delete", s.deleteServers},
		{"ecs", "ShowJob", "GET /v1/{project_id}/jobs/{job_id}", s.showJob},
		{"ecs", "BatchServerAction", "POST /v1/{project_id}/cloudservers/action", s.serverAction},
	}
}

func apiNames() []string {
	var s Server
	var out []string
	for _, a := range s.apis() {
		out = append(out, a.name)
	}
	sort.Strings(out)
	return out
}

func knownAPI(name string) bool {
	for _, n := range apiNames() {
		if n == name {
			return true
		}
	}
	return false
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	for _, a := range s.apis() {
		s.mux.Handle(a.pattern, s.wrap(a))
	}
	s.mux.Handle(bssRatingsPattern, s.handleBSSRatings())
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /-/sim/state", s.handleState)
	s.mux.HandleFunc("POST /-/sim/demand", s.handleDemand)
	s.mux.HandleFunc("GET /-/sim/faults", s.handleGetFaults)
	s.mux.HandleFunc("PUT /-/sim/faults", s.handlePutFaults)
	s.mux.HandleFunc("POST /-/sim/faults", s.handlePutFaults)
	s.mux.HandleFunc("GET /-/sim/app/{group}/metrics", s.handleAppMetrics)
	s.mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "simcloud is healthy\n") })
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.requests.WithLabelValues("none", "unknown", "404").Inc()
		s.writeError(w, r, gatewayError(http.StatusNotFound, "APIGW.0101", fmt.Sprintf("The API does not exist or has not been published in the environment: %s %s", r.Method, r.URL.Path)), "apigw")
	})
}

// statusWriter remembers the status for the request counter.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// wrap runs what every cloud API shares: body limit, signature, project,
// faults, advancing the world, then the handler, and answers in JSON.
func (s *Server) wrap(a api) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				s.logger.Error("simcloud handler panicked", "api", a.name, "panic", p)
				s.writeError(w, r, &apiError{status: http.StatusInternalServerError, code: "SYS.5000", msg: "simcloud: internal error"}, a.service)
			}
			s.requests.WithLabelValues(a.service, a.name, fmt.Sprint(w.code)).Inc()
		}()
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.writeError(w, r, gatewayError(http.StatusRequestEntityTooLarge, "APIGW.0201", fmt.Sprintf("Request body too large: more than %d bytes", s.cfg.MaxBodyBytes)), a.service)
				return
			}
			s.writeError(w, r, gatewayError(http.StatusBadRequest, "APIGW.0201", "Bad request: reading the body failed: "+err.Error()), a.service)
			return
		}
		if err := verifySignature(r, body, s.cfg.AccessKey, string(s.cfg.SecretKey), s.wall.Now(), s.cfg.MaxClockSkew); err != nil {
			s.writeError(w, r, gatewayError(http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: "+err.Error()), a.service)
			return
		}
		if p := r.PathValue("project_id"); p != s.cfg.ProjectID && !projectInPattern(a.pattern) {
			s.writeError(w, r, gatewayError(http.StatusForbidden, "APIGW.0306", fmt.Sprintf("Incorrect IAM authentication information: project %q is not the project of this access key", p)), a.service)
			return
		}
		if h := r.Header.Get("X-Project-Id"); h != "" && h != s.cfg.ProjectID {
			s.writeError(w, r, gatewayError(http.StatusForbidden, "APIGW.0306", fmt.Sprintf("Incorrect IAM authentication information: X-Project-Id %q is not the project of this access key", h)), a.service)
			return
		}
		if err := s.rateLimit(a.name); err != nil {
			s.writeError(w, r, err, a.service)
			return
		}
		if err := s.injectFault(r.Context(), a.name); err != nil {
			s.writeError(w, r, err, a.service)
			return
		}
		s.world.Advance(s.clk.Now())
		status, resp, err := a.handle(r, body)
		if err != nil {
			s.writeError(w, r, err, a.service)
			return
		}
		s.setRequestID(w, r)
		if resp == nil {
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		if raw, ok := resp.(json.RawMessage); ok {
			_, _ = w.Write(raw)
			return
		}
		if err := json.NewEncoder(w).Encode(resp); err != nil {
			s.logger.Debug("writing a response failed", "api", a.name, "err", err)
		}
	})
}

// rateLimit refuses a call beyond its API's calls per minute, counted on
// the server's clock over the last 60 s.
func (s *Server) rateLimit(name string) error {
	limit := s.cfg.RateLimits[name]
	if limit <= 0 {
		return nil
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	calls := s.calls[name]
	i := 0
	for i < len(calls) && now.Sub(calls[i]) >= time.Minute {
		i++
	}
	calls = calls[i:]
	if len(calls) >= limit {
		s.calls[name] = calls
		return &apiError{status: http.StatusTooManyRequests, code: "ces.0429", msg: fmt.Sprintf("Too Many Requests. %s allows %d calls a minute", name, limit)}
	}
	s.calls[name] = append(calls, now)
	return nil
}

func (s *Server) injectFault(ctx context.Context, name string) error {
	s.mu.Lock()
	f, ok := s.faults[name]
	if !ok {
		f = s.faults["*"]
	}
	throttle := f.ThrottleProbability > 0 && s.rng.Float64() < f.ThrottleProbability
	fail := !throttle && f.ErrorProbability > 0 && s.rng.Float64() < f.ErrorProbability
	s.mu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(time.Duration(f.Latency))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	switch {
	case throttle:
		return gatewayError(http.StatusTooManyRequests, "APIGW.0308", "The throttling threshold has been reached: policy user over ratelimit, limit:10, time:1 second")
	case fail:
		return &apiError{status: http.StatusInternalServerError, code: "SYS.5000", msg: "simcloud: injected internal error"}
	}
	return nil
}

func (s *Server) setRequestID(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("X-Request-Id") != "" {
		return
	}
	s.mu.Lock()
	s.reqSeq++
	n := s.reqSeq
	s.mu.Unlock()
	w.Header().Set("X-Request-Id", fmt.Sprintf("simcloud%024x", n))
}

// ---- admin endpoints ----

type stateView struct {
	Now    time.Time           `json:"now"`
	Start  time.Time           `json:"start"`
	Groups []world.GroupState  `json:"groups"`
	Faults map[string]Fault    `json:"faults"`
	Ids    map[string][]string `json:"instance_ids"`
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	s.world.Advance(s.clk.Now())
	v := stateView{Now: s.world.Now(), Start: s.world.Start(), Groups: s.world.Groups(), Faults: s.Faults(), Ids: map[string][]string{}}
	for _, g := range v.Groups {
		ins, _ := s.world.Instances(g.Name)
		ids := []string{}
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
		v.Ids[g.Name] = ids
	}
	writeJSON(w, http.StatusOK, v)
}

type demandRequest struct {
	Group      string   `json:"group"`
	Multiplier *float64 `json:"multiplier"`
}

func (s *Server) handleDemand(w http.ResponseWriter, r *http.Request) {
	var req demandRequest
	if err := decodeAdmin(w, r, &req); err != nil {
		return
	}
	if req.Multiplier == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "multiplier is required, e.g. {\"group\": \"web\", \"multiplier\": 3}"})
		return
	}
	s.world.Advance(s.clk.Now())
	if err := s.world.SetDemandMultiplier(req.Group, *req.Multiplier); err != nil {
		status := http.StatusBadRequest
		if world.KindOf(err) == world.KindNotFound {
			status = http.StatusNotFound
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	s.logger.Info("demand multiplier changed", "group", req.Group, "multiplier", *req.Multiplier)
	writeJSON(w, http.StatusOK, s.world.Groups())
}

type faultRequest struct {
	API string `json:"api"`
	Fault
}

func (s *Server) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Server) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var req faultRequest
	if err := decodeAdmin(w, r, &req); err != nil {
		return
	}
	if req.API == "" {
		req.API = "*"
	}
	if err := s.SetFault(req.API, req.Fault); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.logger.Info("fault changed", "api", req.API, "throttle_probability", req.ThrottleProbability, "error_probability", req.ErrorProbability, "latency", req.Latency)
	writeJSON(w, http.StatusOK, s.Faults())
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return err
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// handleAppMetrics is what the application in a group would expose to
// Prometheus: its request rate, response time, error ratio and queue, now
// (no Cloud Eye delay).
func (s *Server) handleAppMetrics(w http.ResponseWriter, r *http.Request) {
	s.world.Advance(s.clk.Now())
	g, err := s.world.Group(r.PathValue("group"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&worldCollector{w: s.world, only: g.Name, app: true})
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
