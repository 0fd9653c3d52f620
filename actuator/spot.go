package actuator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// A group with spot: keeps its first on_demand_base servers on demand and
// runs the rest on spot. ECS reclaims a spot server by deleting it, with no
// event the API shows: the server is simply no longer listed
// (docs/cloud-api.md, ecs-spot-reclaim). So a reclaim is read as the group
// holding fewer live servers than the count the actuator last set, and the
// capacity is created again at once, under the group's lock and a
// write-ahead intent like any other write, without waiting for an alert.

// isSpot reports a server ECS bills as spot: metadata charging_mode "2".
func isSpot(s hwcloud.Server) bool { return s.Tags["charging_mode"] == "2" }

// spotFirst orders a spot group's scale-in: spot servers go before on-demand
// ones, so that the on-demand base is the last capacity given up. ok is
// false when the rule does not decide between a and b.
func spotFirst(g *config.Group, a, b hwcloud.Server) (first, ok bool) {
	if _, spot := g.SpotBase(); !spot || isSpot(a) == isSpot(b) {
		return false, false
	}
	return isSpot(a), true
}

// marketSplit is how a create of several servers divides between markets:
// the first onDemand on demand, the rest spot when spot is set.
type marketSplit struct {
	onDemand int
	spot     bool
	maxPrice string
}

// at returns the market of the server created at offset done, and how many
// servers from there share it.
func (m marketSplit) at(done int) (spot bool, maxPrice string, room int) {
	if !m.spot {
		return false, "", hwcloud.MaxServersPerCreate
	}
	if done < m.onDemand {
		return false, "", m.onDemand - done
	}
	return true, m.maxPrice, hwcloud.MaxServersPerCreate
}

// splitMarkets decides how many of n new servers are on demand: as many as
// the group's live on-demand servers fall short of its base.
func (s *ECSScaler) splitMarkets(ctx context.Context, g *config.Group, n int) (marketSplit, error) {
	base, spot := g.SpotBase()
	if !spot {
		return marketSplit{}, nil
	}
	split := marketSplit{spot: true}
	if g.Spot != nil {
		split.maxPrice = g.Spot.MaxPrice
	}
	if base == 0 {
		return split, nil
	}
	servers, err := s.list(ctx, g)
	if err != nil {
		return marketSplit{}, err
	}
	have := 0
	for _, sv := range servers {
		if !gone(sv) && !isSpot(sv) {
			have++
		}
	}
	split.onDemand = min(n, max(base-have, 0))
	return split, nil
}

// spotMetrics count reclaims and the servers created to replace them.
type spotMetrics struct {
	reclaims     *prometheus.CounterVec
	replacements *prometheus.CounterVec
}

func newSpotMetrics() *spotMetrics {
	return &spotMetrics{
		reclaims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_spot_reclaims_total",
			Help: "Servers of a spot group found missing (reclaimed by the cloud) below the count the actuator last set.",
		}, []string{"group"}),
		replacements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flexus_spot_replacements_total",
			Help: "Servers created to replace reclaimed capacity, without waiting for an alert.",
		}, []string{"group"}),
	}
}

func (m *spotMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.reclaims, m.replacements}
}

// RunSpotChecks looks for reclaimed capacity in every spot group, each at
// its spot.check_interval, until ctx ends. tick paces the loop (a ticker in
// production); the group intervals are measured on the actuator's clock.
func (a *Actuator) RunSpotChecks(ctx context.Context, tick <-chan time.Time) {
	last := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		cfg, now := a.Config(), a.clock.Now()
		for i := range cfg.Groups {
			g := &cfg.Groups[i]
			if g.Spot == nil || now.Sub(last[g.Name]) < g.Spot.CheckInterval {
				continue
			}
			last[g.Name] = now
			a.ReplaceReclaimed(ctx, g.Name)
		}
	}
}

// SpotTick is how often RunSpotChecks wakes in production: the shortest
// check interval of the groups, at least a second.
func SpotTick(cfg *config.Config) time.Duration {
	tick := config.DefaultSpotCheckInterval
	for i := range cfg.Groups {
		if s := cfg.Groups[i].Spot; s != nil {
			tick = min(tick, s.CheckInterval)
		}
	}
	return max(tick, time.Second)
}

