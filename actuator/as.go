package actuator

import (
	"context"
	"fmt"
	"strings"
	"time"

	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// ASScaler scales Auto Scaling groups by setting their desired count; AS
// creates and removes the instances itself.
type ASScaler struct {
	Client hwcloud.AS
	// ActivityLogs is how many recent activity logs are read for cooldowns (default 100, the API's largest page).
	ActivityLogs int
}

var _ Scaler = (*ASScaler)(nil)

// State reads the group, its booting instances and its recent activities.
func (s *ASScaler) State(_ context.Context, g *config.Group, now time.Time) (CloudState, error) {
	id := g.Discovery.ASGroupID
	resp, err := s.Client.ShowScalingGroup(&asmodel.ShowScalingGroupRequest{ScalingGroupId: id})
	if err != nil {
		return CloudState{}, fmt.Errorf("as: reading scaling group %s of group %q: %w", id, g.Name, err)
	}
	sg := resp.ScalingGroup
	if sg == nil {
		return CloudState{}, fmt.Errorf("as: scaling group %s of group %q: empty answer", id, g.Name)
	}
	cs := CloudState{
		Desired:   i32(sg.DesireInstanceNumber),
		Current:   i32(sg.CurrentInstanceNumber),
		Min:       i32(sg.MinInstanceNumber),
		Max:       i32(sg.MaxInstanceNumber),
		HasBounds: sg.MaxInstanceNumber != nil,
	}
	if sg.ScalingGroupStatus != nil {
		cs.Status = sg.ScalingGroupStatus.Value()
	}
	cs.InService = cs.Status == "INSERVICE"

	// Pending instances, a page of 100 (the API's largest) at a time.
	for start := int32(0); start < 10000; start += 100 {
		limit, from := int32(100), start
		inst, err := s.Client.ListScalingInstances(&asmodel.ListScalingInstancesRequest{ScalingGroupId: id, Limit: &limit, StartNumber: &from})
		if err != nil {
			return CloudState{}, fmt.Errorf("as: listing instances of scaling group %s (group %q): %w", id, g.Name, err)
		}
		if inst.ScalingGroupInstances == nil {
			break
		}
		for _, in := range *inst.ScalingGroupInstances {
			if in.LifeCycleState != nil && in.LifeCycleState.Value() == "PENDING" {
				cs.Booting++
			}
		}
		if len(*inst.ScalingGroupInstances) < int(limit) {
			break
		}
	}

	// Only activities that can still hold a cooldown matter: those started
	// within the longer cooldown plus an hour for activities that ran long.
	n := int32(s.ActivityLogs)
	if n <= 0 {
		n = 100
	}
	since := now.Add(-max(g.Scaling.CooldownOut, g.Scaling.CooldownIn) - time.Hour).UTC().Format("2006-01-02T15:04:05Z")
	logs, err := s.Client.ListScalingActivityLogs(&asmodel.ListScalingActivityLogsRequest{ScalingGroupId: id, StartTime: &since, Limit: &n})
	if err != nil {
		return CloudState{}, fmt.Errorf("as: reading activity logs of scaling group %s (group %q): %w", id, g.Name, err)
	}
	if logs.ScalingActivityLog != nil {
		for _, l := range *logs.ScalingActivityLog {
			dir := activityDirection(l)
			status := ""
			if l.Status != nil {
				status = l.Status.Value()
			}
			if status == "DOING" {
				if cs.Activity == ActivityNone || dir == ActivityOut {
					cs.Activity = dir
				}
				continue
			}
			if l.EndTime == nil {
				continue
			}
			end := time.Time(*l.EndTime)
			switch dir {
			case ActivityOut:
				if end.After(cs.LastOutEnd) {
					cs.LastOutEnd = end
				}
			case ActivityIn:
				if end.After(cs.LastInEnd) {
					cs.LastInEnd = end
				}
			}
		}
	}
	// A group AS reports as scaling without a DOING log is still mid-activity.
	if sg.IsScaling != nil && *sg.IsScaling && cs.Activity == ActivityNone {
		cs.Activity = ActivityOut
		if cs.Current > cs.Desired {
			cs.Activity = ActivityIn
		}
	}
	return cs, nil
}

// activityDirection tells a scale-out activity from a scale-in one: by the
// instances it added or removed, else by its desired and instance values.
func activityDirection(l asmodel.ScalingActivityLogList) Activity {
	switch {
	case nonEmpty(l.InstanceAddedList):
		return ActivityOut
	case nonEmpty(l.InstanceRemovedList), nonEmpty(l.InstanceDeletedList):
		return ActivityIn
	case l.DesireValue != nil && l.InstanceValue != nil && *l.DesireValue > *l.InstanceValue:
		return ActivityOut
	case l.DesireValue != nil && l.InstanceValue != nil && *l.DesireValue < *l.InstanceValue:
		return ActivityIn
	case l.ScalingValue != nil && *l.ScalingValue < 0:
		return ActivityIn
	}
	return ActivityOut
}

// SetDesired sets desire_instance_number; the count is absolute, so
// repeating it after a lost answer changes nothing.
func (s *ASScaler) SetDesired(_ context.Context, g *config.Group, _ CloudState, desired int, _ string) (Result, error) {
	id := g.Discovery.ASGroupID
	n := int32(desired)
	_, err := s.Client.UpdateScalingGroup(&asmodel.UpdateScalingGroupRequest{
		ScalingGroupId: id,
		Body:           &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: &n},
	})
	if err != nil {
		return Result{}, fmt.Errorf("as: setting desired count of scaling group %s (group %q) to %d: %w", id, g.Name, desired, err)
	}
	return Result{Desired: desired}, nil
}

func i32(p *int32) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

func nonEmpty(p *string) bool { return p != nil && strings.TrimSpace(*p) != "" }
