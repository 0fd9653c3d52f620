package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// httpJSON does one bounded request and decodes a JSON answer into out.
func httpJSON(ctx context.Context, client *http.Client, method, u, token string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, strings.TrimSpace(string(b)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, u, err)
	}
	return nil
}

// GroupState is one group as simcloud's GET /-/sim/state reports it.
type GroupState = world.GroupState

// Simcloud talks to simcloud's admin endpoints.
type Simcloud struct {
	Base   string // http://host:port
	Client *http.Client
}

// State returns every group's state.
func (s Simcloud) State(ctx context.Context) ([]GroupState, error) {
	var raw json.RawMessage
	if err := httpJSON(ctx, s.Client, http.MethodGet, s.Base+"/-/sim/state", "", nil, &raw); err != nil {
		return nil, err
	}
	return decodeState(raw)
}

// decodeState accepts the groups as a list, or an object holding them under "groups".
func decodeState(raw []byte) ([]GroupState, error) {
	var groups []GroupState
	if err := json.Unmarshal(raw, &groups); err == nil {
		return groups, nil
	}
	var obj struct {
		Groups []GroupState `json:"groups"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("simcloud state: %w", err)
	}
	return obj.Groups, nil
}

// SetDemandMultiplier scales a group's demand (1 is the scenario as configured).
func (s Simcloud) SetDemandMultiplier(ctx context.Context, group string, m float64) error {
	body := map[string]any{"group": group, "multiplier": m}
	return httpJSON(ctx, s.Client, http.MethodPost, s.Base+"/-/sim/demand", "", body, nil)
}

// Faults sets the probability of 429 and 500 answers on every API.
type Faults struct {
	Throttle float64 `json:"throttle"`
	Error    float64 `json:"error"`
}

// SetFaults injects faults into every cloud API.
func (s Simcloud) SetFaults(ctx context.Context, f Faults) error {
	body := map[string]any{"api": "*", "throttle_probability": f.Throttle, "error_probability": f.Error}
	return httpJSON(ctx, s.Client, http.MethodPost, s.Base+"/-/sim/faults", "", body, nil)
}

// Decision is one entry of the actuator's decision log (the fields the demo uses).
type Decision struct {
	Time      time.Time `json:"time"`
	Group     string    `json:"group"`
	Action    string    `json:"action"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	From      int       `json:"from"`
	Requested int       `json:"requested"`
	To        int       `json:"to"`
	Key       string    `json:"key"`
	Error     string    `json:"error"`
	Guards    []struct {
		Guard  string `json:"guard"`
		Pass   bool   `json:"pass"`
		Detail string `json:"detail"`
	} `json:"guards"`
	// Grade is an applied decision's grade in hindsight (actuator.grading).
	Grade *Grade `json:"grade,omitempty"`
}

// Grade is the verdict on a decision once its lead time passed: needed or
// unneeded (scale-out), safe or premature (scale-in), ungraded, or pending.
type Grade struct {
	Verdict  string     `json:"verdict"`
	GradedAt *time.Time `json:"graded_at,omitempty"`
}

// Verdict is the decision's grade, "" when it has none.
func (d Decision) Verdict() string {
	if d.Grade == nil {
		return ""
	}
	return d.Grade.Verdict
}

// Applied reports whether the decision changed the cloud.
func (d Decision) Applied() bool { return d.Outcome == "applied" }

// Why explains the decision in one line: the refusing guard, the error, or
// the guards that shaped the count.
func (d Decision) Why() string {
	var parts []string
	if d.Reason != "" {
		parts = append(parts, d.Reason)
	}
	if d.Error != "" {
		parts = append(parts, firstLine(d.Error))
	}
	for _, g := range d.Guards {
		if g.Detail == "" || (!d.Applied() && g.Pass) {
			continue
		}
		// A refusal's reason is its guard's name: say it once, with the detail.
		if len(parts) > 0 && parts[0] == g.Guard {
			parts[0] = g.Guard + ": " + g.Detail
			continue
		}
		parts = append(parts, g.Guard+": "+g.Detail)
	}
	if len(parts) == 0 && d.Requested != 0 {
		parts = append(parts, fmt.Sprintf("asked for %d, every guard passed", d.Requested))
	}
	return strings.Join(parts, "; ")
}

// Actuator reads the actuator's decision log, with the webhook's bearer token.
type Actuator struct {
	Base   string
	Token  string
	Client *http.Client
}

// Decisions returns the recent decisions (newest first, as the actuator serves them).
func (a Actuator) Decisions(ctx context.Context) ([]Decision, error) {
	var resp struct {
		Decisions []Decision `json:"decisions"`
	}
	if err := httpJSON(ctx, a.Client, http.MethodGet, a.Base+"/api/v1/decisions", a.Token, nil, &resp); err != nil {
		return nil, err
	}
	return resp.Decisions, nil
}

// Prometheus queries Prometheus's HTTP API.
type Prometheus struct {
	Base   string
	Client *http.Client
}

// Vector runs an instant query and returns each series' value keyed by the
// value of label key ("" keys everything under "").
func (p Prometheus) Vector(ctx context.Context, query, key string) (map[string]float64, error) {
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	u := p.Base + "/api/v1/query?query=" + url.QueryEscape(query)
	if err := httpJSON(ctx, p.Client, http.MethodGet, u, "", nil, &resp); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, r := range resp.Data.Result {
		s, _ := r.Value[1].(string)
		var v float64
		if _, err := fmt.Sscan(s, &v); err != nil {
			continue
		}
		out[r.Metric[key]] = v
	}
	return out, nil
}

// Alert is one alert as Prometheus's /api/v1/alerts reports it.
type Alert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

// Alerts returns the pending and firing alerts.
func (p Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var resp struct {
		Data struct {
			Alerts []Alert `json:"alerts"`
		} `json:"data"`
	}
	if err := httpJSON(ctx, p.Client, http.MethodGet, p.Base+"/api/v1/alerts", "", nil, &resp); err != nil {
		return nil, err
	}
	return resp.Data.Alerts, nil
}

// RuleHolds returns each alerting rule's hold time (`for:`) by alert name.
func (p Prometheus) RuleHolds(ctx context.Context) (map[string]time.Duration, error) {
	var resp struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name     string  `json:"name"`
					Type     string  `json:"type"`
					Duration float64 `json:"duration"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := httpJSON(ctx, p.Client, http.MethodGet, p.Base+"/api/v1/rules?type=alert", "", nil, &resp); err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, g := range resp.Data.Groups {
		for _, r := range g.Rules {
			out[r.Name] = time.Duration(r.Duration * float64(time.Second))
		}
	}
	return out, nil
}
