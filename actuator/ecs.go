package actuator

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// ECSScaler manages a group's Flexus X servers directly: it creates them from
// the group's ecs: template and deletes them by its termination policy. It
// only ever deletes servers carrying config.ManagedTagKey=true.
type ECSScaler struct {
	Client hwcloud.ECS
	// Sleep waits between ShowJob polls; tests pass one that does not sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// PollInterval and MaxPolls bound how long a job is followed (defaults 2s and 90).
	PollInterval time.Duration
	MaxPolls     int
	// PageSize is the ListServersDetails page (default 100).
	PageSize int
}

var _ Scaler = (*ECSScaler)(nil)

// SleepContext waits d or until ctx ends; it is the real Sleep.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// server is what the backend needs of a listed server.
type server struct {
	ID      string
	Status  string
	Task    string
	Created time.Time
	// Launched is when the server came up: the end of its scale-out activity.
	Launched time.Time
	Updated  time.Time
	Managed  bool
}

// gone reports servers that no longer count: deleted, or on their way out.
func (s server) gone() bool {
	return s.Status == "DELETED" || s.Status == "SOFT_DELETED" || strings.HasPrefix(strings.ToLower(s.Task), "deleting")
}

func hasTag(tags []string, meta map[string]string, key, value string) bool {
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		if k == key && v == value {
			return true
		}
	}
	return meta != nil && meta[key] == value
}

// list returns the servers carrying the group's discovery tag. The tag is
// checked again on our side: a filter the API ignored must not widen what we touch.
func (s *ECSScaler) list(g *config.Group) ([]server, error) {
	tag := g.Discovery.Tag
	size := s.PageSize
	if size <= 0 {
		size = 100
	}
	filter := tag.Key + "=" + tag.Value
	var out []server
	seen := map[string]bool{}
	for page := 1; page <= 1000; page++ {
		limit, offset := int32(size), int32(page)
		resp, err := s.Client.ListServersDetails(&ecsmodel.ListServersDetailsRequest{Tags: &filter, Limit: &limit, Offset: &offset})
		if err != nil {
			return nil, fmt.Errorf("ecs: listing servers of group %q (tag %s): %w", g.Name, filter, err)
		}
		if resp.Servers == nil || len(*resp.Servers) == 0 {
			break
		}
		fresh := 0
		for _, sv := range *resp.Servers {
			if seen[sv.Id] {
				continue
			}
			seen[sv.Id] = true
			fresh++
			var tags []string
			if sv.Tags != nil {
				tags = *sv.Tags
			}
			if !hasTag(tags, sv.Metadata, tag.Key, tag.Value) {
				continue
			}
			created, _ := time.Parse(time.RFC3339, sv.Created)
			updated, _ := time.Parse(time.RFC3339, sv.Updated)
			out = append(out, server{
				ID: sv.Id, Status: sv.Status, Task: sv.OSEXTSTStaskState,
				Created: created, Updated: updated, Launched: parseLaunched(sv.OSSRVUSGlaunchedAt),
				Managed: hasTag(tags, sv.Metadata, config.ManagedTagKey, "true"),
			})
		}
		if len(*resp.Servers) < size || fresh == 0 {
			break
		}
	}
	return out, nil
}

// State counts the group's live servers. Cooldowns come from the newest
// managed server's creation (scale-out) and the newest deletion the API
// still shows (scale-in); servers being built or deleted are an activity
// in progress.
func (s *ECSScaler) State(_ context.Context, g *config.Group, now time.Time) (CloudState, error) {
	servers, err := s.list(g)
	if err != nil {
		return CloudState{}, err
	}
	cs := CloudState{InService: true, Status: "ACTIVE"}
	for _, sv := range servers {
		cs.Current++
		if sv.gone() {
			// Updated is the deletion's time only when it moved past creation.
			if sv.Managed && sv.Updated.After(sv.Created) && sv.Updated.After(cs.LastInEnd) {
				cs.LastInEnd = sv.Updated
			}
			if sv.Status != "DELETED" && sv.Status != "SOFT_DELETED" && cs.Activity == ActivityNone {
				cs.Activity = ActivityIn
			}
			continue
		}
		cs.Desired++
		// A scale-out ends when its newest server came up (launched_at), or
		// at its creation when the API does not say.
		if end := later(sv.Created, sv.Launched); sv.Managed && end.After(cs.LastOutEnd) && !end.After(now) {
			cs.LastOutEnd = end
		}
		switch {
		case sv.Status == "BUILD":
			cs.Booting++
			cs.Activity = ActivityOut
		case !sv.Created.IsZero() && now.Sub(sv.Created) < g.Scaling.BootTime:
			cs.Booting++
		}
	}
	return cs, nil
}

