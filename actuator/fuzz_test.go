package actuator

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeWebhook checks that no payload panics the decoder and that what
// it accepts yields sane intents whose keys survive a re-encoding (a
// redelivery of the same notification has the same keys).
func FuzzDecodeWebhook(f *testing.F) {
	f.Add(notification("gk", alert("web", ScaleOut, "5", "a")))
	f.Add(notification("gk", alert("web", ScaleIn, "2.5", "a"), alert("web", ScaleIn, "3", "b")))
	f.Add([]byte(`{"version":"4","status":"resolved","alerts":[]}`))
	f.Add(notification("gk", alert("web", ScaleOut, "5_0", "a")))
	f.Add(notification("gk", alert("web", ScaleOut, "0x1p3", "a")))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeWebhook(body)
		if err != nil {
			return
		}
		intents, err := m.Intents()
		if err != nil {
			return
		}
		for _, in := range intents {
			if in.Group == "" || (in.Action != ScaleOut && in.Action != ScaleIn) || in.Key == "" || in.Target < 0 || in.Step < 0 || in.Alerts < 1 {
				t.Fatalf("accepted a bad intent %+v", in)
			}
			if in.Target > maxCount || in.Step > maxCount {
				t.Fatalf("count not bounded: %+v", in)
			}
		}
		for i, a := range m.Alerts {
			if _, ok := a.Labels[LabelAction]; !ok || a.Status != "firing" {
				continue
			}
			if v := a.Annotations[AnnotationTarget]; v != "" && !plainDecimal.MatchString(v) {
				t.Fatalf("alerts[%d]: target %q outside plain decimal syntax accepted", i, v)
			}
			if v := a.Annotations[AnnotationStep]; v != "" && !plainInteger.MatchString(v) {
				t.Fatalf("alerts[%d]: step %q outside decimal digits accepted", i, v)
			}
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeWebhook(again)
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		intents2, err := m2.Intents()
		if err != nil || len(intents2) != len(intents) {
			t.Fatalf("re-encoded message gives %v, %v", intents2, err)
		}
		for i := range intents {
			if intents[i] != intents2[i] {
				t.Fatalf("intent %d changed on re-encoding: %+v vs %+v", i, intents[i], intents2[i])
			}
		}
	})
}
