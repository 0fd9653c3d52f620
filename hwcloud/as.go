package hwcloud

import (
	"context"
	"fmt"
	"strings"
	"time"

	as "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1"
	asmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/model"
)

// Paging bounds: the APIs' largest pages, so paging costs as few calls as
// possible, and a bound against an API that never says "done".
const (
	asPageSize  = 100
	ecsPageSize = 1000
	maxPages    = 10000
)

type asClient struct {
	sdk *as.AsClient
	c   caller
}

func (a *asClient) Group(ctx context.Context, id string) (Group, error) {
	resp, err := invoke[asmodel.ShowScalingGroupResponse](ctx, a.c, "ShowScalingGroup",
		a.sdk.ShowScalingGroupInvoker(&asmodel.ShowScalingGroupRequest{ScalingGroupId: id}).BaseInvoker)
	if err != nil {
		return Group{}, err
	}
	sg := resp.ScalingGroup
	if sg == nil {
		return Group{}, fmt.Errorf("as ShowScalingGroup: scaling group %s: empty answer", id)
	}
	g := Group{ID: id, Desired: intOr(sg.DesireInstanceNumber, -1), Current: intOr(sg.CurrentInstanceNumber, -1),
		Min: intOr(sg.MinInstanceNumber, -1), Max: intOr(sg.MaxInstanceNumber, -1), Scaling: sg.IsScaling != nil && *sg.IsScaling}
	if sg.ScalingGroupStatus != nil {
		g.Status = sg.ScalingGroupStatus.Value()
	}
	return g, nil
}

func (a *asClient) Members(ctx context.Context, id string) ([]Member, error) {
	var out []Member
	limit := int32(asPageSize)
	for page := 0; page < maxPages; page++ {
		start := int32(page * asPageSize)
		resp, err := invoke[asmodel.ListScalingInstancesResponse](ctx, a.c, "ListScalingInstances",
			a.sdk.ListScalingInstancesInvoker(&asmodel.ListScalingInstancesRequest{ScalingGroupId: id, StartNumber: &start, Limit: &limit}).BaseInvoker)
		if err != nil {
			return out, err
		}
		var got []asmodel.ScalingGroupInstance
		if resp.ScalingGroupInstances != nil {
			got = *resp.ScalingGroupInstances
		}
		for _, in := range got {
			m := Member{ID: strOr(in.InstanceId), Name: strOr(in.InstanceName)}
			if in.LifeCycleState != nil {
				m.State = in.LifeCycleState.Value()
			}
			out = append(out, m)
		}
		total := intOr(resp.TotalNumber, -1)
		if len(got) < asPageSize || (total >= 0 && int(start)+len(got) >= total) {
			return out, nil
		}
	}
	return out, fmt.Errorf("as ListScalingInstances: scaling group %s: more than %d pages", id, maxPages)
}

func (a *asClient) Activities(ctx context.Context, id string, since time.Time, limit int) ([]Activity, error) {
	n := int32(min(max(limit, 1), asPageSize))
	from := since.UTC().Format("2006-01-02T15:04:05Z")
	resp, err := invoke[asmodel.ListScalingActivityLogsResponse](ctx, a.c, "ListScalingActivityLogs",
		a.sdk.ListScalingActivityLogsInvoker(&asmodel.ListScalingActivityLogsRequest{ScalingGroupId: id, StartTime: &from, Limit: &n}).BaseInvoker)
	if err != nil {
		return nil, err
	}
	if resp.ScalingActivityLog == nil {
		return nil, nil
	}
	out := make([]Activity, 0, len(*resp.ScalingActivityLog))
	for _, l := range *resp.ScalingActivityLog {
		act := Activity{
			Added:   nonEmpty(l.InstanceAddedList),
			Removed: nonEmpty(l.InstanceRemovedList) || nonEmpty(l.InstanceDeletedList),
			Desired: intOr(l.DesireValue, -1), Instances: intOr(l.InstanceValue, -1), Change: intOr(l.ScalingValue, 0),
		}
		if l.Status != nil {
			act.Status = l.Status.Value()
		}
		if l.StartTime != nil {
			act.Start = time.Time(*l.StartTime)
		}
		if l.EndTime != nil {
			act.End = time.Time(*l.EndTime)
		}
		out = append(out, act)
	}
	return out, nil
}

func (a *asClient) SetDesired(ctx context.Context, id string, desired int) error {
	n := int32(desired)
	_, err := invoke[asmodel.UpdateScalingGroupResponse](ctx, a.c, "UpdateScalingGroup",
		a.sdk.UpdateScalingGroupInvoker(&asmodel.UpdateScalingGroupRequest{ScalingGroupId: id,
			Body: &asmodel.UpdateScalingGroupOption{DesireInstanceNumber: &n}}).BaseInvoker)
	return err
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

func nonEmpty(p *string) bool { return p != nil && strings.TrimSpace(*p) != "" }
