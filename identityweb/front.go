package identityweb

import (
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
)

// The front: tokens asked for with no options are kept decoded beside a
// handle on their L1 cache entry, so that a hit is one map read, an atomic
// load or two and a clock read — what a map of oauth2.ReuseTokenSource
// costs — instead of building the cache key, hashing it and decoding the
// entry:
//   - app tokens (ForApp(ctx, scope)) by scope;
//   - OBO tokens (OnBehalfOf(ctx, token, scopes)) by the incoming token,
//     then scopes: no digest is computed, only a hash of the token's
//     signature and a comparison of the whole token;
//   - users' tokens (UserSession.ForUser(ctx, scopes)) by partition, then
//     scopes, beside a second handle on the user's account (the refresh
//     entry): a user's tokens never outlive the account, as on the full
//     path.
//
// Coherence is the L1's: a front entry is used only while its L1 entries
// are the ones it was built from (cachestore.Handle: removed, replaced,
// evicted, cleared, invalidated by another instance or due for revalidation
// makes it invalid), and only until the token's expiry margin, its refresh
// time or the account's expiry, after which the full path serves it and
// refreshes it. So the front never serves what the L1 would not.

// Bounds of the front tables; keys beyond them take the full path.
const (
	maxAppFront = 1024
	maxFront    = 4096 // OBO tokens and users' tokens
	maxFrontSet = 8    // scope sets under one incoming token or user
	frontSweep  = 10   // seconds between sweeps of full shards
)

// frontTable maps a key to its hot entries: copy-on-write shards, so a hit
// is an atomic load and a map read with no write to shared memory (readers
// on several cores do not bounce a lock's cache line), and an insert copies
// one shard of at most max/len(shards) keys.
//
// The maps are keyed by a seeded hash of the key's last 64 bytes — all of a
// scope or a partition, the signature of an incoming token — and each set
// holds its whole key, compared on every hit: hashing 64 bytes instead of a
// 1.5 KB token, and a key whose tail matches another's (chosen or by
// chance) only takes the full path.
type frontTable struct {
	seed     maphash.Seed
	perShard int
	mu       sync.Mutex   // writers
	swept    atomic.Int64 // unix seconds of the last sweep of a full shard
	shards   []atomic.Pointer[map[uint64]*frontSet]
}

// frontSet holds the entries under one key; immutable, replaced whole.
type frontSet struct {
	key     string
	entries []*frontEntry
}

type frontEntry struct {
	scopes []string // normalized; nil in the app table, whose key is the scope
	res    Result   // Metadata: an L1 hit
	// deadline (unix seconds) is the earliest of the expiry margin, the
	// refresh time, the L1 entry's end and the account's: past it, the
	// full path decides. It is read on the wall clock, as the full path
	// reads it.
	deadline int64
	h        cachestore.Handle
	account  cachestore.Handle
	user     bool // account is checked
}

// newFrontTable returns a table of at most max keys in n shards (a power
// of two).
func newFrontTable(max, n int) frontTable {
	return frontTable{seed: maphash.MakeSeed(), perShard: max / n, shards: make([]atomic.Pointer[map[uint64]*frontSet], n)}
}

// hash is the map key of key; its low bits pick the shard.
func (t *frontTable) hash(key string) (uint64, *atomic.Pointer[map[uint64]*frontSet]) {
	h := maphash.String(t.seed, key[max(0, len(key)-64):])
	return h, &t.shards[h&uint64(len(t.shards)-1)]
}

// find returns key's entry for scopes (nil for app tokens), or nil.
func (t *frontTable) find(key string, scopes []string) *frontEntry {
	h, p := t.hash(key)
	m := p.Load()
	if m == nil {
		return nil
	}
	set := (*m)[h]
	if set == nil || set.key != key {
		return nil
	}
	for _, fe := range set.entries {
		if slices.Equal(fe.scopes, scopes) {
			return fe
		}
	}
	return nil
}

// store adds or replaces key's entry for fe.scopes. A full shard admits a
// new key only after dropping what can no longer be served, or else by
// starting over — at most once every frontSweep seconds, so that more hot
// keys than the table holds do not make every miss copy a shard; in
// between, a key that finds no room takes the full path.
func (t *frontTable) store(key string, fe *frontEntry, nowUnix int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, p := t.hash(key)
	var old map[uint64]*frontSet
	if op := p.Load(); op != nil {
		old = *op
	}
	prev, known := old[h]
	if known && prev.key != key { // another key with the same tail: replaced
		prev = nil
	}
	sweep := !known && len(old) >= t.perShard
	if sweep {
		if nowUnix-t.swept.Load() < frontSweep {
			return
		}
		t.swept.Store(nowUnix)
	}
	m := make(map[uint64]*frontSet, len(old)+1)
	for k, v := range old {
		if !sweep || v.live(nowUnix) {
			m[k] = v
		}
	}
	if sweep && len(m) >= t.perShard {
		clear(m)
	}
	set := &frontSet{key: key, entries: []*frontEntry{fe}}
	if prev != nil {
		set.key = prev.key
		for _, e := range prev.entries {
			if len(set.entries) < maxFrontSet && !slices.Equal(e.scopes, fe.scopes) && e.h.Valid() {
				set.entries = append(set.entries, e)
			}
		}
	} else {
		set.key = strings.Clone(key)
	}
	m[h] = set
	p.Store(&m)
}

