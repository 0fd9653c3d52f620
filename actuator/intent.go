package actuator

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// A write-ahead intent is a key persisted in progress (KeyInProgress) with
// the count it starts from, the count it sets and the client token, before
// the cloud is called. One left behind by a crash, a lost lock or an
// ambiguous cloud error is reconciled by the next delivery for its group,
// against fresh cloud state: if the write landed it is recorded as applied
// and nothing acts again; if not, the group is decided again.

// Landed reports whether a write-ahead intent took effect, judged by fresh
// cloud state: the group moved from the intent's From toward its To. It
// returns the count the intent reached (partly, for a partial create).
func Landed(e KeyEntry, cloud CloudState) (int, bool) {
	switch {
	case e.To > e.From && cloud.Desired > e.From:
		return min(cloud.Desired, e.To), true
	case e.To < e.From && cloud.Desired < e.From:
		return max(cloud.Desired, e.To), true
	}
	return e.From, false
}

// ambiguous reports whether a failed write may still have landed: a
// timeout or a server error may come after the change was made, while a
// throttled or refused request was turned away before it.
func ambiguous(err error) bool {
	return hwcloud.Retryable(err) && hwcloud.StatusCode(err) != http.StatusTooManyRequests
}

// reconcile settles the group's write-ahead intents against fresh cloud
// state, under the group's lock. It returns the records of what it found,
// for the log, and whether key itself was found landed.
func (a *Actuator) reconcile(ctx context.Context, lk GroupLock, g *config.Group, cloud CloudState, local *GroupState, key string) ([]Record, bool, error) {
	pending, err := lk.Pending(ctx)
	if err != nil || len(pending) == 0 {
		return nil, false, err
	}
	keys := make([]string, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return pending[keys[i]].Started.Before(pending[keys[j]].Started) })
	var recs []Record
	keyLanded := false
	for _, k := range keys {
		e := pending[k]
		to, landed := Landed(e, cloud)
		rec := Record{Key: k, Intent: Intent{Group: g.Name, Action: e.Action, Key: k}, Cloud: &cloud,
			Decision: Decision{Time: e.Started, Group: g.Name, Action: e.Action, From: e.From, Requested: e.Goal, Goal: e.Goal, To: to}}
		if !landed {
			// Nothing happened: forget the intent (a step keeps its fixed
			// target) and let this delivery decide again from fresh state.
			if e.Step > 0 {
				e.State = KeySeen
				err = lk.PutKey(ctx, k, e)
			} else {
				err = lk.Release(ctx, k)
			}
			if err != nil {
				return recs, false, err
			}
			a.logger.Info("write-ahead intent did not land: deciding again from fresh cloud state", "group", g.Name, "key", k, "from", e.From, "to", e.To, "desired", cloud.Desired)
			continue
		}
		// It landed: record it as applied, with the cooldown from its start.
		local.Desired = to
		if e.Action == ScaleOut && e.Started.After(local.LastOut) {
			local.LastOut = e.Started
		}
		if e.Action == ScaleIn && e.Started.After(local.LastIn) {
			local.LastIn = e.Started
		}
		rec.Outcome = OutcomeApplied
		rec.Reason = fmt.Sprintf("reconciled: the write-ahead intent %d->%d landed (fresh desired %d)", e.From, e.To, cloud.Desired)
		if err := lk.Finish(ctx, k, to, local, e.Started, rec); err != nil {
			return recs, false, err
		}
		rec.logged = true
		recs = append(recs, rec)
		keyLanded = keyLanded || k == key
	}
	return recs, keyLanded, nil
}

// fixStep turns a relative flexus_step into an absolute target from the
// fresh desired count, once: the target is stored with the key, so a
// redelivery aims at the same count however the group moved since.
func fixStep(in Intent, desired int) (Intent, bool) {
	if in.HasTarget {
		return in, false
	}
	step := max(in.Step, 1)
	if in.Action == ScaleOut {
		in.Target = desired + step
	} else {
		in.Target = max(desired-step, 0)
	}
	in.HasTarget = true
	return in, true
}
