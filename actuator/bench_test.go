package actuator

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// reportLatency adds p50 and p99 of the per-request latencies, and the
// request rate, to a benchmark's output.
func reportLatency(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
}

// BenchmarkWebhookApplied: each notification is new and every guard passes,
// so each request reads the AS group fresh (3 calls), writes the desired
// count (1 call) and persists its key twice (fsync), through the real SDK
// and simcloud over loopback HTTP.
func BenchmarkWebhookApplied(b *testing.B) { benchWebhook(b, "applied") }

// BenchmarkWebhookRefused: new notifications inside the cooldown: fresh
// state read, guards, no write.
func BenchmarkWebhookRefused(b *testing.B) { benchWebhook(b, "refused") }

// BenchmarkWebhookDuplicate: Alertmanager's redeliveries of one
// notification: answered from the idempotency store, no cloud call.
func BenchmarkWebhookDuplicate(b *testing.B) { benchWebhook(b, "duplicate") }

func benchWebhook(b *testing.B, mode string) {
	h := newSimHarness(b, "", "")
	real := clock.Real{}
	bodies := make([][]byte, b.N)
	for i := range bodies {
		switch mode {
		case "applied":
			action, target := ScaleOut, "4" // 2 -> 4 -> 2 -> 4 ...
			if i%2 == 1 {
				action, target = ScaleIn, "2"
			}
			bodies[i] = notification(fmt.Sprint("gk", i), alert("gpu-pool", action, target, fmt.Sprint(i)))
		case "refused":
			bodies[i] = notification(fmt.Sprint("gk", i), alert("gpu-pool", ScaleOut, "8", fmt.Sprint(i)))
		default:
			bodies[i] = notification("gk", alert("gpu-pool", ScaleOut, "4", "a"))
		}
	}
	switch mode {
	case "refused":
		h.deliver(notification("warm", alert("gpu-pool", ScaleOut, "4", "warm")))
	case "duplicate":
		h.deliver(bodies[0])
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := real.Now()
	for i := 0; i < b.N; i++ {
		if mode == "applied" {
			h.clock.Advance(11 * time.Minute) // past both cooldowns
		}
		t0 := real.Now()
		code, ans := h.deliver(bodies[i])
		lat = append(lat, real.Now().Sub(t0))
		if code != 200 || len(ans.Decisions) != 1 || ans.Decisions[0].Outcome != mode {
			b.Fatalf("request %d: %d %s, want %s", i, code, outcomes(ans), mode)
		}
	}
	elapsed := real.Now().Sub(start)
	b.StopTimer()
	reportLatency(b, lat, elapsed)
}

// BenchmarkDecide is the pure guard function alone.
func BenchmarkDecide(b *testing.B) {
	g := testGroup(b, "scale_in_stabilization: 5m")
	local := &GroupState{LastOut: t0.Add(-time.Hour)}
	for i := 0; i < 100; i++ {
		local.Targets = append(local.Targets, TargetSample{At: t0.Add(-time.Duration(i) * time.Second), Target: i % 10})
	}
	cloud := inService(8)
	in := target(ScaleIn, 4)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = Decide(t0, g, false, cloud, local, in)
	}
}

// BenchmarkDecisionStore is one applied decision through Handle, over the
// in-memory cloud, so that what differs is the state store: the file
// (fsync), or etcd (lock, key, intent and record as transactions on a local
// single member) with its data on disk or in memory. Scale-out and scale-in
// alternate, the clock past the cooldown each time.
func BenchmarkDecisionStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) func() StateStore
	}{
		{"file", func(b *testing.B) func() StateStore {
			path := filepath.Join(b.TempDir(), "state.json")
			return func() StateStore {
				s, err := OpenStore(path, t0)
				if err != nil {
					b.Fatal(err)
				}
				return NewFileStore(s)
			}
		}},
		{"etcd-disk", func(b *testing.B) func() StateStore {
			e := testenv.StartEtcdIn(b, b.TempDir())
			return func() StateStore { return openEtcd(b, etcdConfig(e, b)) }
		}},
		{"etcd-tmpfs", func(b *testing.B) func() StateStore {
			e := testenv.StartEtcd(b)
			return func() StateStore { return openEtcd(b, etcdConfig(e, b)) }
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			w := newHAWorld(b, st.open(b))
			a := w.replica(noCrash)
			msgs := make([]*Message, b.N)
			for i := range msgs {
				action, tgt := ScaleOut, "10"
				if i%2 == 1 {
					action, tgt = ScaleIn, "8"
				}
				m, err := DecodeWebhook(notification(fmt.Sprint("gk", i), alert("web", action, tgt, fmt.Sprint(i))))
				if err != nil {
					b.Fatal(err)
				}
				msgs[i] = m
			}
			real := clock.Real{}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			start := real.Now()
			for i := 0; i < b.N; i++ {
				w.clock.Advance(2 * time.Minute)
				t := real.Now()
				recs, err := a.Handle(context.Background(), msgs[i])
				lat = append(lat, real.Now().Sub(t))
				if err != nil || len(recs) != 1 || recs[0].Outcome != OutcomeApplied {
					b.Fatalf("decision %d: %v %+v", i, err, recs)
				}
			}
			elapsed := real.Now().Sub(start)
			b.StopTimer()
			reportLatency(b, lat, elapsed)
		})
	}
}
