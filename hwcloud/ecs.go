package hwcloud

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	ecs "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"
)

type ecsClient struct {
	sdk *ecs.EcsClient
	c   caller
}

// list pages through ListServersDetails (pages count from 1). It stops at a
// short page, at the count the API gave, or at a page with nothing new.
func (e *ecsClient) list(ctx context.Context, req ecsmodel.ListServersDetailsRequest) ([]ecsmodel.ServerDetail, error) {
	var out []ecsmodel.ServerDetail
	seen := map[string]bool{}
	limit := int32(ecsPageSize)
	for page := 1; page <= maxPages; page++ {
		r := req
		offset := int32(page)
		r.Limit, r.Offset = &limit, &offset
		resp, err := invoke[ecsmodel.ListServersDetailsResponse](ctx, e.c, "ListServersDetails", e.sdk.ListServersDetailsInvoker(&r).BaseInvoker)
		if err != nil {
			return out, err
		}
		var got []ecsmodel.ServerDetail
		if resp.Servers != nil {
			got = *resp.Servers
		}
		fresh := 0
		for _, s := range got {
			if !seen[s.Id] {
				seen[s.Id] = true
				fresh++
				out = append(out, s)
			}
		}
		count := intOr(resp.Count, -1)
		if len(got) < ecsPageSize || fresh == 0 || (count >= 0 && page*ecsPageSize >= count) {
			return out, nil
		}
	}
	return out, fmt.Errorf("ecs ListServersDetails: more than %d pages", maxPages)
}

func (e *ecsClient) Tagged(ctx context.Context, key, value string) ([]Server, error) {
	filter := key + "=" + value
	details, err := e.list(ctx, ecsmodel.ListServersDetailsRequest{Tags: &filter})
	if err != nil {
		return nil, err
	}
	out := make([]Server, 0, len(details))
	for _, d := range details {
		if s := serverOf(d); s.Tags[key] == value {
			out = append(out, s)
		}
	}
	return out, nil
}

// flavorLookupByID is how many servers are looked up one by one
// (server_id=…); beyond it one full listing is cheaper.
const flavorLookupByID = 20

func (e *ecsClient) Lookup(ctx context.Context, ids []string) (map[string]Server, error) {
	out := map[string]Server{}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	note := func(details []ecsmodel.ServerDetail) {
		for _, d := range details {
			if want[d.Id] {
				out[d.Id] = serverOf(d)
			}
		}
	}
	if len(ids) > flavorLookupByID {
		details, err := e.list(ctx, ecsmodel.ListServersDetailsRequest{})
		note(details)
		return out, err
	}
	for _, id := range ids {
		sid := id
		resp, err := invoke[ecsmodel.ListServersDetailsResponse](ctx, e.c, "ListServersDetails",
			e.sdk.ListServersDetailsInvoker(&ecsmodel.ListServersDetailsRequest{ServerId: &sid}).BaseInvoker)
		if err != nil {
			return out, err
		}
		if resp.Servers != nil {
			note(*resp.Servers)
		}
	}
	return out, nil
}

