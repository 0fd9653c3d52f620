package actuator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	commoncfg "github.com/prometheus/common/config"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/flexus-autoscaler/flexus/config"
)

// EtcdStore is the StateStore of several replicas. Under the prefix:
//
//	locks/<group>/<lease>      the group's lock (concurrency.Mutex on this replica's lease)
//	keys/<key>                 idempotency keys and write-ahead intents (KeyEntry)
//	intents/<group>/<key>      the keys in progress of a group, for reconciliation
//	groups/<group>             cooldown stamps and targets (GroupState)
//	decisions/<group>/<time>   the shared decision log
//
// Every write under a lock is one transaction that compares the lock's
// ownership, and the group record's revision as read under the lock.
type EtcdStore struct {
	cli     *clientv3.Client
	prefix  string
	ttl     int
	logSize int

	mu    sync.Mutex
	sess  *concurrency.Session
	local map[string]*sync.Mutex // one etcd mutex per session and group: replicas queue in etcd, goroutines here
	seq   uint64
	// ctx outlives requests: it keeps the lease alive until Close.
	ctx        context.Context
	ownsClient bool
}

var _ StateStore = (*EtcdStore)(nil)

// OpenEtcdStore connects to the configured etcd. logSize bounds the shared
// decision log (actuator.decision_log_size).
func OpenEtcdStore(ctx context.Context, c *config.Etcd, logSize int) (*EtcdStore, error) {
	cc := clientv3.Config{
		Endpoints: c.Endpoints, DialTimeout: c.DialTimeout,
		Username: c.Username, Password: string(c.Password),
		Logger: zap.NewNop(),
	}
	if c.TLS != nil {
		tc, err := commoncfg.NewTLSConfig(&commoncfg.TLSConfig{CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("actuator: actuator.etcd.tls: %w", err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("actuator: connecting to etcd %v: %w", c.Endpoints, err)
	}
	// Fail at start, with the endpoints named, rather than at the first alert.
	sctx, cancel := context.WithTimeout(ctx, c.DialTimeout)
	defer cancel()
	if _, err := cli.Get(sctx, c.Prefix+"groups/", clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("actuator: etcd %v does not answer (check actuator.etcd.endpoints, tls and credentials): %w", c.Endpoints, err)
	}
	s := NewEtcdStore(cli, c, logSize)
	s.ownsClient = true
	return s, nil
}

// NewEtcdStore is a replica's store over a client its caller keeps (Close
// leaves it open): each store has its own lease, so it is its own replica.
func NewEtcdStore(cli *clientv3.Client, c *config.Etcd, logSize int) *EtcdStore {
	return &EtcdStore{cli: cli, prefix: c.Prefix, ttl: max(int(c.LeaseTTL/time.Second), 1), logSize: max(logSize, 1),
		local: map[string]*sync.Mutex{}, ctx: context.Background()}
}

// Client is the store's etcd client, for inspection in tests and tools.
func (s *EtcdStore) Client() *clientv3.Client { return s.cli }

// Close revokes this replica's lease (its locks go at once) and disconnects.
func (s *EtcdStore) Close() error {
	s.mu.Lock()
	sess := s.sess
	s.mu.Unlock()
	if sess != nil {
		_ = sess.Close()
	}
	if !s.ownsClient {
		return nil
	}
	return s.cli.Close()
}

// session returns the replica's live lease, starting a new one when the
// last expired: a replica that lost its lease holds no lock until it locks again.
func (s *EtcdStore) session() (*concurrency.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil {
		select {
		case <-s.sess.Done():
		default:
			return s.sess, nil
		}
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(s.ttl), concurrency.WithContext(s.ctx))
	if err != nil {
		return nil, fmt.Errorf("actuator: etcd lease: %w", err)
	}
	s.sess = sess
	return sess, nil
}

func (s *EtcdStore) localLock(group string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.local[group]
	if !ok {
		l = &sync.Mutex{}
		s.local[group] = l
	}
	return l
}

// Lock takes the group's lock in etcd, behind the replica's own goroutines.
func (s *EtcdStore) Lock(ctx context.Context, group string) (GroupLock, error) {
	local := s.localLock(group)
	local.Lock()
	sess, err := s.session()
	if err != nil {
		local.Unlock()
		return nil, err
	}
	m := concurrency.NewMutex(sess, s.prefix+"locks/"+group)
	if err := m.Lock(ctx); err != nil {
		local.Unlock()
		return nil, fmt.Errorf("actuator: taking the etcd lock of group %q: %w", group, err)
	}
	return &etcdLock{s: s, group: group, m: m, sess: sess, local: local}, nil
}

func (s *EtcdStore) keyPath(key string) string { return s.prefix + "keys/" + key }
func (s *EtcdStore) intentPath(group, key string) string {
	return s.prefix + "intents/" + group + "/" + key
}
func (s *EtcdStore) groupPath(group string) string { return s.prefix + "groups/" + group }

// Key reads a key; it needs no lock, since a key is only ever written under
// its group's lock and read again under it before anything acts on it.
func (s *EtcdStore) Key(ctx context.Context, key string, now time.Time) (KeyEntry, bool, error) {
	resp, err := s.cli.Get(ctx, s.keyPath(key))
	if err != nil {
		return KeyEntry{}, false, fmt.Errorf("actuator: etcd: reading key %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KeyEntry{}, false, nil
	}
	var e KeyEntry
	if err := json.Unmarshal(resp.Kvs[0].Value, &e); err != nil {
		return KeyEntry{}, false, fmt.Errorf("actuator: etcd: key %s is corrupt (%v): delete %s to forget it", key, err, s.keyPath(key))
	}
	if !e.Expires.After(now) {
		return KeyEntry{}, false, nil
	}
	return e, true, nil
}

// Group reads a group's state without its lock.
func (s *EtcdStore) Group(ctx context.Context, group string) (*GroupState, error) {
	resp, err := s.cli.Get(ctx, s.groupPath(group))
	if err != nil {
		return nil, fmt.Errorf("actuator: etcd: reading group %q: %w", group, err)
	}
	gs := &GroupState{}
	if len(resp.Kvs) > 0 {
		if err := json.Unmarshal(resp.Kvs[0].Value, gs); err != nil {
			return nil, fmt.Errorf("actuator: etcd: group %q's state is corrupt (%v): delete %s to start it without cooldowns", group, err, s.groupPath(group))
		}
	}
	return gs, nil
}

// Log appends a decision to the shared log and keeps it within its size.
func (s *EtcdStore) Log(ctx context.Context, rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("actuator: encoding decision: %w", err)
	}
	k, seq := s.decisionKey(rec)
	dir := s.prefix + "decisions/" + rec.Group + "/"
	if _, err := s.cli.Put(ctx, k, string(b)); err != nil {
		return fmt.Errorf("actuator: etcd: logging decision: %w", err)
	}
	if seq%16 != 0 {
		return nil
	}
	cnt, err := s.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || cnt.Count <= int64(s.logSize) {
		return err
	}
	old, err := s.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend), clientv3.WithLimit(cnt.Count-int64(s.logSize)))
	if err != nil || len(old.Kvs) == 0 {
		return err
	}
	last := string(old.Kvs[len(old.Kvs)-1].Key)
	_, err = s.cli.Delete(ctx, string(old.Kvs[0].Key), clientv3.WithRange(last+"\x00"))
	return err
}

// decisionKey names a record in the shared log: time first, so keys sort
// by time; the lease and a counter keep two replicas' records apart.
func (s *EtcdStore) decisionKey(rec Record) (string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	var lease clientv3.LeaseID
	if s.sess != nil {
		lease = s.sess.Lease()
	}
	return fmt.Sprintf("%sdecisions/%s/%020d-%x-%d", s.prefix, rec.Group, rec.Time.UnixNano(), int64(lease), s.seq), s.seq
}

// History returns up to limit logged decisions of a group, newest first.
func (s *EtcdStore) History(ctx context.Context, group string, limit int) ([]Record, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, s.prefix+"decisions/"+group+"/", opts...)
	if err != nil {
		return nil, fmt.Errorf("actuator: etcd: reading decisions of %q: %w", group, err)
	}
	out := make([]Record, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r Record
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("actuator: etcd: decision %s is corrupt: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// etcdLock is a held group lock.
type etcdLock struct {
	s     *EtcdStore
	group string
	m     *concurrency.Mutex
	sess  *concurrency.Session
	local *sync.Mutex
	// groupRev is the group record's ModRevision as read under this lock;
	// read says whether it was read at all.
	groupRev int64
	read     bool
}

func (l *etcdLock) Lost() <-chan struct{} { return l.sess.Done() }

func (l *etcdLock) Unlock() {
	defer l.local.Unlock()
	select {
	case <-l.sess.Done():
		return // the lease, and with it the lock, is gone already
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.m.Unlock(ctx) // a failure leaves the key to the lease's expiry
}

func (l *etcdLock) Group(ctx context.Context) (*GroupState, error) {
	resp, err := l.s.cli.Get(ctx, l.s.groupPath(l.group))
	if err != nil {
		return nil, fmt.Errorf("actuator: etcd: reading group %q: %w", l.group, err)
	}
	l.read = true
	gs := &GroupState{}
	if len(resp.Kvs) == 0 {
		l.groupRev = 0
		return gs, nil
	}
	l.groupRev = resp.Kvs[0].ModRevision
	if err := json.Unmarshal(resp.Kvs[0].Value, gs); err != nil {
		return nil, fmt.Errorf("actuator: etcd: group %q's state is corrupt (%v): delete %s to start it without cooldowns", l.group, err, l.s.groupPath(l.group))
	}
	return gs, nil
}

func (l *etcdLock) Pending(ctx context.Context) (map[string]KeyEntry, error) {
	resp, err := l.s.cli.Get(ctx, l.s.intentPath(l.group, ""), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("actuator: etcd: reading intents of group %q: %w", l.group, err)
	}
	out := map[string]KeyEntry{}
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), l.s.intentPath(l.group, ""))
		var e KeyEntry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("actuator: etcd: intent %s is corrupt (%v): delete it and %s", kv.Key, err, l.s.keyPath(key))
		}
		out[key] = e
	}
	return out, nil
}

