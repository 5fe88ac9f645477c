package cachestore

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

var errNoAdder = errors.New("cachestore: the store cannot add (no SET NX)")

func putExpiry(b []byte, t time.Time) { binary.LittleEndian.PutUint64(b, uint64(t.UnixNano())) }

// Adder is implemented by stores that can store a value only when the key
// holds none, atomically (Redis SET NX): a replay store (a logout token's
// jti seen once) or a claim on a name. Add reports whether it stored value;
// like Set, the entry lives for ttl (ttl <= 0: the store's default bound).
// An expired entry counts as none.
type Adder interface {
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) (added bool, err error)
}

// Add stores value under key unless a live entry is there
// (cachestore.Adder).
func (m *Memory) Add(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		ttl = m.ttl
	}
	now := m.clock.Now().UnixNano()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.items[key]; old != nil {
		if now < old.expires {
			return false, nil
		}
		s.remove(old)
	}
	e := &memEntry{key: key, value: value, expires: now + int64(ttl), born: m.sets.Add(1)}
	size := entrySize(e)
	if size > m.maxShard {
		return true, nil // larger than a shard's budget: not kept, as Set
	}
	for s.bytes+size > m.maxShard {
		s.evictOne(now)
	}
	s.items[key] = e
	s.bytes += size
	e.slot = len(s.ring)
	s.ring = append(s.ring, e)
	return true, nil
}

// Add seals value and adds it under the hashed key when the inner store can
// add (cachestore.Adder).
func (e *Encrypted) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	a, ok := e.inner.(Adder)
	if !ok {
		return false, errNoAdder
	}
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	pt := make([]byte, 8+len(value))
	putExpiry(pt, e.clock.Now().Add(ttl))
	copy(pt[8:], value)
	return a.Add(ctx, HashKey(key), e.ring.Seal(pt, []byte(key)), ttl)
}

// Add stores value under key when no instance sharing L2 has (SET NX in
// L2, which decides, so that among instances exactly one Add of a key
// succeeds); the value then goes to L1 too. When L2 cannot be reached (the
// circuit is open, or it fails) L1 decides alone and the value is kept as a
// pending write for L2, like a Set: availability first. Add never fails.
// A key whose delete is pending on this instance counts as absent. An L2
// that cannot add (no Adder) is read and then written, which is not atomic
// across instances.
func (t *Tiered) Add(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	l1ttl := ttl
	if t.opts.MaxL1TTL > 0 && (l1ttl <= 0 || l1ttl > t.opts.MaxL1TTL) {
		l1ttl = t.opts.MaxL1TTL
	}
	if a, isAdder := t.l2.(Adder); isAdder && !t.isPending(key) {
		if ok, probe := t.acquire(); ok {
			c, cancel := t.l2ctx(ctx)
			added, err := a.Add(c, key, value, ttl)
			cancel()
			t.finish(ctx, probe, "add", err, true)
			if err == nil {
				if added {
					st := t.stripe(key)
					st.mu.Lock()
					st.seq.Add(1)
					t.l1.Set(ctx, key, value, l1ttl)
					st.mu.Unlock()
				}
				return added, nil
			}
		}
	} else if !isAdder && !t.isPending(key) {
		if _, found, reached := t.readL2(ctx, key, false); reached && found {
			return false, nil
		}
	}
	st := t.stripe(key)
	st.mu.Lock()
	if _, found := t.l1.Lookup(key); found {
		st.mu.Unlock()
		return false, nil
	}
	st.seq.Add(1)
	t.l1.Set(ctx, key, value, l1ttl)
	gen := t.mark(key, false)
	st.mu.Unlock()
	t.toL2(ctx, key, gen, "set", func(c context.Context) error { return t.l2.Set(c, key, value, ttl) })
	return true, nil
}
