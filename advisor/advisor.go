// Package advisor asks an OpenAI-compatible model (DeepSeek by default) to propose
// thresholds and weights for each scaling group, and holds every answer to the
// guardrails of DESIGN.md before anyone may use it. It never scales anything.
package advisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
	"github.com/sashabaranov/go-openai"

	"github.com/flexus-autoscaler/flexus/clock"
)

// Result is the `result` label of flexus_advisor_requests_total.
type Result string

const (
	ResultOK        Result = "ok"
	ResultInvalid   Result = "invalid"   // answered, but the proposal was rejected
	ResultError     Result = "error"     // transport error or an HTTP error other than 429
	ResultTimeout   Result = "timeout"   // no answer within the timeout
	ResultThrottled Result = "throttled" // HTTP 429
)

// Results lists every result, so the counter starts at 0 for each.
func Results() []Result {
	return []Result{ResultOK, ResultInvalid, ResultError, ResultTimeout, ResultThrottled}
}

// Errors Advise wraps, so callers can tell them apart with errors.Is. A rejected
// proposal is a *RejectedError instead.
var (
	ErrOff       = errors.New("advisor: mode is off")
	ErrNoHistory = errors.New("advisor: the summary holds no samples: nothing to ask about yet")
	ErrTimeout   = errors.New("advisor: the model did not answer within the timeout")
	ErrThrottled = errors.New("advisor: the model endpoint is rate limiting (HTTP 429)")
	ErrRequest   = errors.New("advisor: the request to the model failed")
	ErrDisabled  = errors.New("advisor: disabled: no API key could be read")

	errBodyTooLarge = fmt.Errorf("advisor: the response body exceeds %d bytes", maxResponseBytes)
)

// Proposal is a model's answer for one group after the guardrails.
type Proposal struct {
	Group string
	// At is the "now" of the Advise call that produced it.
	At time.Time
	// Settings are clamped and normalised: safe to use as thresholds.
	Settings Settings
	// Rationale is the model's explanation, one line, at most 300 characters. Log it; never act on it.
	Rationale string
	// Adjustments are what the guardrails changed.
	Adjustments []Adjustment
}

// Advisor keeps the last good proposal per group and publishes it as metrics; in
// mode apply it also holds the values applied per group (see apply.go).
// It is safe for concurrent use: the exporter reads while the loop writes.
type Advisor struct {
	logger   *slog.Logger
	getenv   func(string) string
	baseHTTP *http.Client

	mu          sync.RWMutex
	cfg         Config
	client      *openai.Client // nil in mode off, or when the key could not be read
	secret      string
	keyErr      error
	latest      map[string]Proposal
	lastSuccess time.Time
	applied     map[string]*groupAdvice
	base        map[string]Settings // the config's own values, as the exporter last reported them
	checker     *Checker            // nil: proposals count without a replay

	requests        *prometheus.CounterVec
	checks          *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	changes         *prometheus.CounterVec
	thresholdDesc   *prometheus.Desc
	weightDesc      *prometheus.Desc
	lastSuccessDesc *prometheus.Desc
	enabledDesc     *prometheus.Desc
}

// maxResponseBytes bounds what a lying endpoint can make us read.
const maxResponseBytes = 1 << 20

// New builds an advisor from a validated config. Only httpClient's transport is used
// (nil for the default one): the advisor's requests get their own client whose timeout
// is the configured one. getenv resolves api_key_env. In mode off nothing is read and
// nothing is sent. A key that cannot be read does not fail New: the advisor logs the
// error, publishes flexus_advisor_enabled 0 and asks nothing, and the exporter runs on.
func New(cfg Config, httpClient *http.Client, getenv func(string) string, logger *slog.Logger) (*Advisor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = promslog.NewNopLogger()
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	a := &Advisor{
		cfg:      cfg,
		logger:   logger,
		getenv:   getenv,
		baseHTTP: httpClient,
		latest:   map[string]Proposal{},
		applied:  map[string]*groupAdvice{},
		base:     map[string]Settings{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_advisor_requests_total",
			Help: "Requests to the advisor model, by result.",
		}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_advisor_rejected_proposals_total",
			Help: "Advisor proposals rejected, or changed by the guardrails, by reason.",
		}, []string{"reason"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_advisor_history_checks_total",
			Help: "Advisor proposals replayed over their group's history before they count, by result (passed, worse_on_history, insufficient_history, error).",
		}, []string{"result"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_advisor_applied_changes_total",
			Help: "Settings changed by an applied advisor proposal, by group, signal and field (scale_out, scale_in, weight).",
		}, []string{"group", "signal", "field"}),
		enabledDesc: prometheus.NewDesc("flexus_advisor_enabled",
			"1 when the advisor asks the model, 0 when its mode needs the model but it cannot (no API key).", nil, nil),
		thresholdDesc: prometheus.NewDesc("flexus_advisor_threshold",
			"Threshold proposed by the advisor after the guardrails, in the signal's base unit.",
			[]string{"group", "signal", "direction"}, nil),
		weightDesc: prometheus.NewDesc("flexus_advisor_weight",
			"Signal weight proposed by the advisor after normalisation.",
			[]string{"group", "signal"}, nil),
		lastSuccessDesc: prometheus.NewDesc("flexus_advisor_last_success_timestamp_seconds",
			"Time of the last accepted advisor proposal, 0 before the first.", nil, nil),
	}
	for _, r := range Results() {
		a.requests.WithLabelValues(string(r))
	}
	for _, r := range Reasons() {
		a.rejected.WithLabelValues(string(r))
	}
	for _, r := range CheckResults() {
		a.checks.WithLabelValues(string(r))
	}
	if cfg.Mode != ModeOff {
		a.connect()
	}
	return a, nil
}

