package collector

import (
	"fmt"
	"strings"
	"time"

	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/config"
)

// Instance states of flexus_group_instances and flexus_instance_info.
const (
	StateInService = "in_service"
	StatePending   = "pending"
	StateRemoving  = "removing"
)

func instanceStates() []string { return []string{StateInService, StatePending, StateRemoving} }

// Instance is one discovered member of a group.
type Instance struct {
	ID     string
	Name   string
	Flavor string
	State  string
}

// membership is what discovery learnt about a group in one cycle.
type membership struct {
	instances []Instance
	// desired, cloudMin and cloudMax come from AS; -1 when the cloud has none.
	desired, cloudMin, cloudMax int
	at                          time.Time
}

// Page sizes: the APIs' maxima, so paging costs as few calls as possible.
const (
	asPageSize  = 100
	ecsPageSize = 1000
	// maxPages bounds a paging loop against an API that never says "done".
	maxPages = 10000
)

// discover lists a group's members with its AS group (ListScalingInstances,
// ShowScalingGroup) or its ECS tag (ListServersDetails).
func (c *Collector) discover(g *config.Group, now time.Time) (membership, error) {
	if g.Discovery.ASGroupID != "" {
		return c.discoverAS(g.Discovery.ASGroupID, now)
	}
	return c.discoverECS(g.Discovery.Tag, now)
}

func (c *Collector) discoverAS(id string, now time.Time) (membership, error) {
	m := membership{desired: -1, cloudMin: -1, cloudMax: -1, at: now}
	sg, err := c.clients.AS.ShowScalingGroup(&asmodel.ShowScalingGroupRequest{ScalingGroupId: id})
	if err != nil {
		return m, fmt.Errorf("discovery: AS group %s: %w", id, err)
	}
	if g := sg.ScalingGroup; g != nil {
		m.desired = intOr(g.DesireInstanceNumber, -1)
		m.cloudMin = intOr(g.MinInstanceNumber, -1)
		m.cloudMax = intOr(g.MaxInstanceNumber, -1)
	}
	limit := int32(asPageSize)
	for page := 0; page < maxPages; page++ {
		start := int32(page * asPageSize)
		resp, err := c.clients.AS.ListScalingInstances(&asmodel.ListScalingInstancesRequest{ScalingGroupId: id, StartNumber: &start, Limit: &limit})
		if err != nil {
			return m, fmt.Errorf("discovery: AS group %s instances: %w", id, err)
		}
		var got []asmodel.ScalingGroupInstance
		if resp.ScalingGroupInstances != nil {
			got = *resp.ScalingGroupInstances
		}
		for _, in := range got {
			if in.InstanceId == nil || *in.InstanceId == "" {
				continue // still being created: AS has no server yet
			}
			state := ""
			if in.LifeCycleState != nil {
				state = in.LifeCycleState.Value()
			}
			m.instances = append(m.instances, Instance{ID: *in.InstanceId, Name: strOr(in.InstanceName), State: asState(state)})
		}
		total := intOr(resp.TotalNumber, -1)
		if len(got) < asPageSize || (total >= 0 && int(start)+len(got) >= total) {
			return m, nil
		}
	}
	return m, fmt.Errorf("discovery: AS group %s: more than %d pages", id, maxPages)
}

func asState(s string) string {
	switch s {
	case "INSERVICE":
		return StateInService
	case "PENDING", "PENDING_WAIT":
		return StatePending
	default:
		// REMOVING, REMOVING_WAIT, STANDBY, ENTERING_STANDBY: not serving, leaving.
		return StateRemoving
	}
}

