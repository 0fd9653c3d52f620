package collector

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/hwcloud"
)

// deviceKind is an accelerator family with its Cloud Eye dimension and the
// metric whose presence reveals the devices. lookup tells whether
// ListAgentDimensionInfo maps its dimension values to real device ids: it
// does for gpu, but its dim_name has no npu, so an NPU is known by its
// dimension value alone (docs/cloud-api.md, ces-agent-dim-names).
type deviceKind struct {
	dim    string
	probe  string
	lookup bool
}

func deviceKinds() []deviceKind {
	return []deviceKind{{dim: dimGPU, probe: "gpu_usage_gpu", lookup: true}, {dim: dimNPU, probe: "npu_util_rate_ai_core"}}
}

// device is one GPU or NPU: hash is the Cloud Eye dimension value, id the
// device label: the real device id (origin_value) for a GPU, the dimension
// value itself for an NPU.
type device struct {
	hash, id string
}

// adoptDevices records devices whose label is their dimension value: they
// are known as soon as ListMetrics shows them, with no lookup call.
func (c *Collector) adoptDevices(k deviceKind, hashes map[string][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for inst, hs := range hashes {
		if c.devices[inst] == nil {
			c.devices[inst] = map[string]map[string]string{}
		}
		known := map[string]string{}
		for _, h := range hs {
			known[h] = h
		}
		c.devices[inst][k.dim] = known
	}
}

// listDeviceHashes finds, with ListMetrics (a handful of calls for the whole
// account), which instances publish per-device metrics of a kind and under
// which hashed dimension values. Only instances in want are kept.
func (c *Collector) listDeviceHashes(ctx context.Context, k deviceKind, want map[string]bool) (map[string][]string, int, error) {
	var calls atomic.Int64
	metrics, err := c.cloudEye(&calls).Metrics(ctx, nsAGTECS, k.probe)
	if err != nil {
		return nil, int(calls.Load()), fmt.Errorf("dimensions: listing %s %s: %w", nsAGTECS, k.probe, err)
	}
	out := map[string][]string{}
	for _, m := range metrics {
		inst, hash := "", ""
		for _, d := range m.Dims {
			switch d.Name {
			case dimInst:
				inst = d.Value
			case k.dim:
				hash = d.Value
			}
		}
		if inst != "" && hash != "" && want[inst] {
			out[inst] = append(out[inst], hash)
		}
	}
	return out, int(calls.Load()), nil
}

// resolveDevices maps hashed device dimensions to real device ids with v2
// ListAgentDimensionInfo, one call per instance and kind whose hashes are not
// all cached yet, in parallel within the budget, at most limit instances a
// cycle: pending is how many wait for the next one. Unresolved devices stay
// unpublished, so a device label is never a hash that later changes.
func (c *Collector) resolveDevices(ctx context.Context, k deviceKind, hashes map[string][]string, limit int) (calls, pending int, err error) {
	var insts []string
	c.mu.Lock()
	for inst, hs := range hashes {
		known := c.devices[inst][k.dim]
		for _, h := range hs {
			if _, ok := known[h]; !ok {
				insts = append(insts, inst)
				break
			}
		}
	}
	c.mu.Unlock()
	sort.Strings(insts)
	if len(insts) > limit {
		pending = len(insts) - limit
		insts = insts[:limit]
	}

	var (
		n    atomic.Int64
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	ce := c.cloudEye(&n)
	for _, inst := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := ce.AgentDimensions(ctx, inst, k.dim)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("dimensions: %s devices of %s: %w", k.dim, inst, err))
				mu.Unlock()
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.devices[inst] == nil {
				c.devices[inst] = map[string]map[string]string{}
			}
			if c.devices[inst][k.dim] == nil {
				c.devices[inst][k.dim] = map[string]string{}
			}
			for h, id := range got {
				c.devices[inst][k.dim][h] = id
			}
		}()
	}
	wg.Wait()
	return int(n.Load()), pending, errors.Join(errs...)
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

// resolveExtraDims maps, once per instance, the agent dimension (mount_point
// or disk) an extra metric names to its hashed values with
// ListAgentDimensionInfo: such a metric has no series by instance_id alone.
func (c *Collector) resolveExtraDims(ctx context.Context, want map[string]bool) (int, error) {
	var (
		calls atomic.Int64
		mu    sync.Mutex
		errs  []error
		wg    sync.WaitGroup
	)
	ce := c.cloudEye(&calls)
	for _, name := range c.groupNames() {
		st := c.groups[name]
		dims := map[string]bool{}
		for _, x := range st.cfg.ExtraMetrics {
			if x.Dimension != "" {
				dims[x.Dimension] = true
			}
		}
		for dim := range dims {
			for _, in := range st.members.instances {
				c.mu.Lock()
				_, known := c.devices[in.ID][dim]
				c.mu.Unlock()
				if known || !want[in.ID] {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := ce.AgentDimensions(ctx, in.ID, dim)
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("dimensions: %s of %s: %w", dim, in.ID, err))
						mu.Unlock()
						return
					}
					c.mu.Lock()
					defer c.mu.Unlock()
					if c.devices[in.ID] == nil {
						c.devices[in.ID] = map[string]map[string]string{}
					}
					c.devices[in.ID][dim] = got
				}()
			}
		}
	}
	wg.Wait()
	return int(calls.Load()), errors.Join(errs...)
}

// extraMetricDims are the dimensions an extra metric is read by for an
// instance: instance_id, and the hashed value of its origin when it names a
// second dimension (devices lists the resolved values of a dimension);
// false while that value is not resolved.
func extraMetricDims(inst string, x config.ExtraMetric, devices func(inst, dim string) []device) ([]hwcloud.Dim, bool) {
	dims := []hwcloud.Dim{{Name: dimInst, Value: inst}}
	if x.Dimension == "" {
		return dims, true
	}
	for _, d := range devices(inst, x.Dimension) {
		if d.id == x.Origin {
			return append(dims, hwcloud.Dim{Name: x.Dimension, Value: d.hash}), true
		}
	}
	return nil, false
}

// deviceLookupLimit bounds a cycle's device lookups, so that CPU and memory
// are published without waiting for every GPU's id: the first cycle spends
// about 4 s of the request budget on them, later ones half an interval's.
func (c *Collector) deviceLookupLimit() int {
	ce := c.cfg.CloudEye
	if !c.published {
		return max(ce.Burst, int(ce.RequestsPerSecond*4))
	}
	return max(ce.Burst, int(ce.RequestsPerSecond*c.cfg.Exporter.Interval.Seconds()/2))
}

// Backlog reports device lookups left for the next collection, which then
// need not wait for the interval.
func (c *Collector) Backlog() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.backlog
}
