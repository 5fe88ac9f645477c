package identityweb

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/telemetry"
	"github.com/identityweb/go-identityweb/session"
)

// A signed-in session has a record in the token cache, keyed by its
// partition (the digest of the session key), written at sign-in and
// overwritten when the session ends (sign-out, back- or front-channel
// logout, a lifetime reached). Every signed-in request reads it: an L1 hit
// on an instance that signed the session in or has read it once, until an
// invalidation (the record changed on another instance) makes the next
// read go to L2. An ended record is kept until the session would have
// expired, so a session whose cookie lives on (gorilla's CookieStore, a
// copied cookie) is refused on every instance.
//
// An index in the cache maps the provider's session (iss, sid) and the
// user (iss, sub) to the app's sessions, so that a logout for either ends
// every matching session. Index entries expire with the sessions they name.

const (
	recordLive  = 'A'
	recordEnded = 'E'
	// maxIndexed bounds the sessions one index entry names; the oldest
	// are dropped (they still end at their lifetime).
	maxIndexed = 64
	// minEndedTTL keeps an ended record at least this long when the
	// session's deadline is unknown or near.
	minEndedTTL = time.Minute
	// indexLockWait bounds the wait for another instance's index update.
	indexLockWait = 2 * time.Second
)

func encodeRecord(state byte, deadline time.Time) []byte {
	b := make([]byte, 9)
	b[0] = state
	binary.LittleEndian.PutUint64(b[1:], uint64(deadline.Unix()))
	return b
}

// lifetimes are the session bounds of the app.
func (a *App) lifetimes() session.Lifetimes {
	return session.Lifetimes{Idle: a.opts.SessionIdleTimeout, Absolute: a.opts.SessionLifetime}
}

// sessionCheck is the answer of the per-request session check.
type sessionCheck uint8

const (
	sessionOut     sessionCheck = iota // not signed in, or no longer
	sessionIn                          // signed in, live
	sessionUnknown                     // a live record, an account the cache cannot confirm now: retry later
)

// sessionLive is the per-request check behind Account and RequireUser: the
// session's lifetimes (from the times it keeps) and its record (an L1 hit
// in the common case). A session past a lifetime is ended here: its tokens
// removed, its record ended, the session destroyed. A record the cache
// does not hold (or cannot read now) sends the user through sign-in again,
// where the provider decides. t are the session's times, now the time of
// the check.
func (a *App) sessionLive(ctx context.Context, partition string, t session.Times, now time.Time) bool {
	l := a.lifetimes()
	if l.Expired(t, now) {
		if !t.SignedIn.IsZero() {
			a.endSession(ctx, partition, l.Deadline(t.SignedIn))
			a.acq.logger.LogAttrs(ctx, telemetry.LevelDebug, "identityweb: a session reached its lifetime and was ended")
		}
		a.sessions.SignOut(ctx)
		return false
	}
	var v []byte
	var ok bool
	var buf [256]byte
	key := a.acq.keys.AppendSessionRecord(buf[:0], partition)
	if a.acq.mem != nil { // LookupAt does not retain the key (on the stack); no second clock read
		v, ok = a.acq.mem.LookupAt(unsafe.String(unsafe.SliceData(key), len(key)), now)
	} else {
		v, ok, _ = a.acq.cache.Get(ctx, string(key))
	}
	if !ok || len(v) != 9 {
		// Unknown here — its record ended on another instance (the
		// invalidation dropped this instance's copy), evicted, expired,
		// or this instance restarted — and the shared level did not
		// answer: sign in again, which the provider decides.
		return false
	}
	if v[0] != recordLive {
		a.sessions.SignOut(ctx)
		return false
	}
	return true // the caller touches the session once it is served
}

// touch records the session's activity when LastSeen is older than the
// lifetimes' TouchEvery.
func (a *App) touch(ctx context.Context, l session.Lifetimes, t session.Times, now time.Time) {
	if every := l.TouchEvery(); every > 0 && now.Sub(t.LastSeen) >= every {
		a.sessions.SetTimes(ctx, session.Times{SignedIn: t.SignedIn, LastSeen: now})
	}
}

