package simcloud

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

const asTimeFormat = "2006-01-02T15:04:05Z"

// maxBatchRemove is the most instances one batch removal takes (AS API
// reference "Batch Managing Instances": 50 for removal, 10 for the other actions).
const maxBatchRemove = 50

type scalingGroupJSON struct {
	Name                      string   `json:"scaling_group_name"`
	ID                        string   `json:"scaling_group_id"`
	Status                    string   `json:"scaling_group_status"`
	ConfigurationID           string   `json:"scaling_configuration_id"`
	ConfigurationName         string   `json:"scaling_configuration_name"`
	Current                   int      `json:"current_instance_number"`
	Desired                   int      `json:"desire_instance_number"`
	Min                       int      `json:"min_instance_number"`
	Max                       int      `json:"max_instance_number"`
	CoolDownTime              int      `json:"cool_down_time"`
	AvailableZones            []string `json:"available_zones"`
	CreateTime                string   `json:"create_time"`
	VpcID                     string   `json:"vpc_id"`
	IsScaling                 bool     `json:"is_scaling"`
	HealthPeriodicAuditMethod string   `json:"health_periodic_audit_method"`
	HealthPeriodicAuditTime   int      `json:"health_periodic_audit_time"`
	HealthAuditGracePeriod    int      `json:"health_periodic_audit_grace_period"`
	InstanceTerminatePolicy   string   `json:"instance_terminate_policy"`
	DeletePublicip            bool     `json:"delete_publicip"`
	DeleteVolume              bool     `json:"delete_volume"`
	EnterpriseProjectID       string   `json:"enterprise_project_id"`
	MultiAzPriorityPolicy     string   `json:"multi_az_priority_policy"`
	Description               string   `json:"description"`
}

func (s *Server) groupJSON(g world.GroupState) scalingGroupJSON {
	return scalingGroupJSON{
		Name: g.Name, ID: g.ID, Status: "INSERVICE",
		ConfigurationID: "cfg-" + g.ID, ConfigurationName: g.Name + "-" + g.Flavor,
		Current: g.Current, Desired: g.Desired, Min: g.Min, Max: g.Max, CoolDownTime: 300,
		AvailableZones: []string{"cn-north-4a"}, CreateTime: s.world.Start().UTC().Format(asTimeFormat),
		VpcID: "vpc-simcloud", IsScaling: g.Pending > 0 || g.Removing > 0,
		HealthPeriodicAuditMethod: "NOVA_AUDIT", HealthPeriodicAuditTime: 5, HealthAuditGracePeriod: 600,
		InstanceTerminatePolicy: "OLD_CONFIG_OLD_INSTANCE", EnterpriseProjectID: "0",
		MultiAzPriorityPolicy: "EQUILIBRIUM_DISTRIBUTE", Description: "simcloud group of " + g.Flavor,
	}
}

// asGroup finds an AS-managed group by id; ECS-tag groups are not AS groups.
func (s *Server) asGroup(id string) (world.GroupState, error) {
	g, err := s.world.Group(id)
	if err != nil || g.ManagedBy != world.ManagedByAS || g.ID != id {
		return world.GroupState{}, notFound("as", "The scaling group %q does not exist", id)
	}
	return g, nil
}

func (s *Server) listScalingGroups(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	start, limit, err := asPage(q)
	if err != nil {
		return 0, nil, err
	}
	name, status := q.Get("scaling_group_name"), q.Get("scaling_group_status")
	var match []scalingGroupJSON
	for _, g := range s.world.Groups() {
		if g.ManagedBy != world.ManagedByAS || name != "" && !strings.Contains(g.Name, name) || status != "" && status != "INSERVICE" {
			continue
		}
		match = append(match, s.groupJSON(g))
	}
	page := pageOf(match, start, limit)
	return http.StatusOK, map[string]any{"total_number": len(match), "start_number": start, "limit": limit, "scaling_groups": page}, nil
}

func pageOf[T any](all []T, start, limit int) []T {
	out := []T{}
	if start < len(all) {
		out = append(out, all[start:min(start+limit, len(all))]...)
	}
	return out
}

func (s *Server) showScalingGroup(r *http.Request, _ []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"scaling_group": s.groupJSON(g)}, nil
}

func (s *Server) updateScalingGroup(r *http.Request, body []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	var req asmodel.UpdateScalingGroupOption
	if err := decodeBody("as", body, &req); err != nil {
		return 0, nil, err
	}
	u := world.GroupUpdate{}
	if req.MinInstanceNumber != nil {
		n := int(*req.MinInstanceNumber)
		u.Min = &n
	}
	if req.MaxInstanceNumber != nil {
		n := int(*req.MaxInstanceNumber)
		u.Max = &n
	}
	if req.DesireInstanceNumber != nil {
		n := int(*req.DesireInstanceNumber)
		u.Desired = &n
	}
	if err := s.world.Update(g.ID, u); err != nil {
		return 0, nil, worldError("as", err)
	}
	if u.Desired != nil {
		s.logger.Info("AS desired count set", "group", g.Name, "desired", *u.Desired)
	}
	return http.StatusOK, map[string]any{"scaling_group_id": g.ID}, nil
}

type scalingInstanceJSON struct {
	InstanceID             string `json:"instance_id"`
	InstanceName           string `json:"instance_name"`
	ScalingGroupID         string `json:"scaling_group_id"`
	ScalingGroupName       string `json:"scaling_group_name"`
	LifeCycleState         string `json:"life_cycle_state"`
	HealthStatus           string `json:"health_status"`
	ConfigurationName      string `json:"scaling_configuration_name"`
	ConfigurationID        string `json:"scaling_configuration_id"`
	CreateTime             string `json:"create_time"`
	ProtectFromScalingDown bool   `json:"protect_from_scaling_down"`
}

