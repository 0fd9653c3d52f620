package actuator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// notification builds a version-4 payload with the given alerts.
func notification(groupKey string, alerts ...Alert) []byte {
	status := "resolved"
	for _, a := range alerts {
		if a.Status == "firing" {
			status = "firing"
		}
	}
	b, _ := json.Marshal(Message{Version: "4", GroupKey: groupKey, Status: status, Receiver: "flexus", Alerts: alerts})
	return b
}

func alert(group string, action Action, tgt string, fp string) Alert {
	a := Alert{Status: "firing", Labels: map[string]string{"alertname": "FlexusScale", "group": group, "action": string(action)},
		Annotations: map[string]string{}, StartsAt: t0, Fingerprint: fp}
	if tgt != "" {
		a.Annotations[AnnotationTarget] = tgt
	}
	return a
}

func TestDecodeWebhook(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "a real Alertmanager payload with unknown fields decodes",
			body: `{"version":"4","groupKey":"{}:{group=\"web\"}","truncatedAlerts":0,"status":"firing","receiver":"flexus","groupLabels":{"group":"web"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","alerts":[{"status":"firing","labels":{"group":"web","action":"scale_out"},"annotations":{"flexus_target":"5"},"startsAt":"2026-11-27T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"abc"}],"somethingNew":true}`},
		{name: "not JSON is malformed", body: `{"version":`, wantErr: "is not an Alertmanager notification"},
		{name: "another version is refused", body: `{"version":"3","status":"firing"}`, wantErr: `version "3" is not supported`},
		{name: "missing version is refused", body: `{"status":"firing"}`, wantErr: `version "" is not supported`},
		{name: "unknown notification status", body: `{"version":"4","status":"pending"}`, wantErr: `status "pending"`},
		{name: "unknown alert status", body: `{"version":"4","status":"firing","alerts":[{"status":"odd"}]}`, wantErr: `alerts[0]: status "odd"`},
		{name: "a bad start time is malformed", body: `{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"yesterday"}]}`, wantErr: "not an Alertmanager notification"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeWebhook([]byte(tc.body))
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestIntents(t *testing.T) {
	resolved := alert("web", ScaleOut, "9", "r")
	resolved.Status = "resolved"
	noAction := alert("web", ScaleOut, "9", "n")
	delete(noAction.Labels, "action")
	stepOnly := alert("web", ScaleIn, "", "s")
	stepOnly.Annotations[AnnotationStep] = "2"
	tests := []struct {
		name    string
		alerts  []Alert
		want    []Intent // Key and Alerts are not compared
		wantErr string
	}{
		{name: "one firing alert is one intent", alerts: []Alert{alert("web", ScaleOut, "5", "a")},
			want: []Intent{{Group: "web", Action: ScaleOut, Target: 5, HasTarget: true}}},
		{name: "a float target is rounded up", alerts: []Alert{alert("web", ScaleOut, "4.2", "a")},
			want: []Intent{{Group: "web", Action: ScaleOut, Target: 5, HasTarget: true}}},
		{name: "float noise just above a whole count is that count", alerts: []Alert{alert("web", ScaleIn, "5.0000000001", "a")},
			want: []Intent{{Group: "web", Action: ScaleIn, Target: 5, HasTarget: true}}},
		{name: "\"5.0\" is 5", alerts: []Alert{alert("web", ScaleOut, "5.0", "a")},
			want: []Intent{{Group: "web", Action: ScaleOut, Target: 5, HasTarget: true}}},
		{name: "several scale-out alerts: the largest target wins",
			alerts: []Alert{alert("web", ScaleOut, "5", "a"), alert("web", ScaleOut, "8", "b"), alert("web", ScaleOut, "6", "c")},
			want:   []Intent{{Group: "web", Action: ScaleOut, Target: 8, HasTarget: true}}},
		{name: "several scale-in alerts: the largest, most conservative target wins",
			alerts: []Alert{alert("web", ScaleIn, "2", "a"), alert("web", ScaleIn, "4", "b")},
			want:   []Intent{{Group: "web", Action: ScaleIn, Target: 4, HasTarget: true}}},
		{name: "resolved alerts change nothing", alerts: []Alert{resolved}, want: []Intent{}},
		{name: "alerts without an action label are for people and skipped", alerts: []Alert{noAction}, want: []Intent{}},
		{name: "a step without a target", alerts: []Alert{stepOnly}, want: []Intent{{Group: "web", Action: ScaleIn, Step: 2}}},
		{name: "groups and actions are separate intents in a stable order",
			alerts: []Alert{alert("web", ScaleOut, "5", "a"), alert("api", ScaleIn, "1", "b"), alert("api", ScaleOut, "3", "c")},
			want: []Intent{{Group: "api", Action: ScaleIn, Target: 1, HasTarget: true}, {Group: "api", Action: ScaleOut, Target: 3, HasTarget: true},
				{Group: "web", Action: ScaleOut, Target: 5, HasTarget: true}}},
		{name: "an unknown action is malformed", alerts: []Alert{alert("web", "scale_up", "5", "a")}, wantErr: `label action="scale_up"`},
		{name: "a missing group is malformed", alerts: []Alert{alert("", ScaleOut, "5", "a")}, wantErr: "label group is missing"},
		{name: "a negative target is malformed", alerts: []Alert{alert("web", ScaleOut, "-1", "a")}, wantErr: "flexus_target"},
		{name: "NaN target is malformed", alerts: []Alert{alert("web", ScaleOut, "NaN", "a")}, wantErr: "flexus_target"},
		{name: "a word target is malformed", alerts: []Alert{alert("web", ScaleOut, "five", "a")}, wantErr: "flexus_target"},
		{name: "a fractional step is malformed", alerts: []Alert{func() Alert { a := alert("web", ScaleOut, "", "a"); a.Annotations[AnnotationStep] = "1.5"; return a }()}, wantErr: "flexus_step"},
		{name: "an exponent as Prometheus renders a large value is a count", alerts: []Alert{alert("web", ScaleOut, "1e+06", "a")},
			want: []Intent{{Group: "web", Action: ScaleOut, Target: maxCount, HasTarget: true}}},
		{name: "a digit separator in a target is malformed", alerts: []Alert{alert("web", ScaleOut, "5_0", "a")}, wantErr: "flexus_target"},
		{name: "a hex float target is malformed", alerts: []Alert{alert("web", ScaleOut, "0x1p3", "a")}, wantErr: "flexus_target"},
		{name: "a signed target is malformed", alerts: []Alert{alert("web", ScaleOut, "+5", "a")}, wantErr: "flexus_target"},
		{name: "a target with spaces is malformed", alerts: []Alert{alert("web", ScaleOut, " 5", "a")}, wantErr: "flexus_target"},
		{name: "an infinite target is malformed", alerts: []Alert{alert("web", ScaleOut, "Inf", "a")}, wantErr: "flexus_target"},
		{name: "a digit separator in a step is malformed", alerts: []Alert{stepAlert("5_0")}, wantErr: "flexus_step"},
		{name: "a hex step is malformed", alerts: []Alert{stepAlert("0x2")}, wantErr: "flexus_step"},
		{name: "a signed step is malformed", alerts: []Alert{stepAlert("+2")}, wantErr: "flexus_step"},
		{name: "a step with spaces is malformed", alerts: []Alert{stepAlert(" 2")}, wantErr: "flexus_step"},
		{name: "a step written as a float is malformed", alerts: []Alert{stepAlert("2.0")}, wantErr: "flexus_step"},
		{name: "a zero step is malformed", alerts: []Alert{stepAlert("0")}, wantErr: "flexus_step"},
		{name: "a step in decimal digits is read", alerts: []Alert{stepAlert("12")}, want: []Intent{{Group: "web", Action: ScaleOut, Step: 12}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeWebhook(notification("gk", tc.alerts...))
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Intents()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].Key == "" {
					t.Errorf("intent %d has no idempotency key", i)
				}
				got[i].Key, got[i].Alerts = "", 0
				if got[i] != tc.want[i] {
					t.Errorf("intent %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	key := func(gk string, alerts ...Alert) string {
		m, err := DecodeWebhook(notification(gk, alerts...))
		if err != nil {
			t.Fatal(err)
		}
		in, err := m.Intents()
		if err != nil || len(in) != 1 {
			t.Fatalf("%v %v", in, err)
		}
		return in[0].Key
	}
	a, b := alert("web", ScaleOut, "5", "a"), alert("web", ScaleOut, "5", "b")
	base := key("gk", a, b)
	later := a
	later.StartsAt = t0.Add(time.Hour)
	for name, other := range map[string]string{
		"another start time": key("gk", later, b),
		"another target":     key("gk", alert("web", ScaleOut, "6", "a"), b),
		"another group key":  key("gk2", a, b),
		"another alert set":  key("gk", a),
		"another action":     key("gk", alert("web", ScaleIn, "5", "a"), alert("web", ScaleIn, "5", "b")),
	} {
		if other == base {
			t.Errorf("%s gives the same key", name)
		}
	}
	if key("gk", b, a) != base {
		t.Error("the order of alerts changes the key: a redelivery must have the same key")
	}
	tok := ClientToken(base)
	if len(tok) != 36 || tok != ClientToken(base) || tok == ClientToken(key("gk", a)) {
		t.Errorf("client token %q must be a stable UUID-shaped string per key", tok)
	}
}

// stepAlert is a scale-out alert of web with only a flexus_step annotation.
func stepAlert(step string) Alert {
	a := alert("web", ScaleOut, "", "a")
	a.Annotations[AnnotationStep] = step
	return a
}