// room reports whether store would take key now (a hint, read without
// the lock): a full path hit then looks up the handles and builds the entry
// only when it can be kept.
func (t *frontTable) room(key string, nowUnix int64) bool {
	h, p := t.hash(key)
	m := p.Load()
	if m == nil || len(*m) < t.perShard {
		return true
	}
	if _, ok := (*m)[h]; ok {
		return true
	}
	return nowUnix-t.swept.Load() >= frontSweep
}

// live reports whether some entry of the set can still be served.
func (s *frontSet) live(nowUnix int64) bool {
	for _, e := range s.entries {
		if e.h.Valid() && nowUnix < e.deadline {
			return true
		}
	}
	return false
}

// frontUsable reports whether fe can be served now, and marks its L1
// entries used (eviction spares them as it spares what is read).
func (a *TokenAcquirer) frontUsable(fe *frontEntry) bool {
	if !fe.h.Use() || (fe.user && !fe.account.Use()) {
		return false
	}
	if a.wall != nil {
		return a.wall.UnixNano() < fe.deadline*int64(time.Second)
	}
	return a.clock.Now().Unix() < fe.deadline
}

// frontServed records a front hit as the full path records an L1 hit.
func (a *TokenAcquirer) frontServed(ctx context.Context, kind cachekey.Kind, fe *frontEntry, scopes []string) {
	a.metrics.Acquired(ctx, kind, uint8(SourceCache), uint8(CacheLevelL1), 0)
	if a.opts.OnToken != nil {
		a.opts.OnToken(ctx, TokenEvent{Kind: kind.String(), Scopes: slices.Clone(scopes), Metadata: fe.res.Metadata})
	}
}

// frontStore keeps an L1 hit in the front table of its kind, when its L1
// entries can be tracked (the cache is, or is tiered over, the library's
// Memory). key is the entry's cache key (kb).
func (a *TokenAcquirer) frontStore(r *request, scopes []string, key []byte, e *cacheentry.Token, res Result, now time.Time) {
	if a.opts.DPoP != "" && a.opts.DPoP != "off" {
		return
	}
	var t *frontTable
	var fkey string
	var fscopes []string
	switch r.kind {
	case cachekey.App:
		if len(scopes) != 1 {
			return
		}
		t, fkey = &a.front, scopes[0]
	case cachekey.OBO:
		t, fkey, fscopes = &a.oboFront, r.assertion, scopes
	case cachekey.User:
		t, fkey, fscopes = &a.userFront, r.partition, scopes
	default:
		return
	}
	if old := t.find(fkey, fscopes); (old != nil && a.frontUsable(old)) || !t.room(fkey, now.Unix()) {
		return
	}
	l1 := a.l1()
	if l1 == nil {
		return
	}
	v, h, ok := l1.LookupHandle(unsafe.String(unsafe.SliceData(key), len(key)), now)
	if !ok || !h.Valid() {
		return
	}
	// The handle must name the value e was read from: the entry may have
	// been replaced since (a claims or forced refresh storing its token),
	// and the front would then serve the old token on the new entry's
	// handle.
	if cur, valid := cacheentry.DecodeToken(v, false, true); !valid || cur.AccessToken != e.AccessToken ||
		cur.ExpiresOn != e.ExpiresOn || cur.RefreshOn != e.RefreshOn {
		return
	}
	// Never past the L1 entry's own end (TieredOptions.MaxL1TTL): the full
	// path would read L2 then.
	fe := &frontEntry{res: res, deadline: min(e.ExpiresOn-int64(a.opts.ExpiryBuffer/time.Second), h.Expires().Unix()), h: h}
	fe.res.Metadata = Metadata{Source: SourceCache, CacheLevel: CacheLevelL1}
	if e.RefreshOn != 0 {
		fe.deadline = min(fe.deadline, e.RefreshOn)
	}
	if r.kind == cachekey.User {
		var buf [256]byte
		rk := a.keys.AppendRefresh(buf[:0], r.kind, r.partition)
		_, acc, ok := l1.LookupHandle(unsafe.String(unsafe.SliceData(rk), len(rk)), now)
		if !ok || !acc.Valid() {
			return
		}
		fe.account, fe.user = acc, true
		fe.deadline = min(fe.deadline, acc.Expires().Unix())
	}
	if fscopes != nil {
		fe.scopes = slices.Clone(fscopes)
	}
	t.store(fkey, fe, now.Unix())
}

// l1 is the library's Memory the cache is or is tiered over (nil: another
// store, whose entries the fronts cannot follow).
func (a *TokenAcquirer) l1() *cachestore.Memory {
	if a.mem != nil {
		return a.mem
	}
	if tr, ok := a.cache.(*cachestore.Tiered); ok {
		return tr.L1()
	}
	return nil
}