// parseLaunched reads OS-SRV-USG:launched_at, which ECS writes without a zone
// ("2006-01-02T15:04:05.000000", UTC).
func parseLaunched(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.000000", time.RFC3339Nano, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t
		}
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// SetDesired creates or deletes servers to go from cur.Desired to desired.
// It returns once the cloud accepted the request; its job is followed in the
// background (FollowJob), so no group's lock waits on ECS.
func (s *ECSScaler) SetDesired(ctx context.Context, g *config.Group, cur CloudState, desired int, token string) (Result, error) {
	switch {
	case desired > cur.Desired:
		return s.create(ctx, g, desired-cur.Desired, cur.Desired, token)
	case desired < cur.Desired:
		return s.remove(ctx, g, cur.Desired-desired, cur.Desired)
	}
	return Result{Desired: desired}, nil
}

func (s *ECSScaler) create(ctx context.Context, g *config.Group, n, from int, token string) (Result, error) {
	t := g.ECS
	if t == nil {
		return Result{Desired: from}, fmt.Errorf("ecs: group %q has no ecs: template to create servers from", g.Name)
	}
	count := int32(n)
	autoRename := true
	tags := []ecsmodel.PrePaidServerTag{
		{Key: config.ManagedTagKey, Value: "true"},
		{Key: g.Discovery.Tag.Key, Value: g.Discovery.Tag.Value},
	}
	keys := make([]string, 0, len(t.Tags))
	for k := range t.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != config.ManagedTagKey && k != g.Discovery.Tag.Key {
			tags = append(tags, ecsmodel.PrePaidServerTag{Key: k, Value: t.Tags[k]})
		}
	}
	size := int32(t.RootVolumeSizeGB)
	var volType ecsmodel.PrePaidServerRootVolumeVolumetype
	if err := volType.UnmarshalJSON([]byte(`"` + t.RootVolumeType + `"`)); err != nil {
		return Result{Desired: from}, fmt.Errorf("ecs: group %q: root_volume_type %q: %w", g.Name, t.RootVolumeType, err)
	}
	srv := &ecsmodel.PrePaidServer{
		ImageRef:     t.ImageID,
		FlavorRef:    t.Flavor,
		Name:         t.NamePrefix,
		Vpcid:        t.VPCID,
		Nics:         []ecsmodel.PrePaidServerNic{{SubnetId: &t.SubnetID}},
		Count:        &count,
		IsAutoRename: &autoRename,
		RootVolume:   &ecsmodel.PrePaidServerRootVolume{Volumetype: volType, Size: &size},
		ServerTags:   &tags,
	}
	if t.SecurityGroupID != "" {
		srv.SecurityGroups = &[]ecsmodel.PrePaidServerSecurityGroup{{Id: &t.SecurityGroupID}}
	}
	if t.AvailabilityZone != "" {
		srv.AvailabilityZone = &t.AvailabilityZone
	}
	if t.Spot {
		spot := "spot"
		srv.Extendparam = &ecsmodel.PrePaidServerExtendParam{MarketType: &spot}
	}
	req := &ecsmodel.CreateServersRequest{Body: &ecsmodel.CreateServersRequestBody{Server: srv}}
	if token != "" {
		req.XClientToken = &token
	}
	resp, err := s.Client.CreateServers(req)
	if err != nil {
		return Result{Desired: from}, fmt.Errorf("ecs: creating %d servers for group %q: %w", n, g.Name, err)
	}
	res := Result{Desired: from + n}
	if resp.ServerIds != nil {
		res.Added = append(res.Added, *resp.ServerIds...)
	}
	if resp.JobId == nil {
		return res, nil
	}
	res.JobID = *resp.JobId
	return res, nil // the job is followed in the background (FollowJob)
}