// connect builds the model client for a.cfg; the caller holds a.mu or owns a.
func (a *Advisor) connect() {
	a.client, a.secret, a.keyErr = nil, "", nil
	key, err := a.cfg.apiKey(a.getenv)
	if err != nil {
		a.keyErr = err
		a.logger.Error("advisor disabled: the exporter runs on without it; fix the key and reload", "mode", string(a.cfg.Mode), "err", err)
		return
	}
	a.secret = key
	oc := openai.DefaultConfig(key)
	oc.BaseURL = a.cfg.BaseURL
	oc.HTTPClient = &http.Client{
		Transport:     limitedTransport{next: transportOf(a.baseHTTP)},
		CheckRedirect: a.baseHTTP.CheckRedirect,
		Jar:           a.baseHTTP.Jar,
		// The configured timeout is the real one: a shared client's shorter one would cut long answers.
		Timeout: a.cfg.Timeout,
	}
	a.client = openai.NewClientWithConfig(oc)
}

// Reconfigure takes a reloaded config: the mode and every other field may change.
// Leaving mode apply drops every applied value; a new endpoint, key or timeout
// builds a new client. Like New, it fails only on an invalid config.
func (a *Advisor) Reconfigure(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.cfg
	a.cfg = cfg
	if cfg.Mode != ModeApply && len(a.applied) > 0 {
		a.logger.Info("advisor left mode apply: the config's values return", "mode", string(cfg.Mode))
		clear(a.applied)
	}
	switch {
	case cfg.Mode == ModeOff:
		a.client, a.keyErr = nil, nil
	case a.client == nil || old.BaseURL != cfg.BaseURL || old.Timeout != cfg.Timeout ||
		old.APIKey != cfg.APIKey || old.APIKeyFile != cfg.APIKeyFile || old.APIKeyEnv != cfg.APIKeyEnv:
		a.connect()
	}
	return nil
}

// CheckWith replays every later proposal through c over its group's history
// before it is published or applied (check.go); nil turns the check off.
func (a *Advisor) CheckWith(c *Checker) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checker = c
}

// Mode is the configured mode.
func (a *Advisor) Mode() Mode {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg.Mode
}

// snapshot returns what one request needs, read once under the lock.
func (a *Advisor) snapshot() (Config, *openai.Client, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg, a.client, a.keyErr
}

