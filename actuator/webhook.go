package actuator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Labels and annotations of the alert contract (docs/actuator.md).
const (
	LabelGroup       = "group"
	LabelAction      = "action"
	AnnotationTarget = "flexus_target"
	AnnotationStep   = "flexus_step"
)

// maxCount bounds any count read from an alert; config caps groups at 1000.
const maxCount = 100000

// Message is Alertmanager's webhook payload, version 4. Unknown fields are ignored.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// DecodeWebhook parses and checks a notification. Errors mean a malformed
// request (400): the sender should not retry it.
func DecodeWebhook(body []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("webhook: the body is not an Alertmanager notification: %w", err)
	}
	if m.Version != "4" {
		return nil, fmt.Errorf("webhook: version %q is not supported: Alertmanager sends version \"4\"", m.Version)
	}
	if m.Status != "firing" && m.Status != "resolved" {
		return nil, fmt.Errorf("webhook: status %q is neither firing nor resolved", m.Status)
	}
	for i, a := range m.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf("webhook: alerts[%d]: status %q is neither firing nor resolved", i, a.Status)
		}
	}
	return &m, nil
}

// Intents turns a notification's firing alerts into one intent per (group,
// action). Alerts without an action label are not for the actuator and are
// skipped; resolved alerts change nothing. For several alerts of one group
// and action the largest target wins: for scale-out the most capacity, for
// scale-in the most conservative.
func (m *Message) Intents() ([]Intent, error) {
	type acc struct {
		in    Intent
		parts []string
	}
	byKey := map[string]*acc{}
	for i, a := range m.Alerts {
		if a.Status != "firing" {
			continue
		}
		act, ok := a.Labels[LabelAction]
		if !ok {
			continue
		}
		action := Action(act)
		if action != ScaleOut && action != ScaleIn {
			return nil, fmt.Errorf("webhook: alerts[%d]: label action=%q: use scale_out or scale_in", i, act)
		}
		group := a.Labels[LabelGroup]
		if group == "" {
			return nil, fmt.Errorf("webhook: alerts[%d]: label group is missing: every scaling alert names its group", i)
		}
		target, hasTarget, err := parseTarget(a.Annotations[AnnotationTarget])
		if err != nil {
			return nil, fmt.Errorf("webhook: alerts[%d]: annotation %s: %w", i, AnnotationTarget, err)
		}
		step, err := parseStep(a.Annotations[AnnotationStep])
		if err != nil {
			return nil, fmt.Errorf("webhook: alerts[%d]: annotation %s: %w", i, AnnotationStep, err)
		}
		k := group + "\x00" + string(action)
		c := byKey[k]
		if c == nil {
			c = &acc{in: Intent{Group: group, Action: action}}
			byKey[k] = c
		}
		if hasTarget && (!c.in.HasTarget || target > c.in.Target) {
			c.in.Target, c.in.HasTarget = target, true
		}
		c.in.Step = max(c.in.Step, step)
		c.in.Alerts++
		fp := a.Fingerprint
		if fp == "" {
			fp = labelsFingerprint(a.Labels)
		}
		c.parts = append(c.parts, fp+"@"+a.StartsAt.UTC().Format(time.RFC3339Nano))
	}
	out := make([]Intent, 0, len(byKey))
	for _, c := range byKey {
		sort.Strings(c.parts)
		c.in.Key = idempotencyKey(m.GroupKey, c.parts, c.in)
		out = append(out, c.in)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Action < out[j].Action
	})
	return out, nil
}

// Counts in annotations are plain decimals, as Prometheus renders
// "{{ $value }}" ("5", "4.9999999", "1e+06"). Go's wider number syntax
// ("5_0", "0x1p3", "+5", " 5") is refused: a template that writes it is
// broken, and guessing what it meant could scale the wrong way.
var (
	plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	plainInteger = regexp.MustCompile(`^[0-9]+$`)
)

// parseTarget reads a count written by a template such as "{{ $value }}":
// "5", "5.0" or "4.9999999". It rounds up (with a small tolerance for float
// noise) in both directions: for scale-out that gives enough capacity, for
// scale-in it is the conservative side.
func parseTarget(s string) (int, bool, error) {
	if s == "" {
		return 0, false, nil
	}
	if !plainDecimal.MatchString(s) {
		return 0, false, fmt.Errorf("%q is not a non-negative instance count in plain decimal digits", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false, fmt.Errorf("%q is not a non-negative instance count", s)
	}
	v = math.Min(v, maxCount)
	return int(math.Ceil(v - 1e-6)), true, nil
}

func parseStep(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if !plainInteger.MatchString(s) || err != nil || v < 1 || v > maxCount {
		return 0, fmt.Errorf("%q is not a whole step of at least 1 in decimal digits", s)
	}
	return v, nil
}

func labelsFingerprint(ls map[string]string) string {
	names := make([]string, 0, len(ls))
	for n := range ls {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n + "\xff" + ls[n] + "\xff"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// idempotencyKey names one notification's request for a group and action:
// Alertmanager's group key, the alerts' fingerprints and start times, the
// action and the target. A redelivery or an HA peer's copy has the same key.
func idempotencyKey(groupKey string, parts []string, in Intent) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d\x00%t\x00%d", groupKey, strings.Join(parts, ","), in.Group, in.Action, in.Target, in.HasTarget, in.Step)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// ClientToken turns a key into the UUID-shaped X-Client-Token ECS accepts, so
// a retried create is deduplicated by the cloud too.
func ClientToken(key string) string {
	h := sha256.Sum256([]byte("flexus-client-token\x00" + key))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
