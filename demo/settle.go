package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// promSample is one line of the Prometheus text format.
type promSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// scrape reads the samples of the named metrics from a /metrics page.
func scrape(ctx context.Context, c *http.Client, url string, names ...string) ([]promSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	sampleLine := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
	labelPair := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []promSample
	for _, line := range strings.Split(string(b), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || !want[m[1]] {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		s := promSample{Name: m[1], Labels: map[string]string{}, Value: v}
		for _, l := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.Labels[l[1]] = l[2]
		}
		out = append(out, s)
	}
	return out, nil
}

// exporterPressure returns, per group, the exporter's recommendation of the
// policy that drives scaling.
func exporterPressure(ctx context.Context, c *http.Client, exporterURL string) (map[string]float64, error) {
	ss, err := scrape(ctx, c, exporterURL+"/metrics", "flexus_recommended_instances", "flexus_scaling_policy_info")
	if err != nil {
		return nil, err
	}
	active := map[string]string{}
	for _, s := range ss {
		if s.Name == "flexus_scaling_policy_info" && s.Value == 1 {
			active[s.Labels["group"]] = s.Labels["policy"]
		}
	}
	rec := map[string]float64{}
	for _, s := range ss {
		if s.Name == "flexus_recommended_instances" && active[s.Labels["group"]] == s.Labels["policy"] {
			rec[s.Labels["group"]] = s.Value
		}
	}
	return rec, nil
}

// settle waits until the exporter has seen the world at rest: at least
// minAge after simcloud started (its first Cloud Eye periods describe a
// world that was just switched on), then until the exporter's
// recommendation of every group is at most its desired count, twice in a
// row. Prometheus starts only then, so no alert fires on start-up noise.
// A child reported on crashed ends the wait at once with its log's tail: a dead
// exporter would otherwise look like one that has not settled yet.
func settle(ctx context.Context, sim Simcloud, c *http.Client, exporterURL string, started time.Time, minAge, limit time.Duration, crashed <-chan *Process) error {
	deadline := time.Now().Add(limit)
	if d := time.Until(started.Add(minAge)); d > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case p := <-crashed:
			return CrashError(p)
		case <-time.After(d):
		}
	}
	calm := 0
	var last string
	for calm < 2 {
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the exporter did not settle within %s (%s)", limit, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case p := <-crashed:
			return CrashError(p)
		case <-time.After(2 * time.Second):
		}
		states, err := sim.State(ctx)
		if err != nil {
			last = err.Error()
			calm = 0
			continue
		}
		rec, err := exporterPressure(ctx, c, exporterURL)
		if err != nil {
			last = err.Error()
			calm = 0
			continue
		}
		ok := true
		for _, g := range states {
			r, seen := rec[g.Name]
			if !seen || r > float64(g.Desired) {
				ok = false
				last = fmt.Sprintf("group %s: recommended %v, desired %d", g.Name, r, g.Desired)
			}
		}
		if ok {
			calm++
		} else {
			calm = 0
		}
	}
	return nil
}
