package identityweb

import (
	"context"
	"errors"
	"strings"
	"time"
	"unsafe"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// acquire serves a token from the cache or, on a miss, from the provider.
// scopes are normalized and must not be retained: a hit in the in-memory L1
// allocates nothing (the access token shares the cached bytes).
func (a *TokenAcquirer) acquire(ctx context.Context, kind cachekey.Kind, tenant string, scopes []string, partition, assertion string, o callOptions) (Result, error) {
	start := a.clock.Now()
	// The key is built on the stack; it becomes a string only off the
	// in-memory hit path.
	var buf [512]byte
	kb := a.keys.AppendToken(buf[:0], kind, tenant, scopes, partition)
	var fb fallback
	var inCache time.Duration
	reason := RefreshNoCachedToken
	switch {
	case o.force:
		reason = RefreshForced
	case o.claims != "":
		reason = RefreshClaims
	default:
		e, level, ok, now := a.lookup(ctx, kb, start)
		inCache = now.Sub(start)
		if ok {
			if now.Unix() < e.ExpiresOn-int64(a.opts.ExpiryBuffer/time.Second) {
				if e.RefreshOn != 0 && now.Unix() >= e.RefreshOn {
					a.refreshInBackground(kind, tenant, scopes, partition, assertion, string(kb), &o)
				}
				res := resultFrom(&e)
				res.Metadata = Metadata{Source: SourceCache, CacheLevel: level, DurationInCache: inCache, DurationTotal: inCache}
				a.metrics.Acquired(ctx, kind, uint8(SourceCache), uint8(level), res.Metadata.DurationTotal)
				return res, nil
			}
			fb = fallback{entry: e, level: level, ok: true}
			reason = RefreshExpired
		}
		if a.mem != nil { // the in-memory read is timed only when it did not answer
			inCache = a.clock.Now().Sub(start)
		}
	}
	return a.miss(ctx, a.slow(kind, tenant, scopes, partition, assertion, &o), string(kb), fb, reason, start, inCache)
}

// fallback is a cached token past its refresh margin but maybe still valid:
// served when the provider cannot be reached.
type fallback struct {
	entry cacheentry.Token
	level CacheLevel
	ok    bool
}

// slowReq is a request on the miss path, holding copies only.
type slowReq struct {
	kind      cachekey.Kind
	tenant    string
	scopes    string // space-separated, normalized
	partition string
	assertion string
	force     bool // skip the cache re-check inside the flight
	claims    string
}

func (a *TokenAcquirer) slow(kind cachekey.Kind, tenant string, scopes []string, partition, assertion string, o *callOptions) slowReq {
	return slowReq{kind: kind, tenant: tenant, scopes: strings.Join(scopes, " "), partition: partition,
		assertion: assertion, force: o.force || o.claims != "", claims: o.claims}
}

// lookup reads and decodes the token entry under key. It returns the time
// after the read: start itself for the in-memory L1, whose hit is read
// with one clock read and the key left on the caller's stack (timing a
// hit of a few hundred nanoseconds would cost another read), and a second
// clock read for other stores.
func (a *TokenAcquirer) lookup(ctx context.Context, key []byte, start time.Time) (cacheentry.Token, CacheLevel, bool, time.Time) {
	var b []byte
	var ok bool
	level := CacheLevelL1
	switch {
	case a.mem != nil:
		b, ok = a.mem.LookupAt(unsafe.String(unsafe.SliceData(key), len(key)), start)
		if ok {
			return a.decode(ctx, b, level, start)
		}
		return cacheentry.Token{}, CacheLevelNone, false, start
	case a.leveled != nil:
		bb, cl, found, err := a.leveled.GetLevel(ctx, string(key))
		b, ok = bb, found
		if err != nil {
			a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token cache read failed; going to the identity provider", telemetry.Err(err))
		}
		if cl == cachestore.LevelL2 {
			level = CacheLevelL2
		}
	default:
		var err error
		b, ok, err = a.cache.Get(ctx, string(key))
		if err != nil {
			a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token cache read failed; going to the identity provider", telemetry.Err(err))
		}
	}
	if !ok {
		return cacheentry.Token{}, CacheLevelNone, false, a.clock.Now()
	}
	return a.decode(ctx, b, level, a.clock.Now())
}

// decode decodes a cached token entry read at now; a corrupt one is a miss.
func (a *TokenAcquirer) decode(ctx context.Context, b []byte, level CacheLevel, now time.Time) (cacheentry.Token, CacheLevel, bool, time.Time) {
	e, valid := cacheentry.DecodeToken(b, false)
	if !valid {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: ignoring a corrupt token cache entry")
		return cacheentry.Token{}, CacheLevelNone, false, now
	}
	return e, level, true, now
}

func resultFrom(e *cacheentry.Token) Result {
	r := Result{AccessToken: e.AccessToken, TokenType: e.TokenType, ExpiresOn: time.Unix(e.ExpiresOn, 0)}
	if r.TokenType == "" {
		r.TokenType = "Bearer"
	}
	if e.ExtExpiresOn != 0 {
		r.ExtExpiresOn = time.Unix(e.ExtExpiresOn, 0)
	}
	if e.RefreshOn != 0 {
		r.RefreshOn = time.Unix(e.RefreshOn, 0)
	}
	return r
}

// fetched is the outcome of one flight to the provider.
type fetched struct {
	entry  cacheentry.Token
	inHTTP time.Duration
	cached bool // the flight found a fresh token in the cache (another flight wrote it)
	level  CacheLevel
}

func (a *TokenAcquirer) miss(ctx context.Context, s slowReq, key string, fb fallback, reason RefreshReason, start time.Time, inCache time.Duration) (Result, error) {
	now := a.clock.Now()
	if until, ok := a.throttle.get(key, now); ok {
		te := &ThrottledError{RetryAfter: until}
		if res, ok := a.serveStale(ctx, s, fb, start, te); ok {
			return res, nil
		}
		return Result{}, te
	}
	flightKey := key + "\x00" + s.claims
	if s.force {
		flightKey += "\x00f"
	}
	ch := a.flight.DoChan(flightKey, func() (any, error) {
		// The flight outlives any one caller's cancellation; the HTTP
		// client's timeout bounds it.
		fctx := context.WithoutCancel(ctx)
		return a.fetch(fctx, s, key)
	})
	var res singleflightResult
	select {
	case r := <-ch:
		res = singleflightResult{r.Val, r.Err}
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	if res.err != nil {
		err := res.err
		var ra *retryAfterError
		if errors.As(err, &ra) {
			a.throttle.set(key, ra.until)
			err = &ThrottledError{RetryAfter: ra.until, Cause: ra.cause}
		}
		if r, ok := a.serveStale(ctx, s, fb, start, err); ok {
			return r, nil
		}
		return Result{}, err
	}
	f := res.val.(*fetched)
	out := resultFrom(&f.entry)
	out.Metadata = Metadata{Source: SourceIdentityProvider, CacheLevel: CacheLevelNone, RefreshReason: reason,
		DurationInHTTP: f.inHTTP, DurationInCache: inCache}
	if f.cached {
		out.Metadata = Metadata{Source: SourceCache, CacheLevel: f.level, DurationInCache: inCache}
	}
	out.Metadata.DurationTotal = a.clock.Now().Sub(start)
	a.metrics.Acquired(ctx, s.kind, uint8(out.Metadata.Source), uint8(out.Metadata.CacheLevel), out.Metadata.DurationTotal)
	return out, nil
}

type singleflightResult struct {
	val any
	err error
}

// serveStale returns the cached token when the provider failed for a reason
// other than the user or the app itself, and the token has not truly
// expired: an outage must not fail requests that a valid token can serve.
func (a *TokenAcquirer) serveStale(ctx context.Context, s slowReq, fb fallback, start time.Time, cause error) (Result, bool) {
	if !fb.ok || errors.Is(cause, ErrInteractionRequired) || errors.Is(cause, ErrInvalidClient) {
		return Result{}, false
	}
	if !a.clock.Now().Before(time.Unix(fb.entry.ExpiresOn, 0)) {
		return Result{}, false
	}
	a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the identity provider failed; serving a cached token that is still valid",
		telemetry.Str("kind", s.kind.String()), telemetry.Err(cause))
	r := resultFrom(&fb.entry)
	r.Metadata = Metadata{Source: SourceCache, CacheLevel: fb.level, RefreshReason: RefreshExpired, Stale: true,
		DurationTotal: a.clock.Now().Sub(start)}
	a.metrics.Acquired(ctx, s.kind, uint8(SourceCache), uint8(fb.level), r.Metadata.DurationTotal)
	return r, true
}
