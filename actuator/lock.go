package actuator

import (
	"context"
	"errors"
	"time"

	"github.com/flexus-autoscaler/flexus/config"
)

// StateStore is what the actuator remembers across restarts and shares
// between replicas: idempotency keys with their write-ahead intents,
// cooldown stamps and targets, and the decision log. A file serves one
// replica (FileStore); etcd serves several (EtcdStore).
type StateStore interface {
	// Lock takes the group's lock: deliveries for one group, on every
	// replica, queue on it.
	Lock(ctx context.Context, group string) (GroupLock, error)
	// Key returns a key's entry if it is remembered and not expired at now.
	Key(ctx context.Context, key string, now time.Time) (KeyEntry, bool, error)
	// Group reads a group's state without its lock, for the metrics.
	Group(ctx context.Context, group string) (*GroupState, error)
	// Log keeps a decision in the shared decision log; a no-op for the file,
	// whose only replica keeps its decisions in memory.
	Log(ctx context.Context, rec Record) error
	// Close releases the store's connections and leases.
	Close() error
}

// GroupLock is a held group lock and the group's state read and written
// under it. Its writes are fenced: once the lock is lost (Lost is closed)
// they fail with ErrLockLost, and since the write-ahead intent is one of
// them, a replica that lost its lock never calls the cloud.
type GroupLock interface {
	// Group returns the group's local state (empty when unknown).
	Group(ctx context.Context) (*GroupState, error)
	// Pending returns the group's keys left in progress: write-ahead
	// intents of a crash or of an ambiguous cloud write, to reconcile.
	Pending(ctx context.Context) (map[string]KeyEntry, error)
	// PutKey stores a key: a write-ahead intent (KeyInProgress), persisted
	// before the cloud is called, or a relative step fixed as a target (KeySeen).
	PutKey(ctx context.Context, key string, e KeyEntry) error
	// Release forgets a key whose effect did not happen, so a retry acts.
	Release(ctx context.Context, key string) error
	// Finish marks a key done with the count it set, stores the group's
	// new state and logs the decision's record, in one write: a replica
	// killed at any point leaves all three or none.
	Finish(ctx context.Context, key string, to int, gs *GroupState, now time.Time, rec Record) error
	// PutGroup stores the group's state.
	PutGroup(ctx context.Context, gs *GroupState) error
	// Lost is closed when the lock is lost (etcd: the lease expired).
	Lost() <-chan struct{}
	// Unlock releases the lock.
	Unlock()
}

// ErrLockLost is a fenced write refused because the group's lock was lost:
// another replica may hold it now. The decision stops before the cloud.
var ErrLockLost = errors.New("actuator: the group's lock was lost (etcd lease expired): another replica may hold it; nothing was written")

// ErrConflict is a revision-compared write that found the record changed
// since it was read, which under a held lock means the lock was not exclusive.
var ErrConflict = errors.New("actuator: the group's state changed under its lock: nothing was written")

// OpenStateStore opens the store the config names: etcd when
// actuator.etcd is set, else the state file, which one process at a time may
// hold (a second actuator on it would keep its own copy of the cooldowns).
func OpenStateStore(ctx context.Context, cfg config.Actuator, now time.Time) (StateStore, error) {
	if cfg.Etcd != nil {
		return OpenEtcdStore(ctx, cfg.Etcd, cfg.DecisionLogSize)
	}
	unlock, err := lockFile(cfg.StateFile + ".lock")
	if err != nil {
		return nil, err
	}
	s, err := OpenStore(cfg.StateFile, now)
	if err != nil {
		unlock()
		return nil, err
	}
	fs := NewFileStore(s)
	fs.unlock = unlock
	return fs, nil
}