// endSession ends the session of partition on every instance: its record
// says so until deadline (the session's own end), and its tokens are
// removed. Both go through the cache's durable writes and deletes.
func (a *App) endSession(ctx context.Context, partition string, deadline time.Time) {
	now := a.acq.clock.Now()
	ttl := deadline.Sub(now)
	if deadline.IsZero() || ttl < minEndedTTL {
		ttl, deadline = max(minEndedTTL, a.opts.SessionLifetime), now.Add(max(minEndedTTL, a.opts.SessionLifetime))
	}
	ctx = context.WithoutCancel(ctx)
	if err := a.acq.cache.Set(ctx, a.acq.keys.SessionRecord(partition), encodeRecord(recordEnded, deadline), ttl); err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: recording an ended session failed", telemetry.Err(err))
	}
	if err := a.acq.removePartition(ctx, cachekey.User, partition); err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: removing an ended session's tokens failed", telemetry.Err(err))
	}
}

// indexed is one app session an index entry names: its partition and when
// it ends (unix seconds).
type indexed struct {
	P string `json:"p"`
	E int64  `json:"e"`
}

// startSession records a session that just signed in: its record (live
// until deadline) and its place in the indexes of the provider session
// (iss, sid) and of the user (iss, sub). It reports false when the
// provider session was logged out already (a logout that arrived while
// this sign-in was completing): the session is then ended.
func (a *App) startSession(ctx context.Context, partition string, iss, sid, sub string, deadline time.Time) bool {
	now := a.acq.clock.Now()
	ttl := deadline.Sub(now)
	if err := a.acq.cache.Set(ctx, a.acq.keys.SessionRecord(partition), encodeRecord(recordLive, deadline), ttl); err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: recording a session failed", telemetry.Err(err))
	}
	me := indexed{P: partition, E: deadline.Unix()}
	if sub != "" {
		a.addToIndex(ctx, a.acq.keys.ProviderSubject(iss, sub), me)
	}
	if sid == "" {
		return true
	}
	a.addToIndex(ctx, a.acq.keys.ProviderSession(iss, sid), me)
	if _, ended, _ := a.acq.getFresh(ctx, a.acq.keys.EndedProviderSession(iss, sid)); ended {
		a.endSession(ctx, partition, deadline)
		return false
	}
	return true
}

// lockIndex takes the cache's distributed lock on an index key when the
// cache can lock. reached is false when it can lock but the shared level
// did not answer (Redis down): what the index holds there is unknown.
func (a *App) lockIndex(ctx context.Context, key string) (release func(), reached bool) {
	l, ok := a.acq.cache.(cachestore.Locker)
	if !ok {
		return func() {}, true
	}
	lctx, cancel := context.WithTimeout(ctx, indexLockWait)
	defer cancel()
	u, err := l.Lock(lctx, key, 10*time.Second)
	switch {
	case errors.Is(err, cachestore.ErrNoLocker):
		return func() {}, true // one instance's cache: nothing to lock
	case err != nil:
		return func() {}, false
	}
	return func() { u.Unlock(context.WithoutCancel(ctx)) }, true
}

// readIndex reads the index under key from the shared cache. The error
// says the shared level could not be read and holds no local copy: what
// the index lists is unknown, not empty.
func (a *App) readIndex(ctx context.Context, key string) ([]indexed, error) {
	var list []indexed
	b, ok, err := a.acq.getFresh(ctx, key)
	if !ok && errors.Is(err, cachestore.ErrL2Unavailable) {
		return nil, err
	}
	if ok && json.Unmarshal(b, &list) != nil {
		list = nil
	}
	return list, nil
}