// Advise asks the model about one group, applies the guardrails and, on success,
// keeps the proposal as the group's latest. It returns within the configured timeout.
func (a *Advisor) Advise(ctx context.Context, now time.Time, s Summary) (Proposal, error) {
	cfg, client, keyErr := a.snapshot()
	if cfg.Mode == ModeOff {
		return Proposal{}, ErrOff
	}
	if client == nil {
		return Proposal{}, fmt.Errorf("%w: %v", ErrDisabled, keyErr)
	}
	if !s.hasData() {
		return Proposal{}, fmt.Errorf("%w (group %q)", ErrNoHistory, s.Group)
	}
	data, err := s.promptJSON()
	if err != nil {
		return Proposal{}, fmt.Errorf("advisor: group %q: encoding the summary: %w", s.Group, err)
	}
	enabled := enabledSignals(s.Current)
	req := openai.ChatCompletionRequest{
		Model: cfg.Model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: systemPrompt(tunedWeightTotal(s.Current), enabled)},
			{Role: openai.ChatMessageRoleUser, Content: userPrompt(data)},
		},
		MaxTokens: cfg.MaxTokens,
	}
	if cfg.JSONMode {
		req.ResponseFormat = &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}
	}

	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	resp, err := client.CreateChatCompletion(rctx, req)
	if err != nil {
		return Proposal{}, a.failed(ctx, s.Group, err)
	}
	if len(resp.Choices) == 0 {
		return Proposal{}, a.rejectedAnswer(s.Group, reject(ReasonEmptyAnswer, "the answer has no choices"))
	}
	// Redact before parsing so that no excerpt of the answer, cut anywhere, can carry the key.
	ans, err := parseAnswer(a.redact(resp.Choices[0].Message.Content), enabled)
	if err != nil {
		return Proposal{}, a.rejectedAnswer(s.Group, err)
	}
	settings, adj, err := applyGuardrails(ans, s.Current, enabled)
	if err != nil {
		return Proposal{}, a.rejectedAnswer(s.Group, err)
	}

	if err := a.checkHistory(ctx, cfg, s, settings); err != nil {
		var rej *RejectedError
		if errors.As(err, &rej) {
			return Proposal{}, a.rejectedAnswer(s.Group, err)
		}
		return Proposal{}, err
	}

	p := Proposal{Group: s.Group, At: now, Settings: settings, Adjustments: adj}
	if ans.Rationale != nil {
		p.Rationale = *ans.Rationale
	}
	for _, x := range adj {
		a.rejected.WithLabelValues(string(x.Reason)).Inc()
	}
	a.requests.WithLabelValues(string(ResultOK)).Inc()
	a.mu.Lock()
	a.latest[s.Group] = p
	a.lastSuccess = now
	if a.cfg.Mode == ModeApply {
		a.apply(now, s, settings)
	}
	a.mu.Unlock()
	a.logger.Info("advisor proposal accepted", "group", s.Group, "mode", string(cfg.Mode),
		"adjustments", describe(adj), "rationale", p.Rationale)
	return p, nil
}

// checkHistory replays the proposal over the group's history, off the
// collection's path (Advise runs in the advisor's own loop), and refuses it
// when it would have been worse than the settings in force on both counts.
func (a *Advisor) checkHistory(ctx context.Context, cfg Config, s Summary, settings Settings) error {
	a.mu.RLock()
	c := a.checker
	a.mu.RUnlock()
	if c == nil {
		return nil
	}
	v := c.Check(ctx, s, settings, cfg.CheckMinHistory, cfg.CheckTimeout)
	if ctx.Err() != nil {
		// Shutting down: the replay was cut short, not judged; nothing counts.
		return fmt.Errorf("advisor: group %q: %w", s.Group, ctx.Err())
	}
	a.checks.WithLabelValues(string(v.Result)).Inc()
	switch v.Result {
	case CheckWorse:
		return reject(ReasonWorseOnHistory, "%s", v.Detail)
	case CheckPassed:
		a.logger.Info("advisor proposal replayed over the group's history", "group", s.Group, "result", string(v.Result), "detail", v.Detail)
	default:
		a.logger.Warn("advisor proposal not checked against history: it counts on the guardrails alone",
			"group", s.Group, "result", string(v.Result), "detail", v.Detail)
	}
	return nil
}

func (a *Advisor) failed(parent context.Context, group string, err error) error {
	if parent.Err() != nil {
		// Shutting down: not the model's fault, not counted.
		return fmt.Errorf("advisor: group %q: %w", group, parent.Err())
	}
	result, kind := ResultError, ErrRequest
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		result, kind = ResultTimeout, ErrTimeout
	case errors.As(err, &apiErr) && apiErr.HTTPStatusCode == http.StatusTooManyRequests,
		errors.As(err, &reqErr) && reqErr.HTTPStatusCode == http.StatusTooManyRequests:
		result, kind = ResultThrottled, ErrThrottled
	}
	a.requests.WithLabelValues(string(result)).Inc()
	// %w on kind only: the library's error may quote a response body, so it is redacted to text.
	out := fmt.Errorf("%w: group %q: %s (the last good proposal stays)", kind, group, truncate(a.redact(err.Error()), 300))
	a.logger.Warn("advisor request failed", "group", group, "result", string(result), "err", out)
	return out
}

func (a *Advisor) rejectedAnswer(group string, err error) error {
	var rej *RejectedError
	if !errors.As(err, &rej) {
		rej = &RejectedError{Reason: ReasonNotJSON, Detail: err.Error()}
	}
	rej = &RejectedError{Reason: rej.Reason, Detail: a.redact(rej.Detail)}
	a.requests.WithLabelValues(string(ResultInvalid)).Inc()
	a.rejected.WithLabelValues(string(rej.Reason)).Inc()
	a.logger.Warn("advisor proposal rejected", "group", group, "reason", string(rej.Reason), "detail", rej.Detail)
	return rej
}

func (a *Advisor) redact(s string) string {
	a.mu.RLock()
	secret := a.secret
	a.mu.RUnlock()
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<secret>")
}

