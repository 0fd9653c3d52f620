package actuator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// etcdConfig is a store on e under a prefix of its own, so tests sharing one
// server do not see each other.
func etcdConfig(e *testenv.Etcd, t testing.TB) *config.Etcd {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return &config.Etcd{Endpoints: []string{e.Endpoint}, Prefix: "/test/" + name + "/", DialTimeout: 5 * time.Second, LeaseTTL: 5 * time.Second}
}

func openEtcd(t testing.TB, c *config.Etcd) *EtcdStore {
	t.Helper()
	s, err := OpenEtcdStore(context.Background(), c, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// bothStores runs a specification against the file store and against etcd.
// open returns a new replica (etcd) or the same process again (file) on the
// same state.
func bothStores(t *testing.T, spec func(t *testing.T, open func() StateStore)) {
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		var fs *FileStore
		spec(t, func() StateStore {
			if fs == nil {
				s, err := OpenStore(path, t0)
				if err != nil {
					t.Fatal(err)
				}
				fs = NewFileStore(s)
			}
			return fs
		})
	})
	t.Run("etcd", func(t *testing.T) {
		e := testenv.StartEtcd(t)
		c := etcdConfig(e, t)
		spec(t, func() StateStore { return openEtcd(t, c) })
	})
}

func mustLock(t testing.TB, s StateStore, group string) GroupLock {
	t.Helper()
	l, err := s.Lock(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestStateStoreContract(t *testing.T) {
	ctx := context.Background()
	intent := KeyEntry{Group: "web", Action: ScaleOut, State: KeyInProgress, Started: t0, Expires: t0.Add(time.Hour), From: 2, To: 4, Goal: 4, Token: ClientToken("k1")}
	bothStores(t, func(t *testing.T, open func() StateStore) {
		s := open()
		t.Run("a write-ahead intent is pending until finished, then the key is done with its count", func(t *testing.T) {
			l := mustLock(t, s, "web")
			defer l.Unlock()
			if err := l.PutKey(ctx, "k1", intent); err != nil {
				t.Fatal(err)
			}
			p, err := l.Pending(ctx)
			if err != nil || len(p) != 1 || p["k1"].From != 2 || p["k1"].Token != intent.Token {
				t.Fatalf("pending %v %v", p, err)
			}
			if err := l.Finish(ctx, "k1", 3, &GroupState{Desired: 3, LastOut: t0}, t0, Record{Decision: Decision{Time: t0, Group: "web", Outcome: OutcomeApplied}, Key: "k1"}); err != nil {
				t.Fatal(err)
			}
			if p, _ := l.Pending(ctx); len(p) != 0 {
				t.Fatalf("still pending after finish: %v", p)
			}
			e, ok, err := s.Key(ctx, "k1", t0)
			if err != nil || !ok || e.State != KeyDone || e.To != 3 || e.Goal != 4 {
				t.Fatalf("key %+v %v %v", e, ok, err)
			}
			if g, _ := l.Group(ctx); g.Desired != 3 || !g.LastOut.Equal(t0) {
				t.Fatalf("group %+v", g)
			}
			if es, ok := s.(*EtcdStore); ok {
				// The record is logged with the key and the cooldown, in the same transaction.
				if h, err := es.History(ctx, "web", 0); err != nil || len(h) != 1 || h[0].Key != "k1" {
					t.Fatalf("shared log after finish: %v %+v", err, h)
				}
			}
		})
		t.Run("another replica sees the keys, intents and cooldowns", func(t *testing.T) {
			other := open()
			l := mustLock(t, other, "web")
			if err := l.PutKey(ctx, "k2", intent); err != nil {
				t.Fatal(err)
			}
			l.Unlock()
			l = mustLock(t, s, "web")
			defer l.Unlock()
			if p, _ := l.Pending(ctx); len(p) != 1 {
				t.Fatalf("pending %v", p)
			}
			if g, _ := l.Group(ctx); !g.LastOut.Equal(t0) {
				t.Fatalf("cooldown stamp not shared: %+v", g)
			}
			if err := l.Release(ctx, "k2"); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := s.Key(ctx, "k2", t0); ok {
				t.Fatal("a released key is still remembered")
			}
		})
		t.Run("an expired key is forgotten", func(t *testing.T) {
			if _, ok, _ := s.Key(ctx, "k1", t0.Add(time.Hour)); ok {
				t.Fatal("key remembered past its expiry")
			}
		})
		t.Run("a relative step fixed as a target is not pending", func(t *testing.T) {
			l := mustLock(t, s, "web")
			defer l.Unlock()
			if err := l.PutKey(ctx, "k3", KeyEntry{Group: "web", Action: ScaleIn, State: KeySeen, Started: t0, Expires: t0.Add(time.Hour), Goal: 5}); err != nil {
				t.Fatal(err)
			}
			if p, _ := l.Pending(ctx); len(p) != 0 {
				t.Fatalf("pending %v", p)
			}
			if e, ok, _ := s.Key(ctx, "k3", t0); !ok || e.State != KeySeen || e.Goal != 5 {
				t.Fatalf("key %+v", e)
			}
		})
	})
}

func TestEtcdLocking(t *testing.T) {
	e := testenv.StartEtcd(t)
	ctx := context.Background()
	t.Run("two replicas exclude each other on a group, not across groups", func(t *testing.T) {
		c := etcdConfig(e, t)
		a, b := openEtcd(t, c), openEtcd(t, c)
		la := mustLock(t, a, "web")
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := b.Lock(short, "web"); err == nil {
			t.Fatal("a second replica took a held lock")
		}
		mustLock(t, b, "api").Unlock()
		la.Unlock()
		mustLock(t, b, "web").Unlock()
	})
	t.Run("a replica that lost its lease writes nothing, and another takes the lock", func(t *testing.T) {
		c := etcdConfig(e, t)
		a, b := openEtcd(t, c), openEtcd(t, c)
		la := mustLock(t, a, "web")
		if _, err := la.Group(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Client().Revoke(ctx, la.(*etcdLock).sess.Lease()); err != nil {
			t.Fatal(err)
		}
		<-la.Lost()
		lb := mustLock(t, b, "web")
		defer lb.Unlock()
		for name, write := range map[string]func() error{
			"intent": func() error {
				return la.PutKey(ctx, "k", KeyEntry{Group: "web", State: KeyInProgress, Started: t0, Expires: t0.Add(time.Hour)})
			},
			"group":  func() error { return la.PutGroup(ctx, &GroupState{Desired: 9}) },
			"finish": func() error { return la.Finish(ctx, "k", 9, &GroupState{Desired: 9}, t0, Record{}) },
		} {
			if err := write(); !errors.Is(err, ErrLockLost) {
				t.Errorf("%s after the lease was lost: %v, want ErrLockLost", name, err)
			}
		}
		la.Unlock()
		if g, _ := lb.Group(ctx); g.Desired != 0 {
			t.Fatalf("the fenced replica's write landed: %+v", g)
		}
		if _, ok, _ := b.Key(ctx, "k", t0); ok {
			t.Fatal("the fenced replica's intent landed")
		}
		// The replica takes a new lease for its next lock.
		mustLock(t, a, "api").Unlock()
	})
	t.Run("a write over a record changed since it was read is refused", func(t *testing.T) {
		c := etcdConfig(e, t)
		a := openEtcd(t, c)
		l := mustLock(t, a, "web")
		defer l.Unlock()
		if _, err := l.Group(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Client().Put(ctx, c.Prefix+"groups/web", `{"desired":7}`); err != nil {
			t.Fatal(err)
		}
		if err := l.PutGroup(ctx, &GroupState{Desired: 3}); !errors.Is(err, ErrConflict) {
			t.Fatalf("write over a changed record: %v, want ErrConflict", err)
		}
	})
	t.Run("the lock and the state survive an etcd restart", func(t *testing.T) {
		c := etcdConfig(e, t)
		a := openEtcd(t, c)
		l := mustLock(t, a, "web")
		if err := l.PutGroup(ctx, &GroupState{Desired: 4, LastOut: t0}); err != nil {
			t.Fatal(err)
		}
		e.Stop()
		e.Start()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := l.PutGroup(wctx, &GroupState{Desired: 5, LastOut: t0}); err != nil {
			t.Fatalf("write after the restart: %v", err)
		}
		l.Unlock()
		l = mustLock(t, openEtcd(t, c), "web")
		defer l.Unlock()
		if g, _ := l.Group(ctx); g.Desired != 5 {
			t.Fatalf("group after restart %+v", g)
		}
	})
	t.Run("the decision log is shared, newest first, and kept within its size", func(t *testing.T) {
		c := etcdConfig(e, t)
		a, b := openEtcd(t, c), openEtcd(t, c)
		for i := 0; i < 40; i++ {
			s := a
			if i%2 == 1 {
				s = b
			}
			if err := s.Log(ctx, Record{Decision: Decision{Time: t0.Add(time.Duration(i) * time.Second), Group: "web", Outcome: OutcomeRefused}, Key: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := b.History(ctx, "web", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) < 20 || len(recs) > 20+16 || recs[0].Key != "39" {
			t.Fatalf("%d records, newest %q", len(recs), recs[0].Key)
		}
	})
}

func TestOneActuatorPerStateFile(t *testing.T) {
	cfg := config.Actuator{StateFile: filepath.Join(t.TempDir(), "state.json")}
	first, err := OpenStateStore(context.Background(), cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStateStore(context.Background(), cfg, t0); err == nil || !strings.Contains(err.Error(), "actuator.etcd") {
		t.Fatalf("a second actuator on the same state file: %v, want a refusal that names actuator.etcd", err)
	}
	first.Close()
	second, err := OpenStateStore(context.Background(), cfg, t0)
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	second.Close()
}
