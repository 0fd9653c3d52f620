package actuator

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// FileStore is the StateStore of a single replica: the state file, with
// in-process group locks that are never lost.
type FileStore struct {
	*Store
	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// unlock releases the process lock of OpenStateStore.
	unlock func()
}

var _ StateStore = (*FileStore)(nil)

// NewFileStore serves s as a StateStore.
func NewFileStore(s *Store) *FileStore { return &FileStore{Store: s, locks: map[string]*sync.Mutex{}} }

// Lock takes the group's in-process lock.
func (f *FileStore) Lock(_ context.Context, group string) (GroupLock, error) {
	f.mu.Lock()
	l, ok := f.locks[group]
	if !ok {
		l = &sync.Mutex{}
		f.locks[group] = l
	}
	f.mu.Unlock()
	l.Lock()
	return &fileLock{s: f.Store, group: group, mu: l}, nil
}

// Key returns a remembered key.
func (f *FileStore) Key(_ context.Context, key string, now time.Time) (KeyEntry, bool, error) {
	e, ok := f.Store.Key(key, now)
	return e, ok, nil
}

// Group returns a copy of a group's state.
func (f *FileStore) Group(_ context.Context, group string) (*GroupState, error) {
	return f.Store.Group(group), nil
}

// Log is a no-op: the only replica keeps its decisions in memory.
func (f *FileStore) Log(context.Context, Record) error { return nil }

// Close releases the state file for another process; every write is already on disk.
func (f *FileStore) Close() error {
	if f.unlock != nil {
		f.unlock()
		f.unlock = nil
	}
	return nil
}

// lockFile takes an exclusive lock on path, held until unlock or the
// process's end (a crash releases it too).
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("actuator: state file lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("actuator: the state file is in use by another actuator (%s is locked): run one actuator per state_file, or configure actuator.etcd for replicas", path)
	}
	return func() { f.Close() }, nil
}

type fileLock struct {
	s     *Store
	group string
	mu    *sync.Mutex
}

// never is the Lost channel of a lock that cannot be lost.
var never = make(chan struct{})

func (l *fileLock) Group(context.Context) (*GroupState, error) { return l.s.Group(l.group), nil }
func (l *fileLock) Pending(context.Context) (map[string]KeyEntry, error) {
	return l.s.pending(l.group), nil
}
func (l *fileLock) PutKey(_ context.Context, key string, e KeyEntry) error { return l.s.putKey(key, e) }
func (l *fileLock) Release(_ context.Context, key string) error            { return l.s.Release(key) }
func (l *fileLock) Finish(_ context.Context, key string, to int, gs *GroupState, now time.Time, _ Record) error {
	return l.s.Finish(key, to, l.group, gs, now)
}
func (l *fileLock) PutGroup(_ context.Context, gs *GroupState) error {
	return l.s.PutGroup(l.group, gs)
}
func (l *fileLock) Lost() <-chan struct{} { return never }
func (l *fileLock) Unlock()               { l.mu.Unlock() }

// putKey stores a key's entry as given.
func (s *Store) putKey(key string, e KeyEntry) error {
	return s.update(func(st *stateFile) { st.Keys[key] = e })
}

// pending returns the group's keys in progress.
func (s *Store) pending(group string) map[string]KeyEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]KeyEntry{}
	for k, e := range s.st.Keys {
		if e.Group == group && e.State == KeyInProgress {
			out[k] = e
		}
	}
	return out
}
