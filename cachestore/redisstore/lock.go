package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"sync"
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

// Lock takes the named lock with SET NX PX, polling while another holder
// has it, until ctx ends. The lease (ttl, minimum 1 s) is renewed every
// third of it while held, so a long refresh keeps it and a crashed holder
// loses it after ttl. A Redis error ends the wait at once.
func (s *Store) Lock(ctx context.Context, name string, ttl time.Duration) (cachestore.Unlocker, error) {
	if ttl < time.Second {
		ttl = time.Second
	}
	key := s.opts.Prefix + "lock:" + name
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	for {
		ok, err := s.rdb.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if ok {
			l := &lock{s: s, key: key, token: token, ttl: ttl, stop: make(chan struct{})}
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

type lock struct {
	s     *Store
	key   string
	token string
	ttl   time.Duration
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func (l *lock) renew() {
	defer l.wg.Done()
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
			n, err := renewScript.Run(ctx, l.s.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
			cancel()
			if err == nil && n == 0 {
				return // lost: someone else holds it now
			}
		}
	}
}

// Unlock stops the renewal and deletes the lock if this holder still has it.
func (l *lock) Unlock(ctx context.Context) error {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	err := unlockScript.Run(ctx, l.s.rdb, []string{l.key}, l.token).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
