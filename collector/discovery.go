package collector

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
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
	// PrivateIP and Tags come from ECS (looked up once for AS members).
	PrivateIP string
	Tags      map[string]string
}

// membership is what discovery learnt about a group in one cycle.
type membership struct {
	instances []Instance
	// desired, cloudMin and cloudMax come from AS; -1 when the cloud has none.
	desired, cloudMin, cloudMax int
	at                          time.Time
	// current and scaling are the AS group's count and activity flag, and
	// listed when its members were last listed (AS groups only).
	current int
	scaling bool
	listed  time.Time
}

// memberRelist bounds how long an unchanged AS group's member list is
// trusted without listing it again.
const memberRelist = 10 * time.Minute

// unchanged tells whether an AS group's previous member list still holds:
// listed recently, the same counts, no activity, every member in service
// (so no state is about to change). Then one ShowScalingGroup is the whole
// discovery, instead of a ListScalingInstances page per 100 members.
func unchanged(prev, cur membership, now time.Time) bool {
	if prev.listed.IsZero() || now.Sub(prev.listed) >= memberRelist || cur.scaling ||
		prev.desired != cur.desired || prev.current != cur.current || len(prev.instances) != cur.current {
		return false
	}
	for _, in := range prev.instances {
		if in.State != StateInService {
			return false
		}
	}
	return true
}

// discover lists a group's members with its AS group or its ECS tag; prev
// is what the last discovery found.
func (c *Collector) discover(ctx context.Context, g *config.Group, prev membership, now time.Time) (membership, error) {
	if g.Discovery.ASGroupID != "" {
		return c.discoverAS(ctx, g.Discovery.ASGroupID, prev, now)
	}
	return c.discoverECS(ctx, g.Discovery.Tag, now)
}

func (c *Collector) discoverAS(ctx context.Context, id string, prev membership, now time.Time) (membership, error) {
	m := membership{desired: -1, cloudMin: -1, cloudMax: -1, at: now}
	g, err := c.clients.AS.Group(ctx, id)
	if err != nil {
		return m, fmt.Errorf("discovery: AS group %s: %w", id, err)
	}
	m.desired, m.cloudMin, m.cloudMax, m.current, m.scaling = g.Desired, g.Min, g.Max, g.Current, g.Scaling
	if unchanged(prev, m, now) {
		m.instances, m.listed = prev.instances, prev.listed
		return m, nil
	}
	m.listed = now
	members, err := c.clients.AS.Members(ctx, id)
	if err != nil {
		return m, fmt.Errorf("discovery: AS group %s instances: %w", id, err)
	}
	for _, in := range members {
		if in.ID == "" {
			continue // still being created: AS has no server yet
		}
		m.instances = append(m.instances, Instance{ID: in.ID, Name: in.Name, State: asState(in)})
	}
	return m, nil
}

func asState(m hwcloud.Member) string {
	switch {
	case m.State == "INSERVICE":
		return StateInService
	case m.Joining():
		return StatePending
	default:
		// REMOVING, REMOVING_WAIT, STANDBY, ENTERING_STANDBY: not serving, leaving.
		return StateRemoving
	}
}

func (c *Collector) discoverECS(ctx context.Context, tag *config.Tag, now time.Time) (membership, error) {
	m := membership{desired: -1, cloudMin: -1, cloudMax: -1, at: now}
	servers, err := c.clients.ECS.Tagged(ctx, tag.Key, tag.Value)
	if err != nil {
		return m, fmt.Errorf("discovery: ECS servers tagged %s=%s: %w", tag.Key, tag.Value, err)
	}
	m.desired = 0
	for _, s := range servers {
		in := Instance{ID: s.ID, Name: s.Name, Flavor: s.Flavor, State: ecsState(s.Status), PrivateIP: s.PrivateIP, Tags: s.Tags}
		m.instances = append(m.instances, in)
		if in.State != StateRemoving {
			m.desired++
		}
	}
	return m, nil
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

// fillDetails gives AS members their flavour, private address and tags,
// which AS does not report, from ECS. They never change for an instance's
// life, so each instance is looked up once.
func (c *Collector) fillDetails(ctx context.Context) error {
	var unknown []string
	for _, st := range c.groups {
		for _, in := range st.members.instances {
			if in.Flavor != "" {
				c.details[in.ID] = hwcloud.Server{ID: in.ID, Name: in.Name, Flavor: in.Flavor, PrivateIP: in.PrivateIP, Tags: in.Tags}
			} else if _, ok := c.details[in.ID]; !ok && in.State != StateRemoving {
				unknown = append(unknown, in.ID)
			}
		}
	}
	var err error
	if len(unknown) > 0 {
		var got map[string]hwcloud.Server
		got, err = c.clients.ECS.Lookup(ctx, unknown)
		for id, s := range got {
			c.details[id] = s
		}
	}
	// Apply what is known, and forget instances no group holds any more.
	keep := map[string]bool{}
	for _, st := range c.groups {
		for i := range st.members.instances {
			in := &st.members.instances[i]
			keep[in.ID] = true
			if d, ok := c.details[in.ID]; ok && in.Flavor == "" {
				in.Flavor, in.PrivateIP, in.Tags = d.Flavor, d.PrivateIP, d.Tags
			}
		}
	}
	for id := range c.details {
		if !keep[id] {
			delete(c.details, id)
		}
	}
	if err != nil {
		return fmt.Errorf("discovery: instance details from ECS: %w", err)
	}
	return nil
}
