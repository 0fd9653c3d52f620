package collector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flexus-autoscaler/flexus/hwcloud"
)

func TestBootTimesFromPendingToInService(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	listing := func(min int, states map[string]string) membership {
		m := membership{at: t0.Add(time.Duration(min) * time.Minute), listed: t0.Add(time.Duration(min) * time.Minute)}
		for id, s := range states {
			m.instances = append(m.instances, Instance{ID: id, State: s})
		}
		return m
	}
	var b bootTimes
	b.observe(listing(0, map[string]string{"a": StateInService, "b": StatePending, "c": StatePending, "d": StatePending}))
	b.observe(listing(1, map[string]string{"a": StateInService, "b": StateInService, "c": StatePending, "d": StateRemoving}))
	if _, ok := b.p90(); ok {
		t.Fatal("a quantile from one boot")
	}
	// The same listing again (an unchanged AS group) times nothing.
	b.observe(listing(1, map[string]string{"a": StateInService, "b": StateInService, "c": StateInService}))
	b.observe(listing(3, map[string]string{"a": StateInService, "b": StateInService, "c": StateInService, "e": StatePending}))
	b.observe(listing(5, map[string]string{"a": StateInService, "b": StateInService, "c": StateInService, "e": StateInService}))
	// b 1 min, c 3 min, e 2 min; a was in service from the start and d never served.
	if got, ok := b.p90(); !ok || got != 3*time.Minute {
		t.Fatalf("p90 = %v, %v; want 3m from boots of 1, 3 and 2 minutes", got, ok)
	}
	if len(b.pending) != 0 {
		t.Errorf("still waiting on %v", b.pending)
	}
	for i := range 30 {
		b.observe(listing(10+2*i, map[string]string{"x": StatePending}))
		b.observe(listing(11+2*i, map[string]string{"x": StateInService}))
	}
	if len(b.recent) != bootKeep {
		t.Errorf("%d boots kept, want the last %d", len(b.recent), bootKeep)
	}
	if got, _ := b.p90(); got != time.Minute {
		t.Errorf("p90 = %v after 20 one-minute boots, want 1m", got)
	}
}

// The exporter publishes the boots it saw and lengthens the lead time the
// scorer forecasts over by what the configured boot_time left out.
func TestMeasuredBootSetsTheLeadTime(t *testing.T) {
	h := newHarness(t, unitConfig)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(h.loop, "flexus_boot_seconds"); n != 0 {
		t.Fatalf("a boot time published before any boot: %d series", n)
	}
	// i-2 (pending since the first cycle) and two more boot in 3 minutes each.
	for _, id := range []string{"i-3", "i-4"} {
		h.cloud.SetMember("as-1", hwcloud.Member{ID: id, State: "PENDING"})
	}
	h.clk.Advance(time.Minute)
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(2 * time.Minute)
	h.cloud.SetMember("as-1", hwcloud.Member{ID: "i-2", State: "INSERVICE"})
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	for _, id := range []string{"i-3", "i-4"} {
		h.cloud.SetMember("as-1", hwcloud.Member{ID: id, State: "INSERVICE"})
	}
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	// Boots of 3 minutes each; the config's lead is 60s boot + 0s warm-up + 90s pipeline.
	h.compare(`
# HELP flexus_boot_seconds 0.9 quantile of the group's last 20 boots, from the first listing showing an instance pending to the first showing it in service; absent before 3.
# TYPE flexus_boot_seconds gauge
flexus_boot_seconds{group="gpu-pool"} 180
# HELP flexus_lead_time_seconds Boot delay + warm-up + alerting pipeline delay of the group; the boot is the measured one (flexus_boot_seconds) once the group has booted 3 instances.
# TYPE flexus_lead_time_seconds gauge
flexus_lead_time_seconds{group="gpu-pool"} 270
`, "flexus_boot_seconds", "flexus_lead_time_seconds")
	if got := h.c.groups["gpu-pool"].params.Lead.BootDelay; got != 3*time.Minute {
		t.Errorf("the scorer forecasts over a boot of %v, want the measured 3m", got)
	}
}