// lifeCycle is an instance's AS life-cycle state and health at now:
// PENDING while it boots, PENDING_WAIT while a lifecycle hook holds it.
func lifeCycle(in world.Instance, now time.Time) (string, string) {
	switch in.StateAt(now) {
	case world.StatePending:
		if in.Held(now) {
			return "PENDING_WAIT", "INITAILIZING"
		}
		return "PENDING", "INITAILIZING"
	case world.StateRemoving:
		return "REMOVING", "NORMAL"
	}
	return "INSERVICE", "NORMAL"
}

func (s *Server) listScalingInstances(r *http.Request, _ []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	start, limit, err := asPage(q)
	if err != nil {
		return 0, nil, err
	}
	state, health := q.Get("life_cycle_state"), q.Get("health_status")
	ins, err := s.world.Instances(g.ID)
	if err != nil {
		return 0, nil, worldError("as", err)
	}
	now := s.world.Now()
	var match []scalingInstanceJSON
	for _, in := range ins {
		if st := in.StateAt(now); st == world.StateStopped || st == world.StateStopping {
			continue // the warm pool's instances are not the group's (ListWarmPoolInstances)
		}
		lc, hs := lifeCycle(in, now)
		if state != "" && state != lc || health != "" && health != hs {
			continue
		}
		match = append(match, scalingInstanceJSON{
			InstanceID: in.ID, InstanceName: in.Name, ScalingGroupID: g.ID, ScalingGroupName: g.Name,
			LifeCycleState: lc, HealthStatus: hs, ConfigurationName: g.Name + "-" + g.Flavor, ConfigurationID: "cfg-" + g.ID,
			CreateTime: in.Created.UTC().Format(asTimeFormat),
		})
	}
	return http.StatusOK, map[string]any{"total_number": len(match), "start_number": start, "limit": limit, "scaling_group_instances": pageOf(match, start, limit)}, nil
}

func (s *Server) batchRemoveScalingInstances(r *http.Request, body []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	var req asmodel.BatchRemoveInstancesOption
	if err := decodeBody("as", body, &req); err != nil {
		return 0, nil, err
	}
	if a := req.Action.Value(); a != "REMOVE" {
		return 0, nil, badRequest("as", "action %q is not supported by simcloud: use REMOVE", a)
	}
	if len(req.InstancesId) == 0 || len(req.InstancesId) > maxBatchRemove {
		return 0, nil, badRequest("as", "instances_id must list 1..%d instances, not %d", maxBatchRemove, len(req.InstancesId))
	}
	if req.InstanceDelete != nil && req.InstanceDelete.Value() != "yes" && req.InstanceDelete.Value() != "no" {
		return 0, nil, badRequest("as", "instance_delete %q must be yes or no", req.InstanceDelete.Value())
	}
	if err := s.world.RemoveInstances(g.ID, req.InstancesId); err != nil {
		return 0, nil, worldError("as", err)
	}
	return http.StatusNoContent, nil, nil
}

type activityJSON struct {
	Status        string `json:"status"`
	StartTime     string `json:"start_time"`
	EndTime       string `json:"end_time,omitempty"`
	ID            string `json:"id"`
	Removed       string `json:"instance_removed_list,omitempty"`
	Deleted       string `json:"instance_deleted_list,omitempty"`
	Added         string `json:"instance_added_list,omitempty"`
	ScalingValue  int    `json:"scaling_value"`
	Description   string `json:"description"`
	InstanceValue int    `json:"instance_value"`
	DesireValue   int    `json:"desire_value"`
}

func (s *Server) listScalingActivityLogs(r *http.Request, _ []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	start, limit, err := asPage(q)
	if err != nil {
		return 0, nil, err
	}
	var from, to time.Time
	for name, dst := range map[string]*time.Time{"start_time": &from, "end_time": &to} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(asTimeFormat, v)
			if err != nil {
				return 0, nil, badRequest("as", "%s %q must look like 2006-01-02T15:04:05Z", name, v)
			}
			*dst = t
		}
	}
	acts, err := s.world.Activities(g.ID)
	if err != nil {
		return 0, nil, worldError("as", err)
	}
	var match []activityJSON
	for _, a := range acts {
		if !from.IsZero() && a.Start.Before(from) || !to.IsZero() && a.Start.After(to) {
			continue
		}
		end := ""
		if !a.End.IsZero() {
			end = a.End.UTC().Format(asTimeFormat)
		}
		match = append(match, activityJSON{
			Status: a.Status, StartTime: a.Start.UTC().Format(asTimeFormat), EndTime: end, ID: a.ID,
			Removed: strings.Join(a.Removed, ","), Deleted: strings.Join(a.Deleted, ","), Added: strings.Join(a.Added, ","),
			ScalingValue: a.ScalingValue, Description: a.Description, InstanceValue: a.InstanceValue, DesireValue: a.DesireValue,
		})
	}
	return http.StatusOK, map[string]any{"total_number": len(match), "start_number": start, "limit": limit, "scaling_activity_log": pageOf(match, start, limit)}, nil
}

// asPage reads Auto Scaling's paging parameters: start_number, and limit (20
// by default, 100 at most).
func asPage(q url.Values) (start, limit int, err error) {
	if start, err = intParam("as", q, "start_number", 0, 0, 1<<31-1); err != nil {
		return 0, 0, err
	}
	if limit, err = intParam("as", q, "limit", 20, 0, 100); err != nil {
		return 0, 0, err
	}
	return start, limit, nil
}
