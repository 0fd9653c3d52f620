package world

import (
	"math"
	"testing"
	"time"
)

func TestASWarmPool(t *testing.T) {
	g := asGroup(2)
	g.Flavor = "x1.2u.4g"
	g.Pool = PoolConfig{Size: 2, StartDelay: 15 * time.Second}
	w := newWorld(t, g)
	st := mustGroup(t, w, "gpu-pool")
	if st.Current != 2 || st.Stopped != 2 {
		t.Fatalf("at start: %d running, %d stopped; want 2 and a full pool of 2", st.Current, st.Stopped)
	}
	t.Run("a scale-out starts the pool first, serving after the start delay", func(t *testing.T) {
		if err := w.SetDesired("gpu-pool", 5); err != nil {
			t.Fatal(err)
		}
		w.Advance(t0.Add(20 * time.Second))
		st := mustGroup(t, w, "gpu-pool")
		if st.Stopped != 0 || st.InService != 4 || st.Pending != 1 {
			t.Fatalf("20s later: %d stopped, %d in service, %d pending; want 0, 4 (2 + 2 started) and 1 created, still booting", st.Stopped, st.InService, st.Pending)
		}
	})
	t.Run("a scale-in stops into the pool, then deletes", func(t *testing.T) {
		w.Advance(t0.Add(5 * time.Minute))
		if err := w.SetDesired("gpu-pool", 2); err != nil {
			t.Fatal(err)
		}
		w.Advance(t0.Add(6 * time.Minute))
		st := mustGroup(t, w, "gpu-pool")
		if st.Current != 2 || st.Stopped != 2 || st.Removing != 0 {
			t.Fatalf("%d running, %d stopped, %d removing; want 2, a pool of 2, and the third deleted (gone)", st.Current, st.Stopped, st.Removing)
		}
		acts, err := w.Activities("gpu-pool")
		if err != nil || acts[0].Status != ActivitySuccess || acts[0].ScalingValue != -3 {
			t.Fatalf("newest activity %+v %v: want the scale-in of 3 done", acts[0], err)
		}
	})
	t.Run("a stopped instance is billed for its disk only", func(t *testing.T) {
		before := mustGroup(t, w, "gpu-pool")
		w.Advance(t0.Add(66 * time.Minute))
		after := mustGroup(t, w, "gpu-pool")
		want := 2*0.25 + 2*40*DefaultDiskPricePerGBHour
		if got := after.Cost - before.Cost; math.Abs(got-want) > 1e-6 {
			t.Fatalf("an hour of 2 running and 2 stopped cost %.5f, want %.5f", got, want)
		}
		if got := after.StoppedSeconds - before.StoppedSeconds; got != 2*3600 {
			t.Fatalf("%.0f stopped seconds in the hour, want 7200", got)
		}
	})
}
