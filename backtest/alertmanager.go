package backtest

import (
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// AlertmanagerOptions are the timings of the route that sends scaling alerts
// to the actuator's webhook. Alerts are grouped by [group, action].
type AlertmanagerOptions struct {
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
}

// DefaultAlertmanager is the flexus route of the example Alertmanager config
// (deploy/alertmanager/alertmanager.yml; a test keeps the two equal): a short
// group_wait, and a short group_interval and repeat_interval so a growing
// target is re-sent while its alert keeps firing.
func DefaultAlertmanager() AlertmanagerOptions {
	return AlertmanagerOptions{GroupWait: 10 * time.Second, GroupInterval: time.Minute, RepeatInterval: 2 * time.Minute}
}

// Notification is one webhook delivery: the alerts of one aggregation group.
type Notification struct {
	At       time.Time
	GroupKey string
	Firing   []Alert
	Resolved []Alert
}

// alertmanager models the part of Alertmanager between Prometheus and the
// webhook: alerts merged by fingerprint, aggregation groups by [group,
// action] flushed after group_wait and then every group_interval, and the
// notification log's dedup (notify when the firing set is not a subset of
// what was last sent, when everything resolved, or after repeat_interval).
type alertmanager struct {
	opts   AlertmanagerOptions
	groups map[string]*aggGroup
	// nflog is the last notification per group key; it outlives the group, as
	// Alertmanager's notification log does.
	nflog map[string]*nflogEntry
}

type aggGroup struct {
	key       string
	alerts    map[uint64]*Alert
	nextFlush time.Time
	flushed   bool
}

type nflogEntry struct {
	at     time.Time
	firing map[uint64]bool
}

func newAlertmanager(opts AlertmanagerOptions) *alertmanager {
	return &alertmanager{opts: opts, groups: map[string]*aggGroup{}, nflog: map[string]*nflogEntry{}}
}

// routed says whether an alert goes to the actuator: the flexus route matches
// the alerts that carry an action.
func routed(l labels.Labels) bool {
	a := l.Get("action")
	return a == "scale_out" || a == "scale_in"
}

func groupKey(l labels.Labels) string {
	return "{}:{action=\"" + l.Get("action") + "\", group=\"" + l.Get("group") + "\"}"
}

// receive takes the alerts Prometheus sends at now.
func (am *alertmanager) receive(now time.Time, alerts []Alert) {
	for _, a := range alerts {
		if !routed(a.Labels) {
			continue
		}
		key := groupKey(a.Labels)
		g, ok := am.groups[key]
		if !ok {
			g = &aggGroup{key: key, alerts: map[uint64]*Alert{}, nextFlush: now.Add(am.opts.GroupWait)}
			am.groups[key] = g
		}
		fp := a.Labels.Hash()
		cur, ok := g.alerts[fp]
		switch {
		case !ok || !cur.EndsAt.After(now):
			// New, or the stored one had resolved: this is a new occurrence.
			c := a
			g.alerts[fp] = &c
		default:
			// Merge as types.Alert.Merge: keep the earliest start, take the newest rest.
			if a.StartsAt.After(cur.StartsAt) {
				a.StartsAt = cur.StartsAt
			}
			*cur = a
		}
		// A group that has not flushed yet flushes at once when an alert has
		// already waited group_wait since it started.
		if !g.flushed && !a.StartsAt.IsZero() && a.StartsAt.Add(am.opts.GroupWait).Before(now) {
			g.nextFlush = now
		}
	}
}

// flush returns the notifications due at or before now, in group key order.
func (am *alertmanager) flush(now time.Time) []Notification {
	keys := make([]string, 0, len(am.groups))
	for k, g := range am.groups {
		if !g.nextFlush.After(now) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Notification
	for _, k := range keys {
		g := am.groups[k]
		g.flushed = true
		g.nextFlush = g.nextFlush.Add(am.opts.GroupInterval)
		for !g.nextFlush.After(now) {
			g.nextFlush = g.nextFlush.Add(am.opts.GroupInterval)
		}
		var n Notification
		firing := map[uint64]bool{}
		fps := make([]uint64, 0, len(g.alerts))
		for fp := range g.alerts {
			fps = append(fps, fp)
		}
		sort.Slice(fps, func(i, j int) bool {
			return labels.Compare(g.alerts[fps[i]].Labels, g.alerts[fps[j]].Labels) < 0
		})
		for _, fp := range fps {
			a := g.alerts[fp]
			if a.EndsAt.After(now) {
				firing[fp] = true
				n.Firing = append(n.Firing, *a)
			} else {
				n.Resolved = append(n.Resolved, *a)
			}
		}
		if am.needsUpdate(am.nflog[k], firing, now) {
			n.At, n.GroupKey = now, k
			out = append(out, n)
			am.nflog[k] = &nflogEntry{at: now, firing: firing}
		}
		// Resolved alerts that were part of this flush are gone from the group;
		// an empty group is removed, and a new alert starts a new one.
		for _, a := range n.Resolved {
			delete(g.alerts, a.Labels.Hash())
		}
		if len(g.alerts) == 0 {
			delete(am.groups, k)
		}
	}
	return out
}

// needsUpdate follows notify.DedupStage.needsUpdate with send_resolved true.
func (am *alertmanager) needsUpdate(e *nflogEntry, firing map[uint64]bool, now time.Time) bool {
	if e == nil {
		return len(firing) > 0
	}
	for fp := range firing {
		if !e.firing[fp] {
			return true
		}
	}
	if len(firing) == 0 {
		return len(e.firing) > 0
	}
	return !e.at.After(now.Add(-am.opts.RepeatInterval))
}

// String names a notification for logs and tests.
func (n Notification) String() string {
	var b strings.Builder
	b.WriteString(n.At.UTC().Format(time.RFC3339) + " " + n.GroupKey)
	for _, a := range n.Firing {
		b.WriteString(" firing:" + a.Labels.Get("alertname") + "=" + a.Annotations["flexus_target"])
	}
	for _, a := range n.Resolved {
		b.WriteString(" resolved:" + a.Labels.Get("alertname"))
	}
	return b.String()
}

// nextFlushTime is the earliest pending flush, zero when no group exists.
func (am *alertmanager) nextFlushTime() time.Time {
	var t time.Time
	for _, g := range am.groups {
		if t.IsZero() || g.nextFlush.Before(t) {
			t = g.nextFlush
		}
	}
	return t
}
