package actuator

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Paths the actuator serves.
const (
	PathAlerts    = "/api/v1/alerts"
	PathDecisions = "/api/v1/decisions"
)

// webhookAnswer is the JSON body of every webhook answer.
type webhookAnswer struct {
	Status    string          `json:"status"`
	Error     string          `json:"error,omitempty"`
	Decisions []answeredEntry `json:"decisions,omitempty"`
}

type answeredEntry struct {
	Group   string `json:"group"`
	Action  Action `json:"action"`
	Outcome string `json:"outcome"`
	From    int    `json:"from"`
	To      int    `json:"to"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

// authorized checks the bearer token in constant time. Hashing first keeps
// the comparison's length fixed, so the token's length does not leak either.
func (a *Actuator) authorized(r *http.Request) bool {
	act := a.Config().Actuator
	if act.InsecureNoAuth {
		return true
	}
	want := string(act.BearerToken)
	if want == "" {
		return false // no token configured and auth not waived: refuse everything
	}
	h := r.Header.Get("Authorization")
	scheme, got, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	g, w := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// WebhookHandler serves POST /api/v1/alerts. Its answers follow
// Alertmanager's retry rule: 2xx when applied, refused on purpose, a
// duplicate, dry-run or resolved; 400 malformed; 401 unauthenticated; 413
// too large; 503 only when a transient cloud error stopped a decision.
func (a *Actuator) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ans := a.serveWebhook(r)
		a.metrics.webhook.WithLabelValues(strconv.Itoa(code)).Inc()
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flexus-actuator"`)
		}
		if code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(ans)
	})
}

func (a *Actuator) serveWebhook(r *http.Request) (int, webhookAnswer) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, webhookAnswer{Status: "error", Error: "use POST"}
	}
	if !a.authorized(r) {
		return http.StatusUnauthorized, webhookAnswer{Status: "error", Error: "missing or wrong bearer token"}
	}
	limit := a.Config().Actuator.MaxBodyBytes
	if r.ContentLength > limit {
		return http.StatusRequestEntityTooLarge, webhookAnswer{Status: "error", Error: "body larger than actuator.max_body_bytes"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, webhookAnswer{Status: "error", Error: "body larger than actuator.max_body_bytes"}
		}
		return http.StatusBadRequest, webhookAnswer{Status: "error", Error: "reading body: " + err.Error()}
	}
	m, err := DecodeWebhook(body)
	if err != nil {
		return http.StatusBadRequest, webhookAnswer{Status: "error", Error: err.Error()}
	}
	if _, err := m.Intents(); err != nil {
		return http.StatusBadRequest, webhookAnswer{Status: "error", Error: err.Error()}
	}
	// A sender that hangs up must not cut a decision in half.
	recs, err := a.Handle(context.WithoutCancel(r.Context()), m)
	ans := webhookAnswer{Status: "ok"}
	for _, rec := range recs {
		ans.Decisions = append(ans.Decisions, answeredEntry{Group: rec.Group, Action: rec.Action, Outcome: rec.Outcome,
			From: rec.From, To: rec.To, Reason: rec.Reason, Error: rec.Error})
	}
	if err != nil {
		ans.Status, ans.Error = "error", err.Error()
		var te *TransientError
		if errors.As(err, &te) {
			return http.StatusServiceUnavailable, ans
		}
		return http.StatusInternalServerError, ans
	}
	return http.StatusOK, ans
}

// sharedReadTimeout bounds a read of the shared decision log.
const sharedReadTimeout = 5 * time.Second

// DecisionsHandler serves GET /api/v1/decisions?group=NAME&limit=N&scope=S,
// newest first. scope=shared reads every replica's decisions from the
// store's shared log (the default with etcd), scope=local this replica's,
// duplicates included (the default with the file store). It needs the same
// bearer token as the webhook.
func (a *Actuator) DecisionsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		if !a.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flexus-actuator"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		limit := 0
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				http.Error(w, "limit must be a non-negative integer", http.StatusBadRequest)
				return
			}
			limit = n
		}
		group := r.URL.Query().Get("group")
		scope := r.URL.Query().Get("scope")
		if scope == "" {
			scope = "local"
			if _, ok := a.store.(historian); ok {
				scope = "shared"
			}
		}
		var recs []Record
		switch scope {
		case "local":
			recs = a.Decisions(group, limit)
		case "shared":
			var err error
			// Bounded: with etcd down the client would retry until the caller gives up.
			ctx, cancel := context.WithTimeout(r.Context(), sharedReadTimeout)
			defer cancel()
			if recs, err = a.SharedDecisions(ctx, group, limit); errors.Is(err, errNoSharedLog) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			} else if err != nil {
				http.Error(w, "reading the shared decision log: "+err.Error()+" (scope=local serves this replica's)", http.StatusServiceUnavailable)
				return
			}
		default:
			http.Error(w, "scope must be local or shared", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"scope": scope, "decisions": a.withGrades(r.Context(), recs)})
	})
}

// decisionEntry is a record as /api/v1/decisions serves it: with its grade
// in hindsight when it was applied under actuator.grading.
type decisionEntry struct {
	Record
	Grade *gradeView `json:"grade,omitempty"`
}

// gradeView is a record's grade: verdict "pending" until its due time.
type gradeView struct {
	Verdict  string     `json:"verdict"`
	Due      time.Time  `json:"due"`
	GradedAt *time.Time `json:"graded_at,omitempty"`
}

// gradePending is the verdict shown before a decision is graded.
const gradePending = "pending"

// withGrades joins each record with its grade from the group's state; a
// state that cannot be read leaves the records without grades.
func (a *Actuator) withGrades(ctx context.Context, recs []Record) []decisionEntry {
	states := map[string]*GroupState{}
	out := make([]decisionEntry, len(recs))
	for i, rec := range recs {
		out[i].Record = rec
		if rec.Outcome != OutcomeApplied {
			continue
		}
		gs, ok := states[rec.Group]
		if !ok {
			gs, _ = a.store.Group(ctx, rec.Group)
			states[rec.Group] = gs
		}
		if gs == nil {
			continue
		}
		if gr, ok := gs.gradeOf(rec.Time, rec.Action); ok {
			v := &gradeView{Verdict: string(gr.Verdict), Due: gr.Due}
			if gr.Pending() {
				v.Verdict = gradePending
			} else {
				at := gr.GradedAt
				v.GradedAt = &at
			}
			out[i].Grade = v
		}
	}
	return out
}
