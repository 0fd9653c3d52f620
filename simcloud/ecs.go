package simcloud

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

const ecsTimeFormat = "2006-01-02T15:04:05Z"

// maxServerTags is the most tags a server takes at creation (PrePaidServer.server_tags).
const maxServerTags = 10

// uuidShape is the X-Client-Token ECS accepts; anything else is Ecs.0123.
var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkServerName applies PrePaidServer.name: 1..64 characters of letters
// (Chinese included), digits, "_", "-" and "."; 1..59 when count > 1, since
// ECS appends "-0001"-like suffixes.
func checkServerName(name string, count int) error {
	most := 64
	if count > 1 {
		most = 59
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > most {
		return badRequest("ecs", "server.name %q has %d characters: it must have 1..%d (59 when count > 1)", name, n, most)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' && r != '.' {
			return badRequest("ecs", "server.name %q holds %q: only letters, digits, _, - and . are allowed", name, r)
		}
	}
	return nil
}

func (s *Server) createServers(r *http.Request, body []byte) (int, any, error) {
	var req ecsmodel.CreateServersRequestBody
	if err := decodeBody("ecs", body, &req); err != nil {
		return 0, nil, err
	}
	sv := req.Server
	if sv == nil {
		return 0, nil, badRequest("ecs", "server is required")
	}
	switch {
	case sv.ImageRef == "":
		return 0, nil, badRequest("ecs", "server.imageRef is required")
	case sv.FlavorRef == "":
		return 0, nil, badRequest("ecs", "server.flavorRef is required")
	case sv.Name == "":
		return 0, nil, badRequest("ecs", "server.name is required")
	case sv.Vpcid == "":
		return 0, nil, badRequest("ecs", "server.vpcid is required")
	case len(sv.Nics) == 0:
		return 0, nil, badRequest("ecs", "server.nics must hold at least one subnet")
	case sv.RootVolume == nil:
		return 0, nil, badRequest("ecs", "server.root_volume is required")
	}
	token := r.Header.Get("X-Client-Token")
	if token != "" && !uuidShape.MatchString(token) {
		return 0, nil, &apiError{status: http.StatusBadRequest, code: "Ecs.0123", msg: fmt.Sprintf("X-Client-Token %q is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, lower-case hex)", token)}
	}
	wr := world.CreateServersRequest{ClientToken: token, Name: sv.Name, Flavor: sv.FlavorRef, Count: 1, ImageID: sv.ImageRef, VpcID: sv.Vpcid}
	if sv.Count != nil {
		wr.Count = int(*sv.Count)
		if wr.Count < 1 || wr.Count > world.MaxCreateCount {
			return 0, nil, badRequest("ecs", "server.count %d must be within 1..%d", wr.Count, world.MaxCreateCount)
		}
	}
	if err := checkServerName(sv.Name, wr.Count); err != nil {
		return 0, nil, err
	}
	if sv.ServerTags != nil && len(*sv.ServerTags) > maxServerTags {
		return 0, nil, badRequest("ecs", "server.server_tags holds %d tags: a server takes at most %d", len(*sv.ServerTags), maxServerTags)
	}
	if sv.AvailabilityZone != nil {
		wr.Zone = *sv.AvailabilityZone
	}
	if sv.ServerTags != nil {
		for _, t := range *sv.ServerTags {
			wr.Tags = append(wr.Tags, world.Tag{Key: t.Key, Value: t.Value})
		}
	}
	spot, err := s.spotRequest(sv.Extendparam, wr)
	if err != nil {
		return 0, nil, err
	}
	wr.Spot = spot
	if req.DryRun != nil && *req.DryRun {
		if _, err := world.LookupFlavor(wr.Flavor); err != nil {
			return 0, nil, badRequest("ecs", "server.flavorRef: %v", err)
		}
		return http.StatusAccepted, map[string]any{}, nil
	}
	job, err := s.world.CreateServers(wr)
	if err != nil {
		return 0, nil, worldError("ecs", err)
	}
	s.logger.Info("ECS servers created", "job", job.ID, "servers", len(job.ServerIDs), "token", token)
	return http.StatusOK, map[string]any{"job_id": job.ID, "serverIds": job.ServerIDs}, nil
}

func (s *Server) deleteServers(_ *http.Request, body []byte) (int, any, error) {
	var req ecsmodel.DeleteServersRequestBody
	if err := decodeBody("ecs", body, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Servers) == 0 {
		return 0, nil, badRequest("ecs", "servers must list at least one server id")
	}
	ids := make([]string, len(req.Servers))
	for i, sv := range req.Servers {
		if sv.Id == "" {
			return 0, nil, badRequest("ecs", "servers[%d].id is empty", i)
		}
		ids[i] = sv.Id
	}
	job, err := s.world.DeleteServers(ids)
	if err != nil {
		return 0, nil, worldError("ecs", err)
	}
	s.logger.Info("ECS servers deleted", "job", job.ID, "servers", len(ids))
	return http.StatusOK, map[string]any{"job_id": job.ID}, nil
}

