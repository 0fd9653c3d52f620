package actuator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	t.Run("a missing file starts empty and the first write creates it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		s, err := OpenStore(path, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutGroup("web", &GroupState{Desired: 3, LastOut: t0}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("state file mode %v, want 0600", st.Mode().Perm())
		}
	})
	t.Run("keys and cooldown stamps survive a restart", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		s, _ := OpenStore(path, t0)
		if err := s.Begin("k1", KeyEntry{Group: "web", Action: ScaleOut, Started: t0, Expires: t0.Add(time.Hour), To: 5}); err != nil {
			t.Fatal(err)
		}
		if err := s.Finish("k1", 5, "web", &GroupState{Desired: 5, LastOut: t0}, t0); err != nil {
			t.Fatal(err)
		}
		s2, err := OpenStore(path, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		e, ok := s2.Key("k1", t0.Add(time.Minute))
		if !ok || e.State != KeyDone || e.To != 5 {
			t.Fatalf("key after restart: %+v %v", e, ok)
		}
		if g := s2.Group("web"); !g.LastOut.Equal(t0) || g.Desired != 5 {
			t.Fatalf("group after restart: %+v", g)
		}
	})
	t.Run("keys expire after their ttl", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		s, _ := OpenStore(path, t0)
		_ = s.Begin("k1", KeyEntry{Group: "web", Action: ScaleOut, Started: t0, Expires: t0.Add(time.Hour)})
		_ = s.Finish("k1", 5, "web", &GroupState{}, t0)
		if _, ok := s.Key("k1", t0.Add(time.Hour)); ok {
			t.Error("an expired key is still remembered")
		}
		s2, _ := OpenStore(path, t0.Add(2*time.Hour))
		if len(s2.Keys()) != 0 {
			t.Errorf("expired keys loaded: %v", s2.Keys())
		}
	})
	t.Run("a key left in progress by a crash is kept as a write-ahead intent to reconcile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		s, _ := OpenStore(path, t0)
		_ = s.Begin("k1", KeyEntry{Group: "web", Action: ScaleIn, Started: t0, Expires: t0.Add(time.Hour), From: 4, To: 2})
		s2, err := OpenStore(path, t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		p := s2.pending("web")
		if e, ok := p["k1"]; !ok || e.From != 4 || e.To != 2 {
			t.Fatalf("pending after restart %v", p)
		}
	})
	t.Run("a released key is forgotten", func(t *testing.T) {
		s, _ := OpenStore(filepath.Join(t.TempDir(), "state.json"), t0)
		_ = s.Begin("k1", KeyEntry{Group: "web", Started: t0, Expires: t0.Add(time.Hour)})
		_ = s.Release("k1")
		if _, ok := s.Key("k1", t0); ok {
			t.Error("released key still there")
		}
	})
	for name, content := range map[string]string{
		"a corrupt file is a clear error at start":  `{"version":1,"keys":`,
		"another version is a clear error at start": `{"version":7}`,
		"an unknown field is refused at start":      `{"version":1,"groups":{"web":{"desired":3,"colour":"blue"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenStore(path, t0)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it away") {
				t.Fatalf("error %v should name the file and the fix", err)
			}
		})
	}
	t.Run("a failed write changes nothing in memory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		s, _ := OpenStore(filepath.Join(dir, "state.json"), t0)
		if err := s.PutGroup("web", &GroupState{Desired: 3}); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil { // every write now fails, even as root
			t.Fatal(err)
		}
		if err := s.Begin("k1", KeyEntry{Group: "web", Action: ScaleOut, Started: t0, Expires: t0.Add(time.Hour)}); err == nil {
			t.Fatal("Begin succeeded without a directory to write to")
		}
		if _, ok := s.Key("k1", t0); ok {
			t.Error("a key whose write failed is remembered: the sender's retry would be a duplicate")
		}
		if err := s.PutGroup("web", &GroupState{Desired: 7}); err == nil {
			t.Fatal("PutGroup succeeded without a directory to write to")
		}
		if g := s.Group("web"); g.Desired != 3 {
			t.Errorf("desired %d after a failed write, want the 3 on disk", g.Desired)
		}
	})
	t.Run("writes leave no temp files behind", func(t *testing.T) {
		dir := t.TempDir()
		s, _ := OpenStore(filepath.Join(dir, "state.json"), t0)
		for i := 0; i < 5; i++ {
			_ = s.PutGroup("web", &GroupState{Desired: i})
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the state file", len(entries))
		}
	})
}

func TestStoreRefusesAnEntryItCannotActOn(t *testing.T) {
	key := func(fields string) string {
		return `{"version":1,"keys":{"k1":{"group":"web","action":"scale_out","state":"done","started":"2026-11-27T08:00:00Z","expires":"2099-01-01T00:00:00Z",` + fields + `}}}`
	}
	tests := []struct {
		name, content, wantWhere string
	}{
		{"a null group", `{"version":1,"groups":{"web":null}}`, `groups["web"] is null: remove the entry`},
		{"a negative desired count", `{"version":1,"groups":{"web":{"desired":-1}}}`, `groups["web"].desired -1`},
		{"a negative target sample", `{"version":1,"groups":{"web":{"desired":2,"targets":[{"at":"2026-11-27T08:00:00Z","target":-4}]}}}`, `groups["web"].targets[0].target -4`},
		{"a negative key count", key(`"to":-2,"goal":3`), `keys["k1"]: to -2 and goal 3`},
		{"an unknown key state", `{"version":1,"keys":{"k1":{"group":"web","action":"scale_out","state":"maybe"}}}`, `keys["k1"].state "maybe"`},
		{"an unknown key action", `{"version":1,"keys":{"k1":{"group":"web","action":"explode","state":"done"}}}`, `keys["k1"].action "explode"`},
		{"a key without a group", `{"version":1,"keys":{"k1":{"action":"scale_in","state":"done"}}}`, `keys["k1"] names no group`},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused at start, naming where and the fix", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenStore(path, t0)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantWhere) {
				t.Fatalf("error %v, want it to name %s and %q", err, path, tc.wantWhere)
			}
		})
	}
	t.Run("a valid entry loads", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, []byte(key(`"to":2,"goal":3`)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenStore(path, t0); err != nil {
			t.Fatal(err)
		}
	})
}
