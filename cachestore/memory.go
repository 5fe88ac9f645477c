package cachestore

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configure a Memory store. The zero value is usable.
type MemoryOptions struct {
	// MaxBytes bounds the bytes held (keys + values + a fixed per-entry
	// overhead). Default: 256 MiB.
	MaxBytes int64
	// DefaultTTL applies to Set calls with ttl <= 0. Default: 24 hours.
	DefaultTTL time.Duration
	// Clock. Default: the system clock.
	Clock Clock
}

// entryOverhead approximates the bytes an entry costs beyond its key and
// value: the map slot, the entry struct and the clock ring slot.
const entryOverhead = 96

const memoryShards = 64

// Memory is the bounded, TTL-aware in-memory store used as the L1 cache. A
// Get is one map lookup under a shard's read lock, so it costs the same with
// one entry or millions.
//
// Eviction: expired entries go first; then the CLOCK (second chance)
// algorithm picks victims in each shard: a Get marks its entry referenced
// with an atomic store (no write lock on the read path) and the eviction
// hand spares referenced entries once. This approximates LRU at a fraction
// of its cost under concurrent reads, which is what a token cache — many
// hits on few hot entries, a long tail of idle ones — needs.
type Memory struct {
	clock    Clock
	ttl      time.Duration
	maxShard int64
	seed     maphash.Seed
	sets     atomic.Uint64 // Set calls so far: orders entries by age
	// staleUpTo: entries born up to here are to be revalidated (a Tiered
	// that lost its invalidations): their Handles are no longer valid.
	staleUpTo atomic.Uint64
	shards    [memoryShards]memShard
}

type memShard struct {
	mu    sync.RWMutex
	items map[string]*memEntry
	ring  []*memEntry // CLOCK ring; nil slots are free
	hand  int
	bytes int64
}

type memEntry struct {
	key     string
	value   []byte
	expires int64  // unix nanoseconds
	born    uint64 // Memory.sets when it was stored (Tiered revalidation)
	slot    int32  // with flags, one word: the entry stays 64 bytes
	flags   atomic.Uint32
}

// memEntry flags.
const (
	flagRef  = 1 << iota // read since the CLOCK hand last passed
	flagDead             // removed, replaced, evicted or cleared: Handle.Valid is false
)

// Handle names one stored value of a Memory: it stays valid until that
// value is removed, replaced, evicted or cleared, or until a Tiered over the
// Memory revalidates its L1 after a lost subscription (expiry is the
// holder's to check: Expires). A token engine keeps a decoded copy of a hot
// entry beside a handle, and re-reads the store only when the handle goes
// invalid.
type Handle struct {
	e *memEntry
	m *Memory
}

// Valid reports whether the value is still the one stored.
func (h Handle) Valid() bool {
	return h.e != nil && h.e.flags.Load()&flagDead == 0 && h.e.born > h.m.staleUpTo.Load()
}

// Use is Valid that also marks the value recently used, as a read does, so
// that eviction spares a value served through its handle.
func (h Handle) Use() bool {
	if h.e == nil {
		return false
	}
	f := h.e.flags.Load()
	if f&flagDead != 0 || h.e.born <= h.m.staleUpTo.Load() {
		return false
	}
	if f&flagRef == 0 {
		h.e.flags.Or(flagRef)
	}
	return true
}

// Expires is when the value expires in the store (zero for no handle).
func (h Handle) Expires() time.Time {
	if h.e == nil {
		return time.Time{}
	}
	return time.Unix(0, h.e.expires)
}

// LookupHandle is LookupAt that also returns the value's Handle.
func (m *Memory) LookupHandle(key string, now time.Time) ([]byte, Handle, bool) {
	s := m.shard(key)
	s.mu.RLock()
	e := s.items[key]
	s.mu.RUnlock()
	if e == nil || now.UnixNano() >= e.expires {
		return nil, Handle{}, false
	}
	return e.value, Handle{e, m}, true
}

// NewMemory returns an empty Memory store.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = 24 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	m := &Memory{clock: opts.Clock, ttl: opts.DefaultTTL, maxShard: opts.MaxBytes / memoryShards, seed: maphash.MakeSeed()}
	if m.maxShard < 1<<10 {
		m.maxShard = 1 << 10
	}
	for i := range m.shards {
		m.shards[i].items = map[string]*memEntry{}
	}
	return m
}

func (m *Memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%memoryShards]
}

// Get returns the live value under key.
func (m *Memory) Get(_ context.Context, key string) ([]byte, bool, error) {
	v, ok := m.Lookup(key)
	return v, ok, nil
}

// Lookup is Get without a context or an error, for callers that hold the
// concrete type on a hot path.
func (m *Memory) Lookup(key string) ([]byte, bool) { return m.LookupAt(key, m.clock.Now()) }

