package identityweb

import (
	"context"
	"sync"
	"time"

	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// background tracks proactive refreshes: at most one in flight per key, and
// after a failure an exponential back-off (30 s doubling to 5 min) before
// the next attempt, so an outage is not hammered by every cache hit.
type background struct {
	mu      sync.Mutex
	running map[string]bool
	backoff map[string]backoffState
	wg      sync.WaitGroup
}

type backoffState struct {
	next  time.Time
	delay time.Duration
}

const (
	minBackoff = 30 * time.Second
	maxBackoff = 5 * time.Minute
)

func (b *background) init() {
	b.running = map[string]bool{}
	b.backoff = map[string]backoffState{}
}

// refreshInBackground starts one background refresh of key unless one is
// running or backing off. It copies what it needs: nothing of the caller's
// is retained.
func (a *TokenAcquirer) refreshInBackground(kind cachekey.Kind, tenant string, scopes []string, partition, assertion, key string, o *callOptions) {
	now := a.clock.Now()
	b := &a.bg
	b.mu.Lock()
	if b.running[key] || now.Before(b.backoff[key].next) {
		b.mu.Unlock()
		return
	}
	b.running[key] = true
	b.mu.Unlock()
	s := a.slow(kind, tenant, scopes, partition, assertion, o)
	s.force = true
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.BackgroundRefreshTimeout)
		defer cancel()
		_, err := a.fetch(ctx, s, key)
		b.mu.Lock()
		delete(b.running, key)
		if err == nil {
			delete(b.backoff, key)
			b.mu.Unlock()
			return
		}
		st := b.backoff[key]
		st.delay = min(max(st.delay*2, minBackoff), maxBackoff)
		st.next = a.clock.Now().Add(st.delay)
		if len(b.backoff) > 100_000 {
			clear(b.backoff)
		}
		b.backoff[key] = st
		b.mu.Unlock()
		a.metrics.BackgroundFailure(ctx, s.kind)
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: proactive token refresh failed; the cached token is still served",
			telemetry.Str("kind", s.kind.String()), telemetry.Err(err), telemetry.Str("next_attempt_in", st.delay.String()))
	}()
}

// throttleState remembers Retry-After per request key.
type throttleState struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func (t *throttleState) init() { t.until = map[string]time.Time{} }

func (t *throttleState) get(key string, now time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.until[key]
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(u) {
		delete(t.until, key)
		return time.Time{}, false
	}
	return u, true
}

func (t *throttleState) set(key string, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.until) > 100_000 {
		clear(t.until)
	}
	t.until[key] = until
}
