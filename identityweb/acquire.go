package identityweb

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// request is one acquisition, built once by the public method.
// The scopes travel beside it, not in it: escape analysis is not
// field-sensitive, and the request's strings reach the miss path, which
// would move every caller's scope array to the heap (an allocation per hit).
type request struct {
	kind      cachekey.Kind
	partition string // digest of the session key or incoming token
	assertion string // the incoming token (OBO, starting a long-running session)
	opts      callOptions
}

// acquire serves a token from the cache or, on a miss, from the provider.
// A hit in the in-memory L1 allocates nothing (the access token shares the
// cached bytes; see lookup).
func (a *TokenAcquirer) acquire(ctx context.Context, scopes []string, r request) (Result, error) {
	start := a.clock.Now()
	if r.opts.err != nil {
		return Result{}, r.opts.err
	}
	tenant, err := a.tenant(&r.opts)
	if err != nil {
		return Result{}, err
	}
	// The key is built on the stack; it becomes a string only off the
	// in-memory hit path.
	var buf [512]byte
	kb := a.keys.AppendToken(buf[:0], r.kind, tenant, scopes, r.partition)
	if r.opts.params != nil { // the resource and parameters change the answer
		kb = append(append(kb, '|'), r.opts.params.Encode()...)
	}
	var pop *dpopState
	if a.opts.DPoP != "" {
		if pop, err = a.dpopFor(ctx); err != nil {
			return Result{}, err
		}
		if pop != nil { // a token bound to another key must never be served
			kb = append(append(kb, "|dpop="...), pop.signer.JKT()...)
		}
	}
	var fb fallback
	var inCache time.Duration
	reason := RefreshNoCachedToken
	switch {
	case r.opts.force:
		reason = RefreshForced
	case r.opts.claims != "":
		reason = RefreshClaims
	default:
		e, level, ok, now := a.lookup(ctx, kb, start)
		inCache = now.Sub(start)
		if ok && r.kind.HasAccount() {
			if has, _ := a.hasAccount(ctx, r.kind, r.partition, now); !has {
				// Signed out (elsewhere, or where the token list could not
				// be read), or the cache cannot tell: a user's access
				// tokens never outlive the account (the miss path waits
				// for the shared cache: retry later).
				ok = false
			}
		}
		if ok {
			if now.Unix() < e.ExpiresOn-int64(a.opts.ExpiryBuffer/time.Second) {
				if e.RefreshOn != 0 && now.Unix() >= e.RefreshOn {
					s := a.slow(&r, tenant, scopes)
					s.dpop = pop
					a.refreshInBackground(s, string(kb))
				}
				res := resultFrom(&e)
				res.Metadata = Metadata{Source: SourceCache, CacheLevel: level, DurationInCache: inCache, DurationTotal: inCache}
				if level == CacheLevelL1 && pop == nil && r.opts.plain() {
					a.frontStore(&r, scopes, kb, &e, res, now)
				}
				a.metrics.Acquired(ctx, r.kind, uint8(SourceCache), uint8(level), res.Metadata.DurationTotal)
				if a.opts.OnToken != nil {
					a.opts.OnToken(ctx, TokenEvent{Kind: r.kind.String(), Scopes: slices.Clone(scopes), Metadata: res.Metadata})
				}
				return res, nil
			}
			fb = fallback{entry: e, level: level, ok: true}
			reason = RefreshExpired
		}
		if a.mem != nil { // the in-memory read is timed only when it did not answer
			inCache = a.clock.Now().Sub(start)
		}
	}
	s := a.slow(&r, tenant, scopes)
	s.dpop = pop
	res, err := a.miss(ctx, s, string(kb), fb, reason, start, inCache)
	if a.opts.OnToken != nil {
		a.opts.OnToken(ctx, TokenEvent{Kind: r.kind.String(), Scopes: slices.Clone(scopes), Metadata: res.Metadata, Err: err})
	}
	return res, err
}

// hasAccount reports whether the cache still holds the account (refresh
// token entry) of a user or long-running partition; err (with false) when
// the cache cannot tell (getKnown). The in-memory L1 is read with the key
// on the stack, as lookup does.
func (a *TokenAcquirer) hasAccount(ctx context.Context, kind cachekey.Kind, partition string, now time.Time) (bool, error) {
	var buf [256]byte
	kb := a.keys.AppendRefresh(buf[:0], kind, partition)
	if a.mem != nil {
		_, ok := a.mem.LookupAt(unsafe.String(unsafe.SliceData(kb), len(kb)), now)
		return ok, nil
	}
	_, ok, err := a.getKnown(ctx, string(kb))
	return ok, err
}

// getKnown reads key as Get does, but says when the cache cannot tell
// whether it holds key: a store error without a value (a shared level that
// cannot be reached and no local copy; cachestore.KnownGetter). Checks that
// end a session on "not found" use it, so an outage is not a sign-out.
func (a *TokenAcquirer) getKnown(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	var ok bool
	var err error
	if a.known != nil {
		v, ok, err = a.known.GetKnown(ctx, key)
	} else {
		v, ok, err = a.cache.Get(ctx, key)
	}
	if ok {
		return v, true, nil
	}
	return nil, false, err
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
	params    url.Values // resource and other token parameters (read only)
	dpop      *dpopState // token requests carry a DPoP proof
}

// form completes a grant's form with what every grant carries.
func (s *slowReq) form(f url.Values) url.Values {
	if s.claims != "" {
		f.Set("claims", s.claims)
	}
	for k, v := range s.params {
		f[k] = v
	}
	return f
}

func (a *TokenAcquirer) slow(r *request, tenant string, scopes []string) slowReq {
	return slowReq{kind: r.kind, tenant: tenant, scopes: strings.Join(scopes, " "), partition: r.partition,
		assertion: r.assertion, force: r.opts.force || r.opts.claims != "", claims: r.opts.claims, params: r.opts.params}
}

// lookup reads and decodes the token entry under key. It returns the time
// after the read: start itself for the in-memory L1, whose hit is read
// with one clock read and the key left on the caller's stack (timing a
// hit of a few hundred nanoseconds would cost another read), and a second
// clock read for other stores.
func (a *TokenAcquirer) lookup(ctx context.Context, key []byte, start time.Time) (cacheentry.Token, CacheLevel, bool, time.Time) {
	var b []byte
	var ok, alias bool
	level := CacheLevelL1
	switch {
	case a.mem != nil:
		// LookupAt does not retain the key, so it may point at the stack.
		b, ok = a.mem.LookupAt(unsafe.String(unsafe.SliceData(key), len(key)), start)
		if ok {
			return a.decode(ctx, b, level, start, true)
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
		alias = cl == cachestore.LevelL1 && a.l1Memory
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
	return a.decode(ctx, b, level, a.clock.Now(), alias)
}

// decode decodes a cached token entry read at now; a corrupt one is a miss.
// alias lets the access token share b's bytes: only for values of the
// library's own cachestore.Memory, which never modifies a value after Set
// (the Store contract promises it of every store, but a store written
// elsewhere could break it and change a token already returned).
func (a *TokenAcquirer) decode(ctx context.Context, b []byte, level CacheLevel, now time.Time, alias bool) (cacheentry.Token, CacheLevel, bool, time.Time) {
	e, valid := cacheentry.DecodeToken(b, false, alias)
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
	if until, cause, ok := a.throttle.get(key, now); ok {
		te := &ThrottledError{RetryAfter: until, Cause: cause}
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
			a.throttle.set(key, ra.until, ra.cause)
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