// ReplaceReclaimed creates, once across replicas, the servers a spot group
// lost below the count the actuator last set. It returns the decision it
// took, or false when there was nothing to replace. Its writes follow the
// webhook's: the group's lock, a write-ahead intent reconciled after a
// crash, a client token derived from the intent, and the group's guards
// (paused, dry run, max_instances); the cooldown does not apply, since the
// group is being put back where the last decision left it.
func (a *Actuator) ReplaceReclaimed(ctx context.Context, group string) (Record, bool) {
	cfg := a.Config()
	g, ok := cfg.Group(group)
	if !ok || g.Backend != config.BackendECS || g.Scaling.Paused {
		return Record{}, false
	}
	if _, spot := g.SpotBase(); !spot {
		return Record{}, false
	}
	rec, acted, err := a.replace(ctx, cfg, g)
	if err != nil {
		a.logger.Warn("spot: reclaimed capacity not replaced; the next check tries again", "group", g.Name, "err", err)
	}
	if acted {
		a.finish(ctx, g, rec)
	}
	return rec, acted
}

func (a *Actuator) replace(ctx context.Context, cfg *config.Config, g *config.Group) (rec Record, acted bool, err error) {
	if a.jobs.running(g.Name) {
		return rec, false, nil // this replica's own job may still add or remove servers
	}
	lk, err := a.store.Lock(ctx, g.Name)
	if err != nil {
		return rec, false, err
	}
	defer lk.Unlock()
	start := a.clock.Now()
	scaler, _ := a.scalers.For(g)
	cloud, err := scaler.State(ctx, g, start)
	if err != nil {
		return rec, false, err
	}
	a.setCloud(g.Name, cloud)
	local, err := lk.Group(ctx)
	if err != nil {
		return rec, false, err
	}
	// An intent left by a crash is settled first: a replacement (or a
	// scale-out) that landed is not made twice.
	settled, _, err := a.reconcile(ctx, lk, g, cloud, local, "")
	for _, r := range settled {
		a.finish(ctx, g, r)
	}
	if err != nil || len(settled) > 0 {
		return rec, false, err
	}
	want := min(local.Desired, g.MaxInstances)
	if cloud.Activity == ActivityIn || local.Desired == 0 || cloud.Desired >= want {
		return rec, false, nil
	}
	lost := want - cloud.Desired
	a.metrics.spot.reclaims.WithLabelValues(g.Name).Add(float64(lost))
	key := fmt.Sprintf("spot-replace/%s/%d/%d-%d", g.Name, start.UnixNano(), cloud.Desired, want)
	rec = Record{Key: key, Intent: Intent{Group: g.Name, Action: ScaleOut, Key: key, Target: want, HasTarget: true}, Cloud: &cloud, Local: local.Clone(),
		Decision: Decision{Time: start, Group: g.Name, Action: ScaleOut, From: cloud.Desired, Requested: want, Goal: want, To: want, Outcome: OutcomeApplied,
			Reason: fmt.Sprintf("spot: %d servers reclaimed below the %d last set: replacing them", lost, local.Desired)}}
	if cfg.Actuator.DryRun || g.Scaling.DryRun {
		rec.Outcome, rec.To = OutcomeDryRun, cloud.Desired
		return rec, true, nil
	}
	intent := KeyEntry{Group: g.Name, Action: ScaleOut, State: KeyInProgress, Started: start,
		Expires: start.Add(cfg.Actuator.IdempotencyTTL), From: cloud.Desired, To: want, Goal: want, Token: ClientToken(key)}
	if err := lk.PutKey(ctx, key, intent); err != nil {
		return rec, false, err
	}
	select {
	case <-lk.Lost():
		return rec, false, ErrLockLost // the intent stays for the next holder to reconcile
	default:
	}
	res, err := scaler.SetDesired(ctx, g, cloud, want, intent.Token)
	end := a.clock.Now()
	rec.Result, rec.Duration = &res, end.Sub(start)
	if err != nil && len(res.Added) == 0 && res.JobID == "" {
		rec.Outcome, rec.Error, rec.To = OutcomeFailed, err.Error(), cloud.Desired
		if !ambiguous(err) { // refused before anything happened: the next check tries again
			err = errors.Join(err, lk.Release(ctx, key))
		}
		return rec, true, err
	}
	if err != nil {
		rec.Error = err.Error()
	}
	rec.To = res.Desired
	a.metrics.spot.replacements.WithLabelValues(g.Name).Add(float64(res.Desired - cloud.Desired))
	// The group's count and cooldowns stay as the last decision left them.
	if err := lk.Finish(ctx, key, rec.To, local, end, rec); err != nil {
		return rec, true, err // the write happened; the intent stays, reconciled by the next check
	}
	rec.logged = true
	if res.JobID != "" {
		a.follow(g, rec, cloud.Desired)
	}
	return rec, true, nil
}
