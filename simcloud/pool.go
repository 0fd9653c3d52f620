package simcloud

import (
	"encoding/json"
	"net/http"

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
