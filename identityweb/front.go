package identityweb

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
)

// The front: app tokens asked for with no options (the common daemon and
// web API call, ForApp(ctx, scope)) are kept decoded, by scope, beside a
// handle on their L1 cache entry. A hit is then one map read, one clock
// read and an atomic load — what a map of oauth2.ReuseTokenSource costs —
// instead of building the cache key, hashing it and decoding the entry.
//
// Coherence is the L1's: a front entry is used only while its L1 entry is
// the one it was built from (cachestore.Handle: removed, replaced, evicted,
// cleared or invalidated by another instance makes it invalid), and only
// until the token's expiry margin or refresh time, after which the full
// path serves it and refreshes it. So the front never serves what the L1
// would not.

// maxFront bounds the front; scopes beyond it take the full path.
const maxFront = 1024

// frontTable is the front's map: copy-on-write shards, so a hit is an
// atomic load and a map read with no write to shared memory (readers on
// several cores do not bounce a lock's cache line), and an insert copies
// one shard of at most maxFront/len(shards) entries.
type frontTable struct {
	seed   maphash.Seed
	n      atomic.Int32
	mu     sync.Mutex // writers
	shards [64]atomic.Pointer[map[string]*frontEntry]
}

func (t *frontTable) shard(scope string) *atomic.Pointer[map[string]*frontEntry] {
	return &t.shards[maphash.String(t.seed, scope)%uint64(len(t.shards))]
}

func (t *frontTable) load(scope string) *frontEntry {
	if m := t.shard(scope).Load(); m != nil {
		return (*m)[scope]
	}
	return nil
}

// store adds or replaces scope's entry, within maxFront entries.
func (t *frontTable) store(scope string, fe *frontEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.shard(scope)
	old := p.Load()
	var m map[string]*frontEntry
	if old == nil {
		m = map[string]*frontEntry{}
	} else {
		if _, ok := (*old)[scope]; !ok && t.n.Load() >= maxFront {
			return
		}
		m = make(map[string]*frontEntry, len(*old)+1)
		for k, v := range *old {
			if v.h.Valid() { // entries whose L1 value is gone leave as the shard is copied
				m[k] = v
			}
		}
	}
	m[scope] = fe
	if old != nil {
		t.n.Add(int32(len(m) - len(*old)))
	} else {
		t.n.Add(1)
	}
	p.Store(&m)
}

type frontEntry struct {
	res       Result // Metadata: an L1 hit
	staleAt   int64  // unix seconds: past it, the full path decides
	refreshOn int64
	h         cachestore.Handle
}

// frontHit serves an app token from the front.
func (a *TokenAcquirer) frontHit(ctx context.Context, scope string) (Result, bool) {
	fe := a.front.load(scope)
	if fe == nil || !fe.h.Valid() {
		return Result{}, false
	}
	now := a.clock.Now().Unix()
	if now >= fe.staleAt || (fe.refreshOn != 0 && now >= fe.refreshOn) {
		return Result{}, false
	}
	a.metrics.Acquired(ctx, cachekey.App, uint8(SourceCache), uint8(CacheLevelL1), 0)
	if a.opts.OnToken != nil {
		a.opts.OnToken(ctx, TokenEvent{Kind: cachekey.App.String(), Scopes: []string{scope}, Metadata: fe.res.Metadata})
	}
	return fe.res, true
}

// frontStore keeps an L1 hit of an app token in the front, when its L1
// entry can be tracked (the cache is, or is tiered over, the library's
// Memory) and the front has room.
func (a *TokenAcquirer) frontStore(scope string, key []byte, e *cacheentry.Token, res Result, now time.Time) {
	if a.opts.DPoP != "" && a.opts.DPoP != "off" {
		return
	}
	l1 := a.mem
	if l1 == nil {
		t, ok := a.cache.(*cachestore.Tiered)
		if !ok {
			return
		}
		l1 = t.L1()
	}
	if old := a.front.load(scope); old != nil && old.h.Valid() {
		return
	}
	_, h, ok := l1.LookupHandle(unsafe.String(unsafe.SliceData(key), len(key)), now)
	if !ok {
		return
	}
	a.front.store(strings.Clone(scope), &frontEntry{res: res, staleAt: e.ExpiresOn - int64(a.opts.ExpiryBuffer/time.Second), refreshOn: e.RefreshOn, h: h})
}