type subJobJSON struct {
	Status     string            `json:"status"`
	Entities   map[string]string `json:"entities"`
	JobID      string            `json:"job_id"`
	JobType    string            `json:"job_type"`
	BeginTime  string            `json:"begin_time"`
	EndTime    string            `json:"end_time"`
	ErrorCode  string            `json:"error_code"`
	FailReason string            `json:"fail_reason"`
}

func (s *Server) showJob(r *http.Request, _ []byte) (int, any, error) {
	id := r.PathValue("job_id")
	st, err := s.world.ShowJob(id)
	if err != nil {
		return 0, nil, &apiError{status: http.StatusNotFound, code: "Ecs.0103", msg: err.Error()}
	}
	end := ""
	if !st.End.IsZero() {
		end = st.End.UTC().Format(ecsTimeFormat)
	}
	subType := map[string]string{"deleteServers": "deleteSingleServer", "startServers": "startSingleServer", "stopServers": "stopSingleServer"}[st.Type]
	if subType == "" {
		subType = "createSingleServer"
	}
	subs := []subJobJSON{}
	for i, sid := range st.ServerIDs {
		subs = append(subs, subJobJSON{
			Status: st.Status, Entities: map[string]string{"server_id": sid}, JobID: fmt.Sprintf("%s%04d", st.ID[:len(st.ID)-4], i),
			JobType: subType, BeginTime: st.Begin.UTC().Format(ecsTimeFormat), EndTime: end,
		})
	}
	return http.StatusOK, map[string]any{
		"job_id": st.ID, "job_type": st.Type, "status": st.Status,
		"begin_time": st.Begin.UTC().Format(ecsTimeFormat), "end_time": end,
		"error_code": "", "fail_reason": "",
		"entities": map[string]any{"sub_jobs_total": len(subs), "sub_jobs": subs},
	}, nil
}

// serverJSON holds the ServerDetail fields simcloud fills, typed as the SDK decodes them.
type serverJSON struct {
	ID                  string                   `json:"id"`
	Name                string                   `json:"name"`
	Status              string                   `json:"status"`
	Created             string                   `json:"created"`
	Updated             string                   `json:"updated"`
	Flavor              flavorJSON               `json:"flavor"`
	Image               map[string]string        `json:"image"`
	TenantID            string                   `json:"tenant_id"`
	UserID              string                   `json:"user_id"`
	HostID              string                   `json:"hostId"`
	KeyName             string                   `json:"key_name"`
	Addresses           map[string][]addressJSON `json:"addresses"`
	SecurityGroups      []map[string]string      `json:"security_groups"`
	Metadata            map[string]string        `json:"metadata"`
	Tags                []string                 `json:"tags"`
	SysTags             []map[string]string      `json:"sys_tags"`
	AZ                  string                   `json:"OS-EXT-AZ:availability_zone"`
	VMState             string                   `json:"OS-EXT-STS:vm_state"`
	TaskState           string                   `json:"OS-EXT-STS:task_state"`
	PowerState          int                      `json:"OS-EXT-STS:power_state"`
	LaunchedAt          string                   `json:"OS-SRV-USG:launched_at"`
	TerminatedAt        string                   `json:"OS-SRV-USG:terminated_at"`
	InstanceName        string                   `json:"OS-EXT-SRV-ATTR:instance_name"`
	Hostname            string                   `json:"OS-EXT-SRV-ATTR:hostname"`
	Volumes             []map[string]string      `json:"os-extended-volumes:volumes_attached"`
	AccessIPv4          string                   `json:"accessIPv4"`
	AccessIPv6          string                   `json:"accessIPv6"`
	ConfigDrive         string                   `json:"config_drive"`
	Locked              bool                     `json:"locked"`
	EnterpriseProjectID string                   `json:"enterprise_project_id"`
	Description         string                   `json:"description"`
	AutoTerminateTime   string                   `json:"auto_terminate_time"`
	HostStatus          string                   `json:"host_status"`
}

type flavorJSON struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	Disk             string       `json:"disk"`
	Vcpus            string       `json:"vcpus"`
	RAM              string       `json:"ram"`
	Gpus             []deviceJSON `json:"gpus,omitempty"`
	AsicAccelerators []deviceJSON `json:"asic_accelerators,omitempty"`
}

type deviceJSON struct {
	Name     string `json:"name"`
	Count    int    `json:"count"`
	MemoryMb int    `json:"memory_mb"`
}

type addressJSON struct {
	Version string `json:"version"`
	Addr    string `json:"addr"`
	Type    string `json:"OS-EXT-IPS:type"`
	MAC     string `json:"OS-EXT-IPS-MAC:mac_addr"`
}