func serverOf(d ecsmodel.ServerDetail) Server {
	s := Server{ID: d.Id, Name: d.Name, Status: d.Status, Task: d.OSEXTSTStaskState, Tags: map[string]string{}}
	if d.Flavor != nil {
		s.Flavor = d.Flavor.Id
		if s.Flavor == "" {
			s.Flavor = d.Flavor.Name
		}
	}
	// The private address is the first fixed IPv4 one, in a stable order of networks.
	nets := make([]string, 0, len(d.Addresses))
	for n := range d.Addresses {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		for _, a := range d.Addresses[n] {
			if s.PrivateIP == "" && a.Version == "4" && (a.OSEXTIPStype == nil || a.OSEXTIPStype.Value() == "fixed") {
				s.PrivateIP = a.Addr
			}
		}
	}
	s.Created, _ = time.Parse(time.RFC3339, d.Created)
	s.Updated, _ = time.Parse(time.RFC3339, d.Updated)
	s.Launched = parseLaunched(d.OSSRVUSGlaunchedAt)
	for k, v := range d.Metadata {
		s.Tags[k] = v
	}
	if d.Tags != nil {
		for _, t := range *d.Tags {
			k, v, _ := strings.Cut(t, "=")
			s.Tags[k] = v
		}
	}
	return s
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

func (e *ecsClient) Create(ctx context.Context, spec ServerSpec, token string) (Created, error) {
	var volType ecsmodel.PrePaidServerRootVolumeVolumetype
	if err := volType.UnmarshalJSON([]byte(`"` + spec.RootVolumeType + `"`)); err != nil {
		return Created{}, fmt.Errorf("ecs CreateServers: root volume type %q: %w", spec.RootVolumeType, err)
	}
	count, size, autoRename := int32(spec.Count), int32(spec.RootVolumeGB), true
	tags := make([]ecsmodel.PrePaidServerTag, len(spec.Tags))
	for i, t := range spec.Tags {
		tags[i] = ecsmodel.PrePaidServerTag{Key: t.Key, Value: t.Value}
	}
	subnet := spec.SubnetID
	srv := &ecsmodel.PrePaidServer{
		ImageRef:     spec.ImageID,
		FlavorRef:    spec.Flavor,
		Name:         spec.NamePrefix,
		Vpcid:        spec.VPCID,
		Nics:         []ecsmodel.PrePaidServerNic{{SubnetId: &subnet}},
		Count:        &count,
		IsAutoRename: &autoRename,
		RootVolume:   &ecsmodel.PrePaidServerRootVolume{Volumetype: volType, Size: &size},
		ServerTags:   &tags,
	}
	if sg := spec.SecurityGroupID; sg != "" {
		srv.SecurityGroups = &[]ecsmodel.PrePaidServerSecurityGroup{{Id: &sg}}
	}
	if az := spec.AvailabilityZone; az != "" {
		srv.AvailabilityZone = &az
	}
	if spec.Spot {
		spot := "spot"
		srv.Extendparam = &ecsmodel.PrePaidServerExtendParam{MarketType: &spot}
		if p := spec.SpotPrice; p != "" {
			srv.Extendparam.SpotPrice = &p
		}
	}
	req := &ecsmodel.CreateServersRequest{Body: &ecsmodel.CreateServersRequestBody{Server: srv}}
	if token != "" {
		req.XClientToken = &token
	}
	resp, err := invoke[ecsmodel.CreateServersResponse](ctx, e.c, "CreateServers", e.sdk.CreateServersInvoker(req).BaseInvoker)
	if err != nil {
		return Created{}, err
	}
	var out Created
	if resp.ServerIds != nil {
		out.IDs = append(out.IDs, *resp.ServerIds...)
	}
	out.JobID = strOr(resp.JobId)
	return out, nil
}

func (e *ecsClient) Delete(ctx context.Context, ids []string) (string, error) {
	servers := make([]ecsmodel.ServerId, len(ids))
	for i, id := range ids {
		servers[i] = ecsmodel.ServerId{Id: id}
	}
	yes := true
	resp, err := invoke[ecsmodel.DeleteServersResponse](ctx, e.c, "DeleteServers",
		e.sdk.DeleteServersInvoker(&ecsmodel.DeleteServersRequest{Body: &ecsmodel.DeleteServersRequestBody{
			Servers: servers, DeletePublicip: &yes, DeleteVolume: &yes,
		}}).BaseInvoker)
	if err != nil {
		return "", err
	}
	return strOr(resp.JobId), nil
}

func (e *ecsClient) Job(ctx context.Context, id string) (Job, error) {
	resp, err := invoke[ecsmodel.ShowJobResponse](ctx, e.c, "ShowJob", e.sdk.ShowJobInvoker(&ecsmodel.ShowJobRequest{JobId: id}).BaseInvoker)
	if err != nil {
		return Job{}, err
	}
	j := Job{ID: id, FailReason: strOr(resp.FailReason)}
	if resp.Status != nil {
		j.Status = resp.Status.Value()
	}
	// ECS writes end_time as "2006-01-02T15:04:05Z"; empty while the job runs.
	j.End, _ = time.Parse(time.RFC3339, strOr(resp.EndTime))
	if !j.Done() || resp.Entities == nil || resp.Entities.SubJobs == nil {
		return j, nil
	}
	for _, sj := range *resp.Entities.SubJobs {
		server := ""
		if sj.Entities != nil {
			server = strOr(sj.Entities.ServerId)
		}
		if sj.Status != nil && sj.Status.Value() == "SUCCESS" {
			j.Succeeded = append(j.Succeeded, server)
		} else {
			j.Failed = append(j.Failed, server)
		}
	}
	return j, nil
}
