package identityweb

import (
	"context"
	"strings"
	"sync"
	"time"

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
	ctx     context.Context // cancelled by close
	cancel  context.CancelFunc
	closed  bool
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
	b.ctx, b.cancel = context.WithCancel(context.Background())
}

// close cancels the refreshes in flight and waits for them; no refresh
// starts after it (start and close take the same lock, so one cannot slip
// in between the cancel and the wait).
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.cancel()
	b.mu.Unlock()
	b.wg.Wait()
}

// refreshInBackground starts one background refresh of key unless one is
// running or backing off. It copies what it needs: nothing of the caller's
// is retained.
func (a *TokenAcquirer) refreshInBackground(s slowReq, key string) {
	now := a.clock.Now()
	b := &a.bg
	b.mu.Lock()
	if b.closed || b.running[key] || now.Before(b.backoff[key].next) {
		b.mu.Unlock()
		return
	}
	b.running[key] = true
	b.wg.Add(1)
	b.mu.Unlock()
	s.force = true
	go func() {
		defer b.wg.Done()
		ctx, cancel := context.WithTimeout(b.ctx, a.opts.BackgroundRefreshTimeout)
		defer cancel()
		start := a.clock.Now()
		f, err := a.fetch(ctx, s, key)
		if a.opts.OnToken != nil {
			ev := TokenEvent{Kind: s.kind.String(), Scopes: strings.Fields(s.scopes), Background: true, Err: err,
				Metadata: Metadata{Source: SourceIdentityProvider, RefreshReason: RefreshProactive, DurationTotal: a.clock.Now().Sub(start)}}
			if f != nil {
				ev.Metadata.DurationInHTTP = f.inHTTP
			}
			a.opts.OnToken(ctx, ev)
		}
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

// throttleState remembers Retry-After, and the answer that carried it,
// per request key.
type throttleState struct {
	mu    sync.Mutex
	until map[string]throttled
}

type throttled struct {
	until time.Time
	cause error
}

func (t *throttleState) init() { t.until = map[string]throttled{} }

func (t *throttleState) get(key string, now time.Time) (time.Time, error, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.until[key]
	if !ok {
		return time.Time{}, nil, false
	}
	if !now.Before(u.until) {
		delete(t.until, key)
		return time.Time{}, nil, false
	}
	return u.until, u.cause, true
}

func (t *throttleState) set(key string, until time.Time, cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.until) > 100_000 {
		clear(t.until)
	}
	t.until[key] = throttled{until, cause}
}
