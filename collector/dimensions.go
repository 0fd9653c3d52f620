package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	cesmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v1/model"
	cesv2model "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ces/v2/model"
)

// deviceKind is an accelerator family with its Cloud Eye dimension and the
// metric whose presence reveals the devices.
type deviceKind struct {
	dim   string
	probe string
}

func deviceKinds() []deviceKind {
	return []deviceKind{{dim: dimGPU, probe: "gpu_usage_gpu"}, {dim: dimNPU, probe: "npu_util_rate_ai_core"}}
}

// device is one GPU or NPU: hash is the Cloud Eye dimension value, id the real
// device id (origin_value) used as the device label.
type device struct {
	hash, id string
}

// listMetricsPage is ListMetrics' largest page.
const listMetricsPage = 1000

// listDeviceHashes finds, with ListMetrics (paged, a handful of calls for the
// whole account), which instances publish per-device metrics of a kind and
// under which hashed dimension values. Only instances in want are kept.
func (c *Collector) listDeviceHashes(ctx context.Context, k deviceKind, want map[string]bool) (map[string][]string, int, error) {
	out := map[string][]string{}
	ns, metric := nsAGTECS, k.probe
	limit := int32(listMetricsPage)
	start := ""
	calls := 0
	for page := 0; page < maxPages; page++ {
		if err := c.cesWait(ctx); err != nil {
			return out, calls, err
		}
		req := &cesmodel.ListMetricsRequest{Namespace: &ns, MetricName: &metric, Limit: &limit}
		if start != "" {
			s := start
			req.Start = &s
		}
		resp, err := c.clients.CES.ListMetrics(req)
		calls++
		if err != nil {
			return out, calls, fmt.Errorf("dimensions: listing %s %s: %w", ns, metric, err)
		}
		var got []cesmodel.MetricInfoList
		if resp.Metrics != nil {
			got = *resp.Metrics
		}
		for _, m := range got {
			inst, hash := "", ""
			for _, d := range m.Dimensions {
				switch strOr(d.Name) {
				case dimInst:
					inst = strOr(d.Value)
				case k.dim:
					hash = strOr(d.Value)
				}
			}
			if inst != "" && hash != "" && want[inst] {
				out[inst] = append(out[inst], hash)
			}
		}
		marker := ""
		if resp.MetaData != nil {
			marker = resp.MetaData.Marker
		}
		if len(got) < listMetricsPage || marker == "" || marker == start {
			return out, calls, nil
		}
		start = marker
	}
	return out, calls, fmt.Errorf("dimensions: listing %s %s: more than %d pages", ns, metric, maxPages)
}

// dimName builds the SDK's enum from its JSON form: the enum lacks "npu".
func dimName(s string) (cesv2model.ListAgentDimensionInfoRequestDimName, error) {
	var n cesv2model.ListAgentDimensionInfoRequestDimName
	err := json.Unmarshal([]byte(`"`+s+`"`), &n)
	return n, err
}

// resolveDevices maps hashed device dimensions to real device ids with v2
// ListAgentDimensionInfo, one call per instance and kind whose hashes are not
// all cached yet, in parallel. Unresolved devices stay unpublished, so a device
// label is never a hash that later changes.
func (c *Collector) resolveDevices(ctx context.Context, k deviceKind, hashes map[string][]string) (int, error) {
	type job struct {
		inst   string
		hashes []string
	}
	var jobs []job
	c.mu.Lock()
	for inst, hs := range hashes {
		known := c.devices[inst][k.dim]
		for _, h := range hs {
			if _, ok := known[h]; !ok {
				jobs = append(jobs, job{inst, hs})
				break
			}
		}
	}
	c.mu.Unlock()
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].inst < jobs[j].inst })
	name, err := dimName(k.dim)
	if err != nil {
		return 0, fmt.Errorf("dimensions: %s: %w", k.dim, err)
	}

	var (
		mu    sync.Mutex
		errs  []error
		calls int
		wg    sync.WaitGroup
	)
	work := make(chan job)
	for w := 0; w < min(c.cfg.CloudEye.Concurrency, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if err := c.cesWait(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue
				}
				limit := int32(100)
				resp, err := c.clients.CES.ListAgentDimensionInfo(&cesv2model.ListAgentDimensionInfoRequest{InstanceId: j.inst, DimName: name, Limit: &limit})
				mu.Lock()
				calls++
				mu.Unlock()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("dimensions: %s devices of %s: %w", k.dim, j.inst, err))
					mu.Unlock()
					continue
				}
				got := map[string]string{}
				if resp.Dimensions != nil {
					for _, d := range *resp.Dimensions {
						if d.Value != nil && d.OriginValue != nil && *d.OriginValue != "" {
							got[*d.Value] = *d.OriginValue
						}
					}
				}
				c.mu.Lock()
				if c.devices[j.inst] == nil {
					c.devices[j.inst] = map[string]map[string]string{}
				}
				if c.devices[j.inst][k.dim] == nil {
					c.devices[j.inst][k.dim] = map[string]string{}
				}
				for h, id := range got {
					c.devices[j.inst][k.dim][h] = id
				}
				c.mu.Unlock()
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case work <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return calls, errors.Join(errs...)
}

// devicesOf returns an instance's resolved devices of a kind, sorted by id.
func (c *Collector) devicesOf(inst, dim string) []device {
	m := c.devices[inst][dim]
	out := make([]device, 0, len(m))
	for h, id := range m {
		out = append(out, device{hash: h, id: id})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