// addToIndex adds me to the index under key: a read-modify-write under the
// distributed lock, dropping expired entries, bounded, expiring with its
// last session. When the shared cache cannot be locked or read (Redis
// down), the addition waits with the kept logouts and is made once it
// answers: an index written without reading it would replace, when Redis
// is back, the sessions other instances listed there, and a logout would
// miss them.
func (a *App) addToIndex(ctx context.Context, key string, me indexed) {
	if a.indexNow(ctx, key, me) {
		return
	}
	a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the shared cache is unreachable; the session is indexed for logouts when it answers")
	a.keepRetry(ctx, func(r *logoutRetries) {
		if r.indexes == nil {
			r.indexes = map[indexJob]time.Time{}
		}
		if len(r.indexes) >= maxPendingLogouts {
			delete(r.indexes, oldestOf(r.indexes))
			a.acq.logger.LogAttrs(ctx, telemetry.LevelError, "identityweb: too many sessions waiting for the shared cache to be indexed; the oldest was dropped")
		}
		r.indexes[indexJob{key, me}] = time.Now()
	})
}

// indexNow is addToIndex's read-modify-write; false when the shared cache
// could not be locked or read (nothing was written).
func (a *App) indexNow(ctx context.Context, key string, me indexed) bool {
	release, reached := a.lockIndex(ctx, key)
	defer release()
	if !reached {
		return false
	}
	list, err := a.readIndex(ctx, key)
	if err != nil {
		return false
	}
	now := a.acq.clock.Now().Unix()
	out := make([]indexed, 0, len(list)+1)
	last := me.E
	for _, e := range list {
		if e.E > now && e.P != me.P {
			out = append(out, e)
			last = max(last, e.E)
		}
	}
	out = append(out, me)
	if len(out) > maxIndexed {
		out = out[len(out)-maxIndexed:]
	}
	b, _ := json.Marshal(out)
	if err := a.acq.cache.Set(ctx, key, b, time.Duration(last-now)*time.Second); err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: indexing a session failed", telemetry.Err(err))
	}
	return true
}

// logout is a provider's logout: a session (sid) or every session of a user
// (sub only), at the issuer.
type logout struct {
	iss, sid, sub string
	// anonymous: a front-channel request, which anyone can send. It
	// leaves no marker for a provider session the app does not know, and
	// takes at most maxAnonymousPending places among the kept logouts, so
	// what an anonymous client can create stays bounded.
	anonymous bool
}

// endProviderSession ends every app session of a provider logout. It
// reports false when the shared cache could not be reached, so the index
// is unknown: the caller keeps the logout and tries again (see
// logoutRetries).
func (a *App) endProviderSession(ctx context.Context, lo logout) bool {
	ctx = context.WithoutCancel(ctx)
	key := a.acq.keys.ProviderSubject(lo.iss, lo.sub)
	mark := func() {}
	if lo.sid != "" {
		key = a.acq.keys.ProviderSession(lo.iss, lo.sid)
		// Sign-ins of this provider session that complete from now on end
		// at once (a durable write: it reaches L2 when L2 is back).
		mark = func() {
			ttl := max(minEndedTTL, a.opts.SessionLifetime)
			a.acq.cache.Set(ctx, a.acq.keys.EndedProviderSession(lo.iss, lo.sid), []byte{recordEnded}, ttl)
		}
		if !lo.anonymous {
			mark()
		}
	}
	release, reached := a.lockIndex(ctx, key)
	defer release()
	if !reached {
		return false
	}
	sessions, err := a.readIndex(ctx, key)
	if err != nil {
		return false
	}
	if lo.anonymous && len(sessions) > 0 {
		mark()
	}
	for _, e := range sessions {
		a.endSession(ctx, e.P, time.Unix(e.E, 0))
	}
	return true
}

// logoutRetries keeps provider logouts that could not be applied because
// the shared cache was unreachable, and applies them once it answers: a
// logout is never dropped while the app runs. Bounded: logouts come only
// from validly signed tokens or known session ids, and past the bound the
// oldest are dropped (with an error log).
type logoutRetries struct {
	mu        sync.Mutex
	pending   map[logout]time.Time   // when it arrived
	indexes   map[indexJob]time.Time // sessions to index, since when
	anonymous int                    // front-channel logouts among them
	running   bool
	stop      chan struct{}
	done      sync.WaitGroup
	closed    bool
}

// indexJob is a session's addition to an index, waiting for the shared
// cache.
type indexJob struct {
	key string
	me  indexed
}

