package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSpikeScenario(t *testing.T) {
	s := SpikeScenario(200*time.Second, 3)
	for _, c := range []struct {
		name   string
		offset time.Duration
		phase  string
		mult   float64
	}{
		{"it starts calm", 0, PhaseCalm, 1},
		{"the spike starts after 15% of the run", 30 * time.Second, PhaseSpike, 3},
		{"the spike lasts 30% of the run", 89 * time.Second, PhaseSpike, 3},
		{"the rest is calm again", 90 * time.Second, PhaseAfter, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, i := s.At(c.offset)
			if i < 0 || p.Name != c.phase || p.Multiplier != c.mult {
				t.Errorf("at %s: phase %q ×%g (index %d), want %q ×%g", c.offset, p.Name, p.Multiplier, i, c.phase, c.mult)
			}
		})
	}
	if s.Length() != 200*time.Second {
		t.Errorf("length %s", s.Length())
	}
	if _, i := s.At(200 * time.Second); i != -1 {
		t.Errorf("a phase runs past the end")
	}
	if err := (Scenario{Phases: []Phase{{Name: "x"}}}).Validate(); err == nil {
		t.Error("a phase without length was accepted")
	}
}

// fakeSimcloud records the demand multipliers set through the admin endpoint.
type fakeSimcloud struct {
	mu   sync.Mutex
	sets []string
	fail int // answer 503 this many times first
}

func (f *fakeSimcloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/-/sim/demand" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	if f.fail > 0 {
		f.fail--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var body struct {
		Group      string  `json:"group"`
		Multiplier float64 `json:"multiplier"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.sets = append(f.sets, fmt.Sprintf("%s×%g", body.Group, body.Multiplier))
	fmt.Fprintln(w, "[]")
}

func TestDriveSetsEveryGroupsDemandPhaseByPhase(t *testing.T) {
	f := &fakeSimcloud{fail: 1}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := Scenario{Phases: []Phase{{"calm", 10 * time.Millisecond, 1}, {"spike", 10 * time.Millisecond, 2.5}, {"calm again", 10 * time.Millisecond, 1}}}
	var seen []string
	err := drive(context.Background(), Simcloud{Base: srv.URL, Client: srv.Client()}, []string{"web", "gpu"}, s, func(_ int, p Phase) { seen = append(seen, p.Name) })
	if err != nil {
		t.Fatal(err)
	}
	want := "web×1 gpu×1 web×2.5 gpu×2.5 web×1 gpu×1"
	if got := strings.Join(f.sets, " "); got != want {
		t.Errorf("multipliers set %q, want %q (a busy answer is retried)", got, want)
	}
	if strings.Join(seen, ",") != "calm,spike,calm again" {
		t.Errorf("phases announced %v", seen)
	}
}

func TestDriveStopsWhenCancelled(t *testing.T) {
	srv := httptest.NewServer(&fakeSimcloud{})
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := Scenario{Phases: []Phase{{"calm", time.Hour, 1}}}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	if err := drive(ctx, Simcloud{Base: srv.URL, Client: srv.Client()}, []string{"web"}, s, nil); err == nil {
		t.Error("a cancelled scenario reported success")
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the scenario did not stop when cancelled")
	}
}

func TestScrapeReadsLabelsAndValues(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# HELP flexus_recommended_instances x
# TYPE flexus_recommended_instances gauge
flexus_recommended_instances{group="web",policy="predictive"} 5
flexus_recommended_instances{group="web",policy="seed"} 3
flexus_recommended_instances_other{group="web"} 9
flexus_scaling_policy_info{group="web",policy="predictive"} 1
flexus_scaling_policy_info{group="web",policy="seed"} 0
alertmanager_notifications_total{integration="webhook"} 7
alertmanager_notifications_total{integration="email"} 2
`)
	}))
	defer srv.Close()
	rec, err := exporterPressure(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if rec["web"] != 5 {
		t.Errorf("the active policy's recommendation is %v, want 5 (predictive)", rec["web"])
	}
	if got := scrapeSum(context.Background(), srv.Client(), srv.URL, "alertmanager_notifications_total", `integration="webhook"`); got != 7 {
		t.Errorf("webhook notifications %v, want 7", got)
	}
}

func TestStartRefusesMissingPrograms(t *testing.T) {
	_, err := Start(context.Background(), Options{Flexus: "/bin/true", Prometheus: "no-such-prometheus-here", TempDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "apt-get install prometheus") {
		t.Errorf("error %v does not say how to install prometheus", err)
	}
}
