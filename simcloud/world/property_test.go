package world

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestWorldInvariants drives a world with random API calls and time steps
// and checks what must always hold.
func TestWorldInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(t, asGroup(2), ecsGroup(1))
		now := t0
		lastCost := map[string]float64{}
		tokens := map[string]string{}
		// An AS instance deleted through ECS is replaced on the next tick, as real AS does after its health check.
		replacing := false
		rt.Repeat(map[string]func(*rapid.T){
			"advance": func(rt *rapid.T) {
				d := time.Duration(rapid.IntRange(1, 900).Draw(rt, "seconds")) * time.Second
				now = now.Add(d)
				w.Advance(now)
				if d >= 10*time.Second {
					replacing = false
				}
			},
			"set desired": func(rt *rapid.T) {
				n := rapid.IntRange(-1, 12).Draw(rt, "desired")
				err := w.SetDesired("gpu-pool", n)
				if (n < 1 || n > 10) != (err != nil) {
					rt.Fatalf("SetDesired(%d): %v", n, err)
				}
			},
			"demand multiplier": func(rt *rapid.T) {
				_ = w.SetDemandMultiplier(rapid.SampledFrom([]string{"", "web", "gpu-pool"}).Draw(rt, "group"), rapid.Float64Range(0, 5).Draw(rt, "m"))
			},
			"create servers": func(rt *rapid.T) {
				token := fmt.Sprintf("tok-%d", rapid.IntRange(0, 5).Draw(rt, "token"))
				job, err := w.CreateServers(CreateServersRequest{ClientToken: token, Name: "web", Flavor: "x1.2u.4g", Count: rapid.IntRange(1, 3).Draw(rt, "count"), Tags: []Tag{{"flexus-group", "web"}}})
				if err != nil {
					return
				}
				if first, ok := tokens[token]; ok && first != job.ID {
					rt.Fatalf("token %s answered job %s, first %s", token, job.ID, first)
				}
				tokens[token] = job.ID
			},
			"delete a server": func(rt *rapid.T) {
				servers := w.Servers()
				if len(servers) == 0 {
					return
				}
				victim := servers[rapid.IntRange(0, len(servers)-1).Draw(rt, "i")]
				if _, err := w.DeleteServers([]string{victim.ID}); err == nil && victim.Group == "gpu-pool" {
					replacing = true
				}
			},
			"remove an AS instance": func(rt *rapid.T) {
				ins, _ := w.Instances("gpu-pool")
				_ = w.RemoveInstances("gpu-pool", []string{ins[rapid.IntRange(0, len(ins)-1).Draw(rt, "i")].ID})
			},
			"": func(rt *rapid.T) {
				for _, g := range w.Groups() {
					if g.Queue < 0 || g.Utilization < 0 || g.Utilization > 1 || g.ErrorRate < 0 || g.ErrorRate > 1 {
						rt.Fatalf("%s out of range: %+v", g.Name, g)
					}
					if g.Current > g.Max {
						rt.Fatalf("%s holds %d instances, above its max %d", g.Name, g.Current, g.Max)
					}
					if g.ManagedBy == ManagedByAS && g.Current != g.Desired && !replacing {
						rt.Fatalf("AS group %s holds %d instances, desired %d", g.Name, g.Current, g.Desired)
					}
					if g.CostInstanceSeconds < lastCost[g.Name] {
						rt.Fatalf("%s cost went down: %g -> %g", g.Name, lastCost[g.Name], g.CostInstanceSeconds)
					}
					lastCost[g.Name] = g.CostInstanceSeconds
				}
				for _, in := range w.Servers() {
					id := MetricID{Namespace: NamespaceECS, Name: "cpu_util", Dimensions: []Dimension{{DimInstanceID, in.ID}}}
					for _, p := range w.Datapoints([]MetricID{id}, t0, now, 0)[0].Points {
						if p.Time.After(now.Add(-time.Minute)) || p.Average < 0 || p.Average > 100 {
							rt.Fatalf("datapoint %+v at now %s", p, now)
						}
					}
				}
			},
		})
	})
}
