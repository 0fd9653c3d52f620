package simcloud_test

import (
	"slices"
	"sort"
	"testing"
	"time"

	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// spotCreate is createRequest (marketType spot, one x1.2u.4g server, 0.25
// an hour on demand, 0.075 on the market at the default discount) with ext
// applied to its extendparam.
func spotCreate(ext func(e *ecsmodel.PrePaidServerExtendParam)) *ecsmodel.CreateServersRequest {
	r := createRequest("", 1)
	ext(r.Body.Server.Extendparam)
	return r
}

// createdServer lists the server a CreateServers answer named.
func createdServer(t *testing.T, env *simcloudtest.Env, resp *ecsmodel.CreateServersResponse) ecsmodel.ServerDetail {
	t.Helper()
	if resp.ServerIds == nil || len(*resp.ServerIds) != 1 {
		t.Fatalf("created %v, want one server", resp.ServerIds)
	}
	list, err := env.ECS().ListServersDetails(&ecsmodel.ListServersDetailsRequest{ServerId: ptr((*resp.ServerIds)[0])})
	if err != nil || list.Servers == nil || len(*list.Servers) != 1 {
		t.Fatalf("listing the created server: %v", err)
	}
	return (*list.Servers)[0]
}

func checkSpotMarket(t *testing.T) {
	env, _ := start(t)
	resp, err := env.ECS().CreateServers(spotCreate(func(*ecsmodel.PrePaidServerExtendParam) {}))
	if err != nil {
		t.Fatalf("marketType spot: %v", err)
	}
	if sv := createdServer(t, env, resp); sv.Metadata["charging_mode"] != "2" {
		t.Fatalf("a spot server's metadata charging_mode is %q, want 2", sv.Metadata["charging_mode"])
	}
	onDemand := createRequest("", 1)
	onDemand.Body.Server.Extendparam = nil
	resp, err = env.ECS().CreateServers(onDemand)
	if err != nil {
		t.Fatal(err)
	}
	if sv := createdServer(t, env, resp); sv.Metadata["charging_mode"] != "0" {
		t.Fatalf("an on-demand server's metadata charging_mode is %q, want 0", sv.Metadata["charging_mode"])
	}
	refused := map[string]func(e *ecsmodel.PrePaidServerExtendParam){
		"another market type": func(e *ecsmodel.PrePaidServerExtendParam) { e.MarketType = ptr("bid") },
		"yearly/monthly": func(e *ecsmodel.PrePaidServerExtendParam) {
			e.ChargingMode = ptrEnum[ecsmodel.PrePaidServerExtendParamChargingMode](t, "prePaid")
		},
		"auto-recovery": func(e *ecsmodel.PrePaidServerExtendParam) { e.SupportAutoRecovery = ptr(true) },
	}
	for name, ext := range refused {
		_, err := env.ECS().CreateServers(spotCreate(ext))
		t.Run(name, func(t *testing.T) { wantServiceError(t, err, 400, "Ecs.0005") })
	}
}

func checkSpotPrice(t *testing.T) {
	env, _ := start(t)
	for _, bid := range []string{"", "0.075", "0.1", "0.25"} {
		if _, err := env.ECS().CreateServers(spotCreate(func(e *ecsmodel.PrePaidServerExtendParam) { e.SpotPrice = ptr(bid) })); err != nil {
			t.Fatalf("spotPrice %q between the market and on-demand prices: %v", bid, err)
		}
	}
	for _, bid := range []string{"cheap", "0", "-1", "0.07", "0.26"} {
		_, err := env.ECS().CreateServers(spotCreate(func(e *ecsmodel.PrePaidServerExtendParam) { e.SpotPrice = ptr(bid) }))
		t.Run(bid, func(t *testing.T) { wantServiceError(t, err, 400, "Ecs.0005") })
	}
}

func checkSpotDuration(t *testing.T) {
	env, _ := start(t)
	immediate := func(t *testing.T) *ecsmodel.PrePaidServerExtendParamInterruptionPolicy {
		return ptrEnum[ecsmodel.PrePaidServerExtendParamInterruptionPolicy](t, "immediate")
	}
	ok := map[string]func(e *ecsmodel.PrePaidServerExtendParam){
		"interruption_policy immediate": func(e *ecsmodel.PrePaidServerExtendParam) { e.InterruptionPolicy = immediate(t) },
		"a 1-hour block": func(e *ecsmodel.PrePaidServerExtendParam) {
			e.InterruptionPolicy, e.SpotDurationHours = immediate(t), ptr(int32(1))
		},
		"two 6-hour blocks": func(e *ecsmodel.PrePaidServerExtendParam) {
			e.InterruptionPolicy, e.SpotDurationHours, e.SpotDurationCount = immediate(t), ptr(int32(6)), ptr(int32(2))
		},
	}
	for name, ext := range ok {
		if _, err := env.ECS().CreateServers(spotCreate(ext)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	refused := map[string]func(e *ecsmodel.PrePaidServerExtendParam){
		"interruption_policy delay": func(e *ecsmodel.PrePaidServerExtendParam) {
			e.InterruptionPolicy = ptrEnum[ecsmodel.PrePaidServerExtendParamInterruptionPolicy](t, "delay")
		},
		"a duration without interruption_policy": func(e *ecsmodel.PrePaidServerExtendParam) { e.SpotDurationHours = ptr(int32(1)) },
		"a zero duration": func(e *ecsmodel.PrePaidServerExtendParam) {
			e.InterruptionPolicy, e.SpotDurationHours = immediate(t), ptr(int32(0))
		},
		"two blocks under 6 hours": func(e *ecsmodel.PrePaidServerExtendParam) {
			e.InterruptionPolicy, e.SpotDurationHours, e.SpotDurationCount = immediate(t), ptr(int32(3)), ptr(int32(2))
		},
		"a count without a duration": func(e *ecsmodel.PrePaidServerExtendParam) { e.SpotDurationCount = ptr(int32(1)) },
	}
	for name, ext := range refused {
		_, err := env.ECS().CreateServers(spotCreate(ext))
		t.Run(name, func(t *testing.T) { wantServiceError(t, err, 400, "Ecs.0005") })
	}
}

func checkSpotReclaim(t *testing.T) {
	env, _ := start(t)
	resp, err := env.ECS().CreateServers(spotCreate(func(*ecsmodel.PrePaidServerExtendParam) {}))
	if err != nil {
		t.Fatal(err)
	}
	id := createdServer(t, env, resp).Id
	if err := env.World.Reclaim(id); err != nil {
		t.Fatal(err)
	}
	list, err := env.ECS().ListServersDetails(&ecsmodel.ListServersDetailsRequest{ServerId: ptr(id)})
	if err != nil {
		t.Fatal(err)
	}
	if list.Servers != nil && len(*list.Servers) != 0 {
		t.Fatalf("a reclaimed spot server is still listed: %+v", *list.Servers)
	}
	if err := env.World.Reclaim(instanceIDs(t, env, "web")[0]); err == nil {
		t.Fatal("an on-demand server was reclaimed")
	}
}

// Spot reclaims are drawn from the world's seed: the same seed reclaims the
// same servers at the same moments, and the rate sets how many.
func TestSpotReclaimsAreSeededAndFollowTheRate(t *testing.T) {
	reclaimed := func(seed int64, rate float64) []string {
		cfg := simcloudtest.Config()
		cfg.World.Seed = seed
		cfg.World.Groups[1].Spot = world.SpotConfig{ReclaimPerHour: rate, Discount: 0.3}
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		env := simcloudtest.Start(t, cfg, clk)
		r := createRequest("", 8)
		if _, err := env.ECS().CreateServers(r); err != nil {
			t.Fatal(err)
		}
		before := map[string]bool{}
		for _, in := range env.World.Servers() {
			before[in.ID] = in.Spot
		}
		clk.Advance(2 * time.Hour)
		env.World.Advance(clk.Now())
		after := map[string]bool{}
		for _, in := range env.World.Servers() {
			after[in.ID] = true
		}
		var gone []string
		for id, spot := range before {
			if !after[id] {
				if !spot {
					t.Fatalf("on-demand server %s disappeared", id)
				}
				gone = append(gone, id)
			}
		}
		return gone
	}
	a, b := reclaimed(7, 0.5), reclaimed(7, 0.5)
	if len(a) == 0 || len(a) == 8 {
		t.Fatalf("%d of 8 spot servers reclaimed in 2 h at 0.5 an hour; want some, not all (expected 1-exp(-1) = 63%%)", len(a))
	}
	sort.Strings(a)
	sort.Strings(b)
	if !slices.Equal(a, b) {
		t.Fatalf("the same seed reclaimed %v then %v", a, b)
	}
	if n := len(reclaimed(7, 0.001)); n != 0 {
		t.Fatalf("%d servers reclaimed in 2 h at 0.001 an hour, want none", n)
	}
}
