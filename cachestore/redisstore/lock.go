package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
)

// Compare-and-delete and compare-and-extend: a holder only ever touches a
// lock that still carries its own token.
var (
	unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`)
	renewScript  = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`)
)

// Lock takes the named lock with SET NX PX (the key always carries the
// lease as its TTL), polling while another holder has it, until ctx ends.
// The lease (ttl, minimum 1 s) is renewed every third of it while held, so
// a long refresh keeps it and a crashed holder loses it after ttl. A Redis
// error ends the wait at once; each command is bounded by Options.Timeout.
//
// Across a failover: with Options.LockReplicas set, the lock counts as held
// only once that many replicas acknowledged it (WAIT on the connection that
// wrote it); otherwise it is released and Lock returns
// cachestore.ErrLockNotReplicated. Sentinel and Cluster promote the replica
// with the most data, so an acknowledged lock survives the master's death in
// the failures they are built for (Redis replication is asynchronous: WAIT
// narrows the window to a replica acknowledging and then being passed over,
// it does not make Redis strongly consistent). The returned Unlocker is a
// cachestore.Lease: Held re-checks the lock on the current master, so a
// holder can confirm it just before it spends a rotating refresh token.
func (s *Store) Lock(ctx context.Context, name string, ttl time.Duration) (cachestore.Unlocker, error) {
	if ttl < time.Second {
		ttl = time.Second
	}
	key := s.opts.Prefix + "lock:" + name
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	for {
		ok, err := s.tryLock(ctx, key, token, ttl)
		if err != nil && !errors.Is(err, cachestore.ErrLockNotReplicated) {
			s.failed(err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if ok {
			l := &lock{s: s, key: key, token: token, ttl: ttl, stop: make(chan struct{})}
			l.confirmed.Store(time.Now().UnixNano())
			l.wg.Add(1)
			go l.renew()
			return l, nil
		}
		wait := s.opts.LockPoll/2 + time.Duration(mrand.Int64N(int64(s.opts.LockPoll)))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// tryLock makes one SET NX attempt and, with LockReplicas, waits for the
// replicas on the same connection.
func (s *Store) tryLock(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	if s.opts.LockReplicas == 0 {
		c, cancel := s.cmdCtx(ctx)
		defer cancel()
		return s.rdb.SetNX(c, key, token, ttl).Result()
	}
	c, cancel := s.boundCtx(ctx, s.opts.Timeout+s.opts.LockReplicaWait)
	defer cancel()
	node, err := s.masterFor(c, key)
	if err != nil {
		return false, err
	}
	conn := node.Conn() // WAIT counts the writes of its own connection
	defer conn.Close()
	ok, err := conn.SetNX(c, key, token, ttl).Result()
	if err != nil || !ok {
		return false, err
	}
	n, err := conn.Wait(c, s.opts.LockReplicas, s.opts.LockReplicaWait).Result()
	if err == nil && n >= int64(s.opts.LockReplicas) {
		return true, nil
	}
	// Not acknowledged: give it back so that nobody waits on a lock that
	// may vanish, and report it as not held.
	rc, rcancel := s.cmdCtx(context.WithoutCancel(ctx))
	unlockScript.Run(rc, conn, []string{key}, token)
	rcancel()
	if err != nil {
		return false, err
	}
	return false, fmt.Errorf("%w (%d of %d replicas within %v)", cachestore.ErrLockNotReplicated, n, s.opts.LockReplicas, s.opts.LockReplicaWait)
}

// masterFor returns the client of the master that holds key.
func (s *Store) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.Client: // one server, or Sentinel's failover client
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	}
	return nil, fmt.Errorf("redisstore: LockReplicas needs a *redis.Client or *redis.ClusterClient, not %T", s.rdb)
}

type lock struct {
	s         *Store
	key       string
	token     string
	ttl       time.Duration
	stop      chan struct{}
	once      sync.Once
	wg        sync.WaitGroup
	lost      atomic.Bool
	confirmed atomic.Int64 // when the lease was last set or extended (unix ns)
}

// renew extends the lease every third of it. It stops when the lock is
// found taken by another holder or gone, and counts the lock lost when no
// renewal has succeeded for a whole lease.
func (l *lock) renew() {
	defer l.wg.Done()
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			start := time.Now()
			ctx, cancel := l.s.cmdCtx(context.Background())
			n, err := renewScript.Run(ctx, l.s.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
			cancel()
			l.s.failed(err)
			switch {
			case err == nil && n == 0:
				l.lost.Store(true) // someone else holds it now, or it expired
				return
			case err == nil:
				l.confirmed.Store(start.UnixNano())
			case time.Since(time.Unix(0, l.confirmed.Load())) >= l.ttl:
				l.lost.Store(true) // the lease has certainly run out
				return
			}
		}
	}
}

// Held reports whether this holder still has the lock: nil when the lock's
// key carries its token on the current master and the lease has not run
// out, cachestore.ErrLockLost when it does not, or the Redis error when it
// cannot tell (treat that as not held).
func (l *lock) Held(ctx context.Context) error {
	if l.lost.Load() || time.Since(time.Unix(0, l.confirmed.Load())) >= l.ttl {
		return cachestore.ErrLockLost
	}
	c, cancel := l.s.cmdCtx(ctx)
	defer cancel()
	v, err := l.s.rdb.Get(c, l.key).Result()
	if errors.Is(err, redis.Nil) || (err == nil && v != l.token) {
		l.lost.Store(true)
		return cachestore.ErrLockLost
	}
	return err
}

// Unlock stops the renewal and deletes the lock if this holder still has
// it, bounded by Options.Timeout. When it fails the lock ends by itself
// when its lease does.
func (l *lock) Unlock(ctx context.Context) error {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	c, cancel := l.s.cmdCtx(ctx)
	defer cancel()
	err := unlockScript.Run(c, l.s.rdb, []string{l.key}, l.token).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
