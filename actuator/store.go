package actuator

import (
	"bytes"
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

// clone copies the maps, so a change can be written before memory takes it.
// Entries are values or replaced whole, never changed in place.
func (st stateFile) clone() stateFile {
	out := stateFile{Version: st.Version, Keys: make(map[string]KeyEntry, len(st.Keys)), Groups: make(map[string]*GroupState, len(st.Groups))}
	for k, e := range st.Keys {
		out.Keys[k] = e
	}
	for g, gs := range st.Groups {
		out.Groups[g] = gs
	}
	return out
}

// validate refuses what the actuator could not act on, naming the entry and
// the fix: a null group, a negative count, an unknown state or action.
func (st *stateFile) validate() error {
	for name, g := range st.Groups {
		if g == nil {
			return fmt.Errorf("groups[%q] is null: remove the entry (the group then starts without cooldowns) or restore the file from a backup", name)
		}
		if g.Desired < 0 || g.Desired > maxCount {
			return fmt.Errorf("groups[%q].desired %d is not an instance count: set it to the group's desired count, or 0 when unknown", name, g.Desired)
		}
		for i, t := range g.Targets {
			if t.Target < 0 || t.Target > maxCount {
				return fmt.Errorf("groups[%q].targets[%d].target %d is not an instance count: remove the sample", name, i, t.Target)
			}
		}
	}
	for k, e := range st.Keys {
		switch {
		case e.Group == "":
			return fmt.Errorf("keys[%q] names no group: remove the key", k)
		case e.Action != ScaleOut && e.Action != ScaleIn:
			return fmt.Errorf("keys[%q].action %q is neither scale_out nor scale_in: remove the key", k, e.Action)
		case e.State != KeyInProgress && e.State != KeyDone && e.State != KeySeen:
			return fmt.Errorf("keys[%q].state %q is none of %s, %s and %s: remove the key", k, e.State, KeyInProgress, KeyDone, KeySeen)
		case e.To < 0 || e.To > maxCount || e.Goal < 0 || e.Goal > maxCount || e.From < 0 || e.From > maxCount:
			return fmt.Errorf("keys[%q]: to %d and goal %d must be instance counts: remove the key", k, e.To, e.Goal)
		}
	}
	return nil
}

// Store is the actuator's persistent memory: idempotency keys, cooldown
// stamps and recent targets. Every change is written atomically (temp file,
// fsync, rename, fsync of the directory) before memory takes it and before
// the call returns: a failed write changes nothing, so a retry acts.
type Store struct {
	path string
	mu   sync.Mutex
	st   stateFile
}

// OpenStore loads path, or starts empty when it does not exist. A corrupt
// file is an error naming the file and the fix: the actuator refuses to
// start rather than forget its cooldowns. Keys left in progress by a crash
// are kept: they are write-ahead intents, reconciled against fresh cloud
// state by the next delivery for their group (intent.go).
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
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
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
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("actuator: state file %s: %w", path, err)
	}
	expire(&st, now)
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
	e.State = KeyInProgress
	return s.update(func(st *stateFile) { st.Keys[key] = e })
}

// Release forgets a key whose effect did not happen (a transient failure),
// so the sender's retry acts.
func (s *Store) Release(key string) error {
	return s.update(func(st *stateFile) { delete(st.Keys, key) })
}

// Finish marks a key done and stores the group's new state in one write.
func (s *Store) Finish(key string, to int, group string, gs *GroupState, now time.Time) error {
	gs = gs.Clone()
	return s.update(func(st *stateFile) {
		if e, ok := st.Keys[key]; ok {
			e.State, e.To = KeyDone, to
			st.Keys[key] = e
		}
		st.Groups[group] = gs
		expire(st, now)
	})
}

// Group returns a copy of a group's local state (empty when unknown).
func (s *Store) Group(name string) *GroupState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.st.Groups[name]; g != nil {
		return g.Clone()
	}
	return &GroupState{}
}

// PutGroup stores a group's local state.
func (s *Store) PutGroup(name string, gs *GroupState) error {
	gs = gs.Clone()
	return s.update(func(st *stateFile) { st.Groups[name] = gs })
}

// update applies change to a copy of the state, writes the copy, and only
// then keeps it: memory never holds what the file does not.
func (s *Store) update(change func(st *stateFile)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.st.clone()
	change(&next)
	if err := s.save(next); err != nil {
		return err
	}
	s.st = next
	return nil
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

func expire(st *stateFile, now time.Time) {
	for k, e := range st.Keys {
		if e.State != KeyInProgress && !e.Expires.After(now) {
			delete(st.Keys, k)
		}
	}
}

func (s *Store) save(st stateFile) error {
	b, err := json.MarshalIndent(st, "", " ")
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