func (s *ECSScaler) remove(ctx context.Context, g *config.Group, n, from int) (Result, error) {
	servers, err := s.list(g)
	if err != nil {
		return Result{Desired: from}, err
	}
	var cands []server
	for _, sv := range servers {
		if sv.Managed && !sv.gone() {
			cands = append(cands, sv)
		}
	}
	oldestFirst := g.ECS != nil && g.ECS.TerminationPolicy == "oldest"
	sort.SliceStable(cands, func(i, j int) bool {
		if !cands[i].Created.Equal(cands[j].Created) {
			if oldestFirst {
				return cands[i].Created.Before(cands[j].Created)
			}
			return cands[i].Created.After(cands[j].Created)
		}
		return cands[i].ID < cands[j].ID
	})
	res := Result{Desired: from}
	if len(cands) == 0 {
		res.Partial = n > 0
		res.Detail = fmt.Sprintf("no managed server to delete (%d asked): servers without the %s=true tag are never touched", n, config.ManagedTagKey)
		return res, nil
	}
	if len(cands) > n {
		cands = cands[:n]
	}
	ids := make([]ecsmodel.ServerId, len(cands))
	names := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = ecsmodel.ServerId{Id: c.ID}
		names[i] = c.ID
	}
	yes := true
	resp, err := s.Client.DeleteServers(&ecsmodel.DeleteServersRequest{Body: &ecsmodel.DeleteServersRequestBody{
		Servers: ids, DeletePublicip: &yes, DeleteVolume: &yes,
	}})
	if err != nil {
		return res, fmt.Errorf("ecs: deleting %d servers of group %q: %w", len(ids), g.Name, err)
	}
	res.Removed = names
	res.Desired = from - len(names)
	if len(names) < n {
		res.Partial = true
		res.Detail = fmt.Sprintf("deleted %d of %d: only %d managed servers left", len(names), n, len(names))
	}
	if resp.JobId == nil {
		return res, nil
	}
	res.JobID = *resp.JobId
	return res, nil // the job is followed in the background (FollowJob)
}

// follow polls ShowJob until it ends or the bound is reached, and returns
// the servers its sub-jobs succeeded and failed for.
func (s *ECSScaler) follow(ctx context.Context, jobID string) (ok, failed []string, done bool, err error) {
	interval, polls := s.PollInterval, s.MaxPolls
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if polls <= 0 {
		polls = 90
	}
	sleep := s.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	for i := 0; i < polls; i++ {
		if i > 0 {
			if err := sleep(ctx, interval); err != nil {
				return nil, nil, false, err
			}
		}
		job, err := s.Client.ShowJob(&ecsmodel.ShowJobRequest{JobId: jobID})
		if err != nil {
			if hwcloud.Retryable(err) {
				continue
			}
			return nil, nil, false, err
		}
		status := ""
		if job.Status != nil {
			status = job.Status.Value()
		}
		if status != "SUCCESS" && status != "FAIL" {
			continue
		}
		if job.Entities != nil && job.Entities.SubJobs != nil {
			for _, sj := range *job.Entities.SubJobs {
				id := ""
				if sj.Entities != nil && sj.Entities.ServerId != nil {
					id = *sj.Entities.ServerId
				}
				if sj.Status != nil && sj.Status.Value() == "SUCCESS" {
					ok = append(ok, id)
				} else {
					failed = append(failed, id)
				}
			}
		}
		if status == "FAIL" && len(ok) == 0 && len(failed) == 0 {
			return nil, nil, true, &jobFailedError{job: jobID, reason: deref(job.FailReason)}
		}
		return ok, failed, true, nil
	}
	return nil, nil, false, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// jobFailedError is an ECS job that ended in FAIL with nothing done.
type jobFailedError struct{ job, reason string }

func (e *jobFailedError) Error() string { return "job " + e.job + " failed: " + e.reason }
