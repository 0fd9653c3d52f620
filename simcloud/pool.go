package simcloud

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// serverAction is POST /v1/{project_id}/cloudservers/action, the one path
// of BatchStartServers (os-start), BatchStopServers (os-stop) and
// BatchRebootServers (reboot): the body's key says which. Start and stop
// answer a job (ShowJob) that ends when the servers serve or are stopped.
// A server not in the state the action needs refuses the whole request with
// 400 Ecs.1000 (docs/cloud-api.md, ecs-power-state), so a start sent twice
// starts nothing the second time.
func (s *Server) serverAction(_ *http.Request, body []byte) (int, any, error) {
	var req struct {
		Start *struct {
			Servers []struct {
				ID string `json:"id"`
			} `json:"servers"`
		} `json:"os-start"`
		Stop *struct {
			Servers []struct {
				ID string `json:"id"`
			} `json:"servers"`
			Type string `json:"type"`
		} `json:"os-stop"`
		Reboot json.RawMessage `json:"reboot"`
	}
	if err := decodeBody("ecs", body, &req); err != nil {
		return 0, nil, err
	}
	var (
		ids []string
		run func([]string) (world.Job, error)
	)
	switch {
	case req.Start != nil && req.Stop == nil && req.Reboot == nil:
		for _, sv := range req.Start.Servers {
			ids = append(ids, sv.ID)
		}
		run = s.world.StartServers
	case req.Stop != nil && req.Start == nil && req.Reboot == nil:
		if t := req.Stop.Type; t != "" && t != "SOFT" && t != "HARD" {
			return 0, nil, badRequest("ecs", "os-stop.type %q must be SOFT or HARD", t)
		}
		for _, sv := range req.Stop.Servers {
			ids = append(ids, sv.ID)
		}
		run = s.world.StopServers
	case req.Reboot != nil:
		return 0, nil, badRequest("ecs", "reboot is not served by simcloud: flexus never reboots servers")
	default:
		return 0, nil, badRequest("ecs", "the body must hold exactly one of os-start, os-stop or reboot")
	}
	for i, id := range ids {
		if id == "" {
			return 0, nil, badRequest("ecs", "servers[%d].id is empty", i)
		}
	}
	job, err := run(ids)
	if err != nil {
		return 0, nil, worldError("ecs", err)
	}
	s.logger.Info("ECS servers "+job.Type, "job", job.ID, "servers", len(ids))
	return http.StatusOK, map[string]any{"job_id": job.ID}, nil
}

// powerStatus is the ECS view of a stopping, stopped or starting server:
// status, vm_state, task_state and power_state (4 is shut down).
func powerStatus(in world.Instance, st world.State) (status, vm, task string, power int, ok bool) {
	switch {
	case st == world.StateStopping:
		return "ACTIVE", "active", "powering-off", 1, true
	case st == world.StateStopped:
		return "SHUTOFF", "stopped", "", 4, true
	case st == world.StatePending && in.Starts > 0:
		return "SHUTOFF", "stopped", "powering-on", 4, true
	}
	return "", "", "", 0, false
}

// showWarmPool is AS ShowWarmPool: the group's pool capacity (0 without one).
func (s *Server) showWarmPool(r *http.Request, _ []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	n, err := s.world.PoolSize(g.ID)
	if err != nil {
		return 0, nil, worldError("as", err)
	}
	return http.StatusOK, map[string]any{"warm_pool": map[string]any{"min_capacity": n, "max_capacity": n, "instance_init_wait_time": 0}}, nil
}

// putWarmPool is AS PutWarmPool: min_capacity and max_capacity are given
// together and equal (SDK PutWarmPoolOption); simcloud fills the pool at once.
func (s *Server) putWarmPool(r *http.Request, body []byte) (int, any, error) {
	g, err := s.asGroup(r.PathValue("scaling_group_id"))
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Min  *int `json:"min_capacity"`
		Max  *int `json:"max_capacity"`
		Wait *int `json:"instance_init_wait_time"`
	}
	if err := decodeBody("as", body, &req); err != nil {
		return 0, nil, err
	}
	if (req.Min == nil) != (req.Max == nil) || req.Min != nil && *req.Min != *req.Max {
		return 0, nil, badRequest("as", "min_capacity and max_capacity must be given together and be equal")
	}
	n := 0
	if req.Max != nil {
		n = *req.Max
	}
	if err := s.world.SetPool(g.ID, n); err != nil {
		return 0, nil, worldError("as", err)
	}
	s.logger.Info("AS warm pool set", "group", g.Name, "capacity", n)
	return http.StatusNoContent, nil, nil
}

// warmPoolPattern is the route of AS's warm pool APIs. Their path
// (/autoscaling-api/{project_id}/scaling-groups/{id}/warm-pool) and the AS v1
// group's (/autoscaling-api/v1/{project_id}/scaling_group/{id}) would both
// match some paths, which net/http refuses, so the project id is written in
// the pattern: another project's path is then not found.
func warmPoolPattern(method, project string) string {
	return method + " /autoscaling-api/" + project + "/scaling-groups/{scaling_group_id}/warm-pool"
}

// projectInPattern reports a route whose project id is written in its pattern.
func projectInPattern(pattern string) bool {
	return strings.Contains(pattern, "/scaling-groups/{scaling_group_id}/warm-pool")
}