// LookupAt is Lookup at a time the caller has already read from the
// store's clock (reading a clock costs ~25–100 ns).
func (m *Memory) LookupAt(key string, now time.Time) ([]byte, bool) {
	s := m.shard(key)
	s.mu.RLock()
	e := s.items[key]
	s.mu.RUnlock()
	if e == nil || now.UnixNano() >= e.expires {
		return nil, false
	}
	if e.flags.Load()&flagRef == 0 {
		e.flags.Or(flagRef)
	}
	return e.value, true
}

// GetWithTTL returns the live value under key and how long it has left
// (cachestore.TTLGetter).
func (m *Memory) GetWithTTL(_ context.Context, key string) ([]byte, time.Duration, bool, error) {
	v, ttl, ok := m.lookupTTL(key)
	return v, ttl, ok, nil
}

func (m *Memory) lookupTTL(key string) ([]byte, time.Duration, bool) {
	now := m.clock.Now().UnixNano()
	s := m.shard(key)
	s.mu.RLock()
	e := s.items[key]
	s.mu.RUnlock()
	if e == nil || now >= e.expires {
		return nil, 0, false
	}
	return e.value, time.Duration(e.expires - now), true
}

// lookupBorn is Lookup that also returns when the entry was stored, on the
// scale of m.sets.
func (m *Memory) lookupBorn(key string) ([]byte, uint64, bool) {
	now := m.clock.Now().UnixNano()
	s := m.shard(key)
	s.mu.RLock()
	e := s.items[key]
	s.mu.RUnlock()
	if e == nil || now >= e.expires {
		return nil, 0, false
	}
	if e.flags.Load()&flagRef == 0 {
		e.flags.Or(flagRef)
	}
	return e.value, e.born, true
}

// Set stores value under key for ttl.
func (m *Memory) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.put(key, value, ttl, false)
	return nil
}

// Add stores value under key for ttl unless a live value is there.
func (m *Memory) Add(_ context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	return m.put(key, value, ttl, true), nil
}

// put stores value under key; with ifAbsent only when no live value is
// there (checked under the shard's lock). It reports whether it stored.
func (m *Memory) put(key string, value []byte, ttl time.Duration, ifAbsent bool) bool {
	if ttl <= 0 {
		ttl = m.ttl
	}
	now := m.clock.Now().UnixNano()
	e := &memEntry{key: key, value: value, expires: now + int64(ttl), born: m.sets.Add(1)}
	size := entrySize(e)
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.items[key]; old != nil {
		if ifAbsent && now < old.expires {
			return false
		}
		s.remove(old)
	}
	if size > m.maxShard {
		return true // larger than a shard's budget: not cached
	}
	for s.bytes+size > m.maxShard {
		s.evictOne(now)
	}
	s.items[key] = e
	s.bytes += size
	e.slot = int32(len(s.ring))
	s.ring = append(s.ring, e)
	return true
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	s := m.shard(key)
	s.mu.Lock()
	if e := s.items[key]; e != nil {
		s.remove(e)
	}
	s.mu.Unlock()
	return nil
}

// Len returns the number of entries held (live or not yet swept).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		n += len(s.items)
		s.mu.RUnlock()
	}
	return n
}

// Bytes returns the accounted size of the entries held.
func (m *Memory) Bytes() int64 {
	var n int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		n += s.bytes
		s.mu.RUnlock()
	}
	return n
}

func entrySize(e *memEntry) int64 { return int64(len(e.key) + len(e.value) + entryOverhead) }

// remove takes e out of the shard; s.mu must be held.
func (s *memShard) remove(e *memEntry) {
	e.flags.Or(flagDead)
	delete(s.items, e.key)
	s.bytes -= entrySize(e)
	last := len(s.ring) - 1
	moved := s.ring[last]
	s.ring[e.slot] = moved
	moved.slot = e.slot
	s.ring[last] = nil
	s.ring = s.ring[:last]
	if s.hand >= len(s.ring) {
		s.hand = 0
	}
}

// evictOne removes one entry: an expired one among the next 32 from the
// hand if there is one, else the first unreferenced one, clearing reference
// bits on the way (CLOCK).
func (s *memShard) evictOne(now int64) {
	for i, n := 0, len(s.ring); i < 32 && i < n; i++ {
		if e := s.ring[(s.hand+i)%n]; now >= e.expires {
			s.remove(e)
			return
		}
	}
	for {
		if len(s.ring) == 0 {
			s.bytes = 0
			return
		}
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		e := s.ring[s.hand]
		if now >= e.expires || e.flags.Load()&flagRef == 0 {
			s.remove(e)
			return
		}
		e.flags.And(^uint32(flagRef))
		s.hand++
	}
}

// Clear removes every entry.
func (m *Memory) Clear() {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for _, e := range s.items {
			e.flags.Or(flagDead)
		}
		clear(s.items)
		clear(s.ring)
		s.ring, s.hand, s.bytes = s.ring[:0], 0, 0
		s.mu.Unlock()
	}
}