func describe(adj []Adjustment) string {
	parts := make([]string, 0, len(adj))
	for _, x := range adj {
		if x.Signal == "" {
			parts = append(parts, fmt.Sprintf("weights sum %.4g→%.4g (%s)", x.From, x.To, x.Reason))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s %.4g→%.4g (%s)", x.Signal, x.Direction, x.From, x.To, x.Reason))
	}
	return strings.Join(parts, "; ")
}

// Step asks about every group with history, one after the other. Each request is
// bounded by the timeout, so a step takes at most len(summaries) × timeout.
func (a *Advisor) Step(ctx context.Context, now time.Time, summaries []Summary) {
	if cfg, client, _ := a.snapshot(); cfg.Mode == ModeOff || client == nil {
		return
	}
	for _, s := range summaries {
		if ctx.Err() != nil {
			return
		}
		if !s.hasData() {
			a.logger.Debug("advisor skips a group without history", "group", s.Group)
			continue
		}
		_, _ = a.Advise(ctx, now, s) // Advise logs and counts its own outcome.
	}
}

// Run calls Step after the initial delay and then every interval, until ctx ends.
// summaries is called with the step's now and must not block for long. It runs in
// every mode, so that a reload can turn the advisor on; while off it asks nothing.
func (a *Advisor) Run(ctx context.Context, clk clock.Clock, summaries func(now time.Time) []Summary) error {
	cfg, _, _ := a.snapshot()
	t := time.NewTimer(cfg.InitialDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if cfg, client, _ := a.snapshot(); cfg.Mode != ModeOff && client != nil {
				now := clk.Now()
				a.Step(ctx, now, summaries(now))
			}
			cfg, _, _ := a.snapshot()
			t.Reset(cfg.Interval)
		}
	}
}

// Latest returns the last good proposal for group in any mode, for display.
func (a *Advisor) Latest(group string) (Proposal, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	p, ok := a.latest[group]
	if !ok {
		return Proposal{}, false
	}
	p.Settings = p.Settings.clone()
	p.Adjustments = append([]Adjustment(nil), p.Adjustments...)
	return p, true
}

// Retain forgets the proposals of groups not listed, e.g. after a config reload.
func (a *Advisor) Retain(groups ...string) {
	keep := map[string]bool{}
	for _, g := range groups {
		keep[g] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	maps.DeleteFunc(a.latest, func(g string, _ Proposal) bool { return !keep[g] })
	maps.DeleteFunc(a.applied, func(g string, _ *groupAdvice) bool { return !keep[g] })
	maps.DeleteFunc(a.base, func(g string, _ Settings) bool { return !keep[g] })
}

func (s Settings) clone() Settings {
	return Settings{Thresholds: maps.Clone(s.Thresholds), Weights: maps.Clone(s.Weights), TrendWeight: s.TrendWeight}
}

// Describe implements prometheus.Collector. It describes every series in every mode,
// since a reload may change the mode; in mode off Collect publishes nothing.
func (a *Advisor) Describe(ch chan<- *prometheus.Desc) {
	a.requests.Describe(ch)
	a.rejected.Describe(ch)
	a.checks.Describe(ch)
	a.changes.Describe(ch)
	ch <- a.thresholdDesc
	ch <- a.weightDesc
	ch <- a.lastSuccessDesc
	ch <- a.enabledDesc
}

// Collect implements prometheus.Collector from memory; it never waits on the model.
func (a *Advisor) Collect(ch chan<- prometheus.Metric) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.cfg.Mode == ModeOff {
		return
	}
	a.requests.Collect(ch)
	a.rejected.Collect(ch)
	a.checks.Collect(ch)
	a.changes.Collect(ch)
	enabled := 0.0
	if a.client != nil {
		enabled = 1
	}
	ch <- prometheus.MustNewConstMetric(a.enabledDesc, prometheus.GaugeValue, enabled)
	for g, p := range a.latest {
		for _, s := range Signals() {
			b, on := p.Settings.Thresholds[s]
			if !on {
				continue // disabled for the group: nothing was proposed
			}
			ch <- prometheus.MustNewConstMetric(a.thresholdDesc, prometheus.GaugeValue, b.Out, g, string(s), string(Out))
			ch <- prometheus.MustNewConstMetric(a.thresholdDesc, prometheus.GaugeValue, b.In, g, string(s), string(In))
			ch <- prometheus.MustNewConstMetric(a.weightDesc, prometheus.GaugeValue, p.Settings.Weights[s], g, string(s))
		}
	}
	ts := 0.0
	if !a.lastSuccess.IsZero() {
		ts = float64(a.lastSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(a.lastSuccessDesc, prometheus.GaugeValue, ts)
}

// limitedTransport caps response bodies so a misbehaving endpoint cannot exhaust memory.
type limitedTransport struct{ next http.RoundTripper }

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxResponseBytes}
	return resp, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// limitedBody fails the read, rather than truncating silently, once left bytes are used.
type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