const (
	maxPendingLogouts   = 10_000
	maxAnonymousPending = 1_000
	logoutRetryEvery    = 200 * time.Millisecond
)

// applyLogout ends the sessions of lo now, or keeps it for the retries.
func (a *App) applyLogout(ctx context.Context, lo logout) {
	if a.endProviderSession(ctx, lo) {
		return
	}
	a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the shared cache is unreachable; the logout is kept and applied when it answers")
	a.keepRetry(ctx, func(r *logoutRetries) {
		if r.pending == nil {
			r.pending = map[logout]time.Time{}
		}
		if lo.anonymous {
			if r.anonymous >= maxAnonymousPending {
				return // anonymous requests never push out the provider's signed ones
			}
			if _, dup := r.pending[lo]; !dup {
				r.anonymous++
			}
		}
		if len(r.pending) >= maxPendingLogouts {
			r.drop(oldestOf(r.pending))
			a.acq.logger.LogAttrs(ctx, telemetry.LevelError, "identityweb: too many logouts waiting for the shared cache; the oldest was dropped")
		}
		r.pending[lo] = time.Now()
	})
}

// keepRetry records work for the retries with add (under r.mu) and starts
// them if they are not running. After Close it records nothing.
func (a *App) keepRetry(ctx context.Context, add func(r *logoutRetries)) {
	r := &a.logouts
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if r.stop == nil {
		r.stop = make(chan struct{})
	}
	add(r)
	if !r.running {
		r.running = true
		r.done.Add(1)
		go a.retryLogouts()
	}
}

func (a *App) retryLogouts() {
	r := &a.logouts
	defer r.done.Done()
	tick := time.NewTicker(logoutRetryEvery)
	defer tick.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		// Index additions first: a logout kept meanwhile must find the
		// sessions signed in before it.
		r.mu.Lock()
		jobs := make([]indexJob, 0, len(r.indexes))
		for j := range r.indexes {
			jobs = append(jobs, j)
		}
		r.mu.Unlock()
		reachable := true
		for _, j := range jobs {
			if !a.indexNow(context.Background(), j.key, j.me) {
				reachable = false
				break // still unreachable: wait for the next tick
			}
			r.mu.Lock()
			delete(r.indexes, j)
			r.mu.Unlock()
		}
		if reachable {
			r.mu.Lock()
			batch := make([]logout, 0, len(r.pending))
			for lo := range r.pending {
				batch = append(batch, lo)
			}
			r.mu.Unlock()
			for _, lo := range batch {
				if !a.endProviderSession(context.Background(), lo) {
					break
				}
				r.mu.Lock()
				r.drop(lo)
				r.mu.Unlock()
			}
		}
		r.mu.Lock()
		if len(r.pending) == 0 && len(r.indexes) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// drop removes lo from the pending logouts; r.mu is held.
func (r *logoutRetries) drop(lo logout) {
	if _, ok := r.pending[lo]; ok {
		delete(r.pending, lo)
		if lo.anonymous {
			r.anonymous--
		}
	}
}

// closeLogouts stops the retries; the logouts and index additions still
// waiting are reported.
func (a *App) closeLogouts() (logouts, indexes int) {
	r := &a.logouts
	r.mu.Lock()
	r.closed = true
	if r.stop != nil {
		close(r.stop)
	}
	logouts, indexes = len(r.pending), len(r.indexes)
	r.mu.Unlock()
	r.done.Wait()
	return logouts, indexes
}

// PendingLogouts is the number of provider logouts (back- or front-channel)
// that arrived while the shared cache was unreachable and wait for it; they
// are applied, on every instance, once it answers.
func (a *App) PendingLogouts() int {
	a.logouts.mu.Lock()
	defer a.logouts.mu.Unlock()
	return len(a.logouts.pending)
}

// oldestOf returns the key of m's earliest time (the kept work to drop
// first when the retries are full).
func oldestOf[K comparable](m map[K]time.Time) K {
	var oldest K
	var at time.Time
	for k, t := range m {
		if at.IsZero() || t.Before(at) {
			oldest, at = k, t
		}
	}
	return oldest
}