// keyLease returns a lease that outlives the key's expiry by an hour, so
// etcd forgets keys on its own.
func (l *etcdLock) keyLease(ctx context.Context, e KeyEntry) (clientv3.LeaseID, error) {
	ttl := e.Expires.Sub(e.Started) + time.Hour
	resp, err := l.s.cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return 0, fmt.Errorf("actuator: etcd: lease for a key: %w", err)
	}
	return resp.ID, nil
}

func (l *etcdLock) PutKey(ctx context.Context, key string, e KeyEntry) error {
	lease, err := l.keyLease(ctx, e)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(e)
	ops := []clientv3.Op{clientv3.OpPut(l.s.keyPath(key), string(b), clientv3.WithLease(lease))}
	if e.State == KeyInProgress {
		ops = append(ops, clientv3.OpPut(l.s.intentPath(l.group, key), string(b), clientv3.WithLease(lease)))
	} else {
		ops = append(ops, clientv3.OpDelete(l.s.intentPath(l.group, key)))
	}
	return l.commit(ctx, false, ops...)
}

func (l *etcdLock) Release(ctx context.Context, key string) error {
	return l.commit(ctx, false, clientv3.OpDelete(l.s.keyPath(key)), clientv3.OpDelete(l.s.intentPath(l.group, key)))
}