func (s *Server) serverJSON(in world.Instance, now time.Time) serverJSON {
	f := in.FlavorSpec()
	fj := flavorJSON{ID: f.Name, Name: f.Name, Disk: fmt.Sprint(f.DiskGB), Vcpus: fmt.Sprint(f.VCPUs), RAM: fmt.Sprint(f.RAMMiB)}
	dev := []deviceJSON{{Name: f.DeviceModel, Count: f.Devices, MemoryMb: f.DeviceMemMiB}}
	switch f.Accelerator {
	case world.AcceleratorGPU:
		fj.Gpus = dev
	case world.AcceleratorNPU:
		fj.AsicAccelerators = dev
	}
	st := in.StateAt(now)
	status, vm, task, power := serverStatus(st), "active", "", 1
	switch st {
	case world.StatePending:
		vm, task, power = "building", "spawning", 0
	case world.StateRemoving:
		task = "deleting"
	}
	if ps, pvm, ptask, ppower, ok := powerStatus(in, st); ok {
		status, vm, task, power = ps, pvm, ptask, ppower
	}
	// charging_mode 2 is how ECS marks spot servers.
	meta := map[string]string{"charging_mode": "0", "vpc_id": in.VpcID, "metering.image_id": in.ImageID, "metering.resourcespeccode": f.Name + ".linux"}
	if in.Spot {
		meta["charging_mode"] = "2"
	}
	tags := []string{}
	for _, t := range in.Tags {
		tags = append(tags, t.Key+"="+t.Value)
	}
	h := in.ID
	ip := fmt.Sprintf("192.168.%d.%d", int(h[0])%200, int(h[1])%250+2)
	created := in.Created.UTC().Format(ecsTimeFormat)
	return serverJSON{
		ID: in.ID, Name: in.Name, Status: status, Created: created, Updated: created, Flavor: fj,
		Image: map[string]string{"id": in.ImageID}, TenantID: s.cfg.ProjectID, UserID: "simcloud-user",
		HostID: "host-" + in.ID[:8], Addresses: map[string][]addressJSON{in.VpcID: {{Version: "4", Addr: ip, Type: "fixed", MAC: "fa:16:3e:" + in.ID[0:2] + ":" + in.ID[2:4] + ":" + in.ID[4:6]}}},
		SecurityGroups: []map[string]string{{"id": "sg-simcloud", "name": "default"}},
		Metadata:       meta,
		Tags:           tags, SysTags: []map[string]string{{"key": "_sys_enterprise_project_id", "value": "0"}},
		AZ: in.Zone, VMState: vm, TaskState: task, PowerState: power, LaunchedAt: in.Ready.UTC().Format("2006-01-02T15:04:05.000000"),
		InstanceName: "instance-" + in.ID[:8], Hostname: in.Name, Volumes: []map[string]string{{"id": "vol-" + in.ID[:8], "delete_on_termination": "true", "device": "/dev/vda"}},
		EnterpriseProjectID: "0", HostStatus: "UP",
	}
}

// tagsMatch reads the SDK's tags filter: comma-separated key=value pairs,
// all of which must be on the server.
func tagsMatch(in world.Instance, filter string) bool {
	for _, want := range strings.Split(filter, ",") {
		if want == "" {
			continue
		}
		found := false
		for _, t := range in.Tags {
			if t.Key+"="+t.Value == want || t.Key == want {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (s *Server) listServersDetails(r *http.Request, _ []byte) (int, any, error) {
	q := r.URL.Query()
	limit, err := intParam("ecs", q, "limit", 25, 1, 1000)
	if err != nil {
		return 0, nil, err
	}
	pageNo, err := intParam("ecs", q, "offset", 1, 0, 1<<31-1)
	if err != nil {
		return 0, nil, err
	}
	now := s.world.Now()
	var match []world.Instance
	for _, in := range s.world.Servers() {
		if v := q.Get("tags"); v != "" && !tagsMatch(in, v) {
			continue
		}
		if v := q.Get("not-tags"); v != "" && tagsMatch(in, v) {
			continue
		}
		if v := q.Get("flavor"); v != "" && in.Flavor != v {
			continue
		}
		if v := q.Get("name"); v != "" && !strings.Contains(in.Name, v) {
			continue
		}
		if v := q.Get("server_id"); v != "" && in.ID != v {
			continue
		}
		// Only administrators may list DELETED servers; for a project's own
		// credentials the filter matches nothing, as deleted servers are never listed.
		if v := q.Get("status"); v != "" && s.serverJSON(in, now).Status != v {
			continue
		}
		match = append(match, in)
	}
	// Only the page is rendered: a project may hold thousands of servers.
	page := []serverJSON{}
	for _, in := range pageOf(match, (page0(pageNo)-1)*limit, limit) {
		page = append(page, s.serverJSON(in, now))
	}
	return http.StatusOK, map[string]any{"count": len(match), "servers": page}, nil
}

// serverStatus is the ECS status of an instance state.
func serverStatus(st world.State) string {
	if st == world.StatePending {
		return "BUILD"
	}
	return "ACTIVE"
}

// page0 reads ECS's page number, where 0 means the first page as 1 does.
func page0(n int) int { return max(n, 1) }