func (c *Collector) discoverECS(tag *config.Tag, now time.Time) (membership, error) {
	m := membership{desired: -1, cloudMin: -1, cloudMax: -1, at: now}
	tags := tag.Key + "=" + tag.Value
	limit := int32(ecsPageSize)
	for page := 1; page <= maxPages; page++ {
		offset := int32(page) // ECS pages count from 1
		resp, err := c.clients.ECS.ListServersDetails(&ecsmodel.ListServersDetailsRequest{Tags: &tags, Limit: &limit, Offset: &offset})
		if err != nil {
			return m, fmt.Errorf("discovery: ECS servers tagged %s: %w", tags, err)
		}
		var got []ecsmodel.ServerDetail
		if resp.Servers != nil {
			got = *resp.Servers
		}
		for _, s := range got {
			flavor := ""
			if s.Flavor != nil {
				flavor = s.Flavor.Id
				if flavor == "" {
					flavor = s.Flavor.Name
				}
			}
			m.instances = append(m.instances, Instance{ID: s.Id, Name: s.Name, Flavor: flavor, State: ecsState(s.Status)})
		}
		count := intOr(resp.Count, -1)
		if len(got) < ecsPageSize || (count >= 0 && (page)*ecsPageSize >= count) {
			n := 0
			for _, in := range m.instances {
				if in.State != StateRemoving {
					n++
				}
			}
			m.desired = n
			return m, nil
		}
	}
	return m, fmt.Errorf("discovery: ECS servers tagged %s: more than %d pages", tags, maxPages)
}

func ecsState(s string) string {
	switch strings.ToUpper(s) {
	case "ACTIVE":
		return StateInService
	case "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE", "MIGRATING":
		return StatePending
	default:
		// DELETED, SHUTOFF, ERROR, SOFT_DELETED: gone or going, not serving.
		return StateRemoving
	}
}

func intOr(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}

func strOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// flavorLookupByID is how many unknown instances are looked up one by one
// (ListServersDetails server_id=…); beyond it one full listing is cheaper.
const flavorLookupByID = 20

// fillFlavors gives AS members their flavour, which AS does not report, from
// ECS. A flavour never changes, so each instance is looked up once: by id for
// a few new instances, with one paged listing of all servers for many.
func (c *Collector) fillFlavors() error {
	var unknown []string
	for _, st := range c.groups {
		for _, in := range st.members.instances {
			if in.Flavor != "" {
				c.flavors[in.ID] = in.Flavor
			} else if _, ok := c.flavors[in.ID]; !ok && in.State != StateRemoving {
				unknown = append(unknown, in.ID)
			}
		}
	}
	var err error
	if len(unknown) > 0 && len(unknown) <= flavorLookupByID {
		for _, id := range unknown {
			sid := id
			var resp *ecsmodel.ListServersDetailsResponse
			resp, err = c.clients.ECS.ListServersDetails(&ecsmodel.ListServersDetailsRequest{ServerId: &sid})
			if err != nil {
				break
			}
			c.noteFlavors(resp)
		}
	} else if len(unknown) > 0 {
		limit := int32(ecsPageSize)
		for page := 1; page <= maxPages; page++ {
			offset := int32(page)
			var resp *ecsmodel.ListServersDetailsResponse
			resp, err = c.clients.ECS.ListServersDetails(&ecsmodel.ListServersDetailsRequest{Limit: &limit, Offset: &offset})
			if err != nil {
				break
			}
			n := c.noteFlavors(resp)
			if n < ecsPageSize {
				break
			}
		}
	}
	// Apply what is known, and forget instances no group holds any more.
	keep := map[string]bool{}
	for _, st := range c.groups {
		for i := range st.members.instances {
			in := &st.members.instances[i]
			keep[in.ID] = true
			if in.Flavor == "" {
				in.Flavor = c.flavors[in.ID]
			}
		}
	}
	for id := range c.flavors {
		if !keep[id] {
			delete(c.flavors, id)
		}
	}
	if err != nil {
		return fmt.Errorf("discovery: flavours from ECS: %w", err)
	}
	return nil
}

func (c *Collector) noteFlavors(resp *ecsmodel.ListServersDetailsResponse) int {
	if resp.Servers == nil {
		return 0
	}
	for _, s := range *resp.Servers {
		if s.Flavor != nil {
			f := s.Flavor.Id
			if f == "" {
				f = s.Flavor.Name
			}
			if f != "" {
				c.flavors[s.Id] = f
			}
		}
	}
	return len(*resp.Servers)
}
