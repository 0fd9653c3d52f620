package actuator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Key states.
const (
	KeyInProgress = "in_progress"
	KeyDone       = "done"
	// KeySeen fixes a relative flexus_step as an absolute target (Goal)
	// when its key is first seen; nothing was written to the cloud.
	KeySeen = "seen"
)

// KeyEntry is a remembered idempotency key: a notification whose effect is
// under way (persisted before the cloud is called) or done.
type KeyEntry struct {
	Group   string    `json:"group"`
	Action  Action    `json:"action"`
	State   string    `json:"state"`
	Started time.Time `json:"started"`
	Expires time.Time `json:"expires"`
	// To is the desired count the key set; Goal the count its request aimed
	// at. To short of Goal (a step limit, a partial create) lets a later
	// delivery continue under a derived key (ContinuationKey).
	To   int `json:"to"`
	Goal int `json:"goal"`
	// From is the count the write-ahead intent started from, and Token the
	// client token its cloud write carries: what reconciliation compares
	// with fresh cloud state after a crash or an ambiguous write.
	From  int    `json:"from,omitempty"`
	Token string `json:"token,omitempty"`
	// Step is the relative flexus_step a KeySeen Goal was fixed from.
	Step int `json:"step,omitempty"`
}

// Reached reports whether the key's effect got all the way to its goal.
func (e KeyEntry) Reached() bool { return e.To == e.Goal }

// ContinuationKey is the key a later delivery of the same notification uses
// to continue a step-limited effect from where it stopped.
func ContinuationKey(key string, e KeyEntry) string { return key + "/" + strconv.Itoa(e.To) }

// stateFile is the file's layout.
type stateFile struct {
	Version int                    `json:"version"`
	Keys    map[string]KeyEntry    `json:"keys"`
	Groups  map[string]*GroupState `json:"groups"`
}

const stateVersion = 1

// Store is the actuator's persistent memory: idempotency keys, cooldown
// stamps and recent targets. Every change is written atomically (temp file,
// fsync, rename, fsync of the directory) before the call returns.
type Store struct {
	path string
	mu   sync.Mutex
	st   stateFile
}

// OpenStore loads path, or starts empty when it does not exist. A corrupt
// file is an error naming the file and the fix: the actuator refuses to
// start rather than forget its cooldowns. Keys left in progress by a crash
// are kept: they are write-ahead intents, reconciled against fresh cloud
// state by the next delivery for their group.
func OpenStore(path string, now time.Time) (*Store, error) {
	s := &Store{path: path, st: stateFile{Version: stateVersion, Keys: map[string]KeyEntry{}, Groups: map[string]*GroupState{}}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("actuator: state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("actuator: state file %s is corrupt (%v): restore it from a backup, or move it away to start without cooldowns and idempotency keys", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("actuator: state file %s has version %d, this actuator reads %d: move it away to start afresh", path, st.Version, stateVersion)
	}
	if st.Keys == nil {
		st.Keys = map[string]KeyEntry{}
	}
	if st.Groups == nil {
		st.Groups = map[string]*GroupState{}
	}
	for k, e := range st.Keys {
		if e.State != KeyInProgress && !e.Expires.After(now) {
			delete(st.Keys, k)
		}
	}
	s.st = st
	return s, nil
}

// Path is the file the store writes.
func (s *Store) Path() string { return s.path }

// Key returns a key's entry if it is remembered and not expired at now.
func (s *Store) Key(key string, now time.Time) (KeyEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.st.Keys[key]
	if !ok || !e.Expires.After(now) {
		return KeyEntry{}, false
	}
	return e, true
}

// Begin persists a key as in progress; it must be on disk before the cloud is called.
func (s *Store) Begin(key string, e KeyEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.State = KeyInProgress
	s.st.Keys[key] = e
	return s.saveLocked()
}

// Release forgets a key whose effect did not happen (a transient failure),
// so the sender's retry acts.
func (s *Store) Release(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.st.Keys, key)
	return s.saveLocked()
}

// Finish marks a key done and stores the group's new state in one write.
func (s *Store) Finish(key string, to int, group string, gs *GroupState, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.st.Keys[key]; ok {
		e.State, e.To = KeyDone, to
		s.st.Keys[key] = e
	}
	s.st.Groups[group] = gs.Clone()
	s.expireLocked(now)
	return s.saveLocked()
}

// Group returns a copy of a group's local state (empty when unknown).
func (s *Store) Group(name string) *GroupState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.st.Groups[name]; ok {
		return g.Clone()
	}
	return &GroupState{}
}

// PutGroup stores a group's local state.
func (s *Store) PutGroup(name string, gs *GroupState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Groups[name] = gs.Clone()
	return s.saveLocked()
}

// Keys returns a copy of every remembered key, for tests and inspection.
func (s *Store) Keys() map[string]KeyEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]KeyEntry, len(s.st.Keys))
	for k, v := range s.st.Keys {
		out[k] = v
	}
	return out
}

func (s *Store) expireLocked(now time.Time) {
	for k, e := range s.st.Keys {
		if e.State != KeyInProgress && !e.Expires.After(now) {
			delete(s.st.Keys, k)
		}
	}
}

func (s *Store) saveLocked() error {
	b, err := json.MarshalIndent(s.st, "", " ")
	if err != nil {
		return fmt.Errorf("actuator: encoding state: %w", err)
	}
	if err := writeFileAtomic(s.path, b); err != nil {
		return fmt.Errorf("actuator: writing state file %s: %w", s.path, err)
	}
	return nil
}

// writeFileAtomic writes a temp file beside path, syncs it, renames it over
// path and syncs the directory, so a crash leaves the old or the new file.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
