package actuator

import (
	"context"
	"fmt"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// ASScaler scales Auto Scaling groups by setting their desired count; AS
// creates and removes the instances itself.
type ASScaler struct {
	Client hwcloud.AutoScaling
	// ActivityLogs is how many recent activity logs are read for cooldowns (default 100, the API's largest page).
	ActivityLogs int
	// pools are the warm pool sizes set (pool.go).
	pools asPools
}

var _ Scaler = (*ASScaler)(nil)

// State reads the group, its booting instances and its recent activities.
func (s *ASScaler) State(ctx context.Context, g *config.Group, now time.Time) (CloudState, error) {
	id := g.Discovery.ASGroupID
	if err := s.ensurePool(ctx, g); err != nil {
		return CloudState{}, err
	}
	sg, err := s.Client.Group(ctx, id)
	if err != nil {
		return CloudState{}, fmt.Errorf("as: reading scaling group %s of group %q: %w", id, g.Name, err)
	}
	cs := CloudState{
		Desired:   max(sg.Desired, 0),
		Current:   max(sg.Current, 0),
		Min:       max(sg.Min, 0),
		Max:       max(sg.Max, 0),
		HasBounds: sg.Max >= 0,
		Status:    sg.Status,
		InService: sg.Status == "INSERVICE",
	}
	members, err := s.Client.Members(ctx, id)
	if err != nil {
		return CloudState{}, fmt.Errorf("as: listing instances of scaling group %s (group %q): %w", id, g.Name, err)
	}
	for _, m := range members {
		if m.Joining() {
			cs.Booting++
		}
	}

	// Only activities that can still hold a cooldown matter: those started
	// within the longer cooldown plus an hour for activities that ran long.
	n := s.ActivityLogs
	if n <= 0 {
		n = 100
	}
	since := now.Add(-max(g.Scaling.CooldownOut, g.Scaling.CooldownIn) - time.Hour)
	acts, err := s.Client.Activities(ctx, id, since, n)
	if err != nil {
		return CloudState{}, fmt.Errorf("as: reading activity logs of scaling group %s (group %q): %w", id, g.Name, err)
	}
	for _, a := range acts {
		dir := activityDirection(a)
		if a.Status == "DOING" {
			if cs.Activity == ActivityNone || dir == ActivityOut {
				cs.Activity = dir
			}
			continue
		}
		if a.End.IsZero() {
			continue
		}
		switch dir {
		case ActivityOut:
			if a.End.After(cs.LastOutEnd) {
				cs.LastOutEnd = a.End
			}
		case ActivityIn:
			if a.End.After(cs.LastInEnd) {
				cs.LastInEnd = a.End
			}
		}
	}
	// A group AS reports as scaling without a DOING log is still mid-activity.
	if sg.Scaling && cs.Activity == ActivityNone {
		cs.Activity = ActivityOut
		if cs.Current > cs.Desired {
			cs.Activity = ActivityIn
		}
	}
	return cs, nil
}

// activityDirection tells a scale-out activity from a scale-in one: by the
// instances it added or removed, else by its desired and instance values.
func activityDirection(a hwcloud.Activity) Activity {
	switch {
	case a.Added:
		return ActivityOut
	case a.Removed:
		return ActivityIn
	case a.Desired >= 0 && a.Instances >= 0 && a.Desired > a.Instances:
		return ActivityOut
	case a.Desired >= 0 && a.Instances >= 0 && a.Desired < a.Instances:
		return ActivityIn
	case a.Change < 0:
		return ActivityIn
	}
	return ActivityOut
}

// SetDesired sets desire_instance_number; the count is absolute, so
// repeating it after a lost answer changes nothing.
func (s *ASScaler) SetDesired(ctx context.Context, g *config.Group, _ CloudState, desired int, _ string) (Result, error) {
	id := g.Discovery.ASGroupID
	if err := s.Client.SetDesired(ctx, id, desired); err != nil {
		return Result{}, fmt.Errorf("as: setting desired count of scaling group %s (group %q) to %d: %w", id, g.Name, desired, err)
	}
	return Result{Desired: desired}, nil
}