func (l *etcdLock) Finish(ctx context.Context, key string, to int, gs *GroupState, _ time.Time, rec Record) error {
	resp, err := l.s.cli.Get(ctx, l.s.keyPath(key))
	if err != nil {
		return fmt.Errorf("actuator: etcd: reading key %s: %w", key, err)
	}
	decisionKey, _ := l.s.decisionKey(rec)
	logged, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("actuator: encoding decision: %w", err)
	}
	ops := []clientv3.Op{clientv3.OpDelete(l.s.intentPath(l.group, key)), l.putGroupOp(gs), clientv3.OpPut(decisionKey, string(logged))}
	if len(resp.Kvs) > 0 {
		var e KeyEntry
		if err := json.Unmarshal(resp.Kvs[0].Value, &e); err == nil {
			e.State, e.To = KeyDone, to
			b, _ := json.Marshal(e)
			ops = append(ops, clientv3.OpPut(l.s.keyPath(key), string(b), clientv3.WithIgnoreLease()))
		}
	}
	return l.commit(ctx, true, ops...)
}

func (l *etcdLock) PutGroup(ctx context.Context, gs *GroupState) error {
	return l.commit(ctx, true, l.putGroupOp(gs))
}

func (l *etcdLock) putGroupOp(gs *GroupState) clientv3.Op {
	b, _ := json.Marshal(gs)
	return clientv3.OpPut(l.s.groupPath(l.group), string(b))
}

// commit runs ops in one transaction, if this replica still owns the lock
// and (withGroup) the group record is as it was read under the lock.
func (l *etcdLock) commit(ctx context.Context, withGroup bool, ops ...clientv3.Op) error {
	select {
	case <-l.sess.Done():
		return ErrLockLost
	default:
	}
	cmps := []clientv3.Cmp{l.m.IsOwner()}
	if withGroup {
		if !l.read {
			if _, err := l.Group(ctx); err != nil {
				return err
			}
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(l.s.groupPath(l.group)), "=", l.groupRev))
	}
	resp, err := l.s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("actuator: etcd: writing state of group %q: %w", l.group, err)
	}
	if !resp.Succeeded {
		own, err := l.s.cli.Txn(ctx).If(l.m.IsOwner()).Commit()
		if err == nil && !own.Succeeded {
			return ErrLockLost
		}
		return ErrConflict
	}
	if withGroup {
		l.groupRev = resp.Header.Revision
	}
	return nil
}
