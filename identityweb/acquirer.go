package identityweb

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/discovery"
	"github.com/identityweb/go-identityweb/internal/telemetry"
	"github.com/identityweb/go-identityweb/session"
)

// TokenAcquirer acquires access tokens for downstream APIs: for the app
// (client credentials), on behalf of an API's caller (OBO), and for signed-in
// users (authorization code, then refresh tokens). Web apps, web APIs and
// daemons share it; it needs no HTTP middleware.
//
// Tokens are cached one entry per token under a key made of every parameter
// that changes the answer, so a cache hit is a map lookup. Concurrent
// requests for the same token share one request to the provider. A token
// past its refresh time is served while one background request renews it;
// a provider outage does not reach callers while cached tokens are valid.
//
// A TokenAcquirer is safe for concurrent use; create one per app
// registration and share it.
type TokenAcquirer struct {
	cfg     Config
	opts    Options
	clock   Clock
	cache   cachestore.Store
	mem     *cachestore.Memory // cache, when it is a plain Memory: the fast path
	leveled cachestore.Leveled
	known   cachestore.KnownGetter // nil: Get's errors say it
	// l1Memory: the cache is a cachestore.Tiered, whose L1 is the library's
	// Memory (values never modified after Set: hits may alias them).
	l1Memory bool
	cred     certsource.Credential
	http     *http.Client
	logger   *slog.Logger
	metrics  *telemetry.Metrics

	keys      cachekey.Builder
	endpoints *discovery.Endpoints
	flight    singleflight.Group
	obo       *cachekey.DigestMemo
	sessions  *cachekey.DigestMemo
	bg        background
	throttle  throttleState
	dpop      atomic.Pointer[dpopState]
	dpopMu    sync.Mutex
	// The fronts keep hot tokens decoded (see front.go): app tokens by
	// scope, OBO tokens by incoming token, users' by partition.
	front, oboFront, userFront frontTable
	// wall reads the system clock for the fronts in one atomic load
	// (systemTicks; nil: Options.Clock is not the system clock, the
	// fronts read it).
	wall     *tickClock
	lockSeed maphash.Seed
	locks    [256]sync.Mutex // per-partition refresh serialization (striped)
}

// NewTokenAcquirer validates cfg, fills opts' defaults and returns an
// acquirer. It does no network I/O. Without a credential (Options.Credential,
// Config.ClientCredentials or Config.ClientSecret) it still succeeds, and
// every acquisition fails with ErrConfig naming the missing setting.
func NewTokenAcquirer(cfg Config, opts Options) (*TokenAcquirer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts.fill()
	switch opts.DPoP {
	case "", "off", "auto", "required":
	default:
		return nil, &configError{"DPoP", `must be "off", "auto" or "required"`}
	}
	cred := opts.Credential
	if cred == nil {
		var err error
		if cred, err = credentialFromConfig(&cfg, opts.Logger); err != nil && !errors.Is(err, errNoCredential) {
			return nil, err
		}
	}
	a := &TokenAcquirer{
		cfg: cfg, opts: opts, clock: opts.Clock, cache: opts.Cache, cred: cred,
		http: opts.HTTPClient, logger: opts.Logger, metrics: telemetry.New(opts.MeterProvider, "github.com/identityweb/go-identityweb/identityweb"),
		obo: cachekey.NewDigestMemo(50_000), sessions: cachekey.NewDigestMemo(50_000), lockSeed: maphash.MakeSeed(),
	}
	a.front, a.oboFront, a.userFront = newFrontTable(maxAppFront, 1), newFrontTable(maxFront, 64), newFrontTable(maxFront, 64)
	if _, sys := opts.Clock.(systemClock); sys {
		a.wall = &systemTicks
	}
	a.mem, _ = opts.Cache.(*cachestore.Memory)
	a.leveled, _ = opts.Cache.(cachestore.Leveled)
	a.known, _ = opts.Cache.(cachestore.KnownGetter)
	_, a.l1Memory = opts.Cache.(*cachestore.Tiered)
	authority := cfg.Authority
	if cfg.isEntra() {
		authority = strings.TrimSuffix(cfg.Instance, "/")
	}
	ownTenant, _ := a.tenant(&callOptions{}) // what a request naming no tenant uses
	a.keys = cachekey.NewBuilder(authority, cfg.ClientID, ownTenant)
	a.endpoints = discovery.New(a.cfg.authority(), a.http, a.clock)
	a.bg.init()
	a.throttle.init()
	return a, nil
}

// Close cancels the background refreshes in flight, waits for them to
// end, and starts no new one. Acquisitions still work after Close.
func (a *TokenAcquirer) Close() error {
	a.bg.close()
	return nil
}

// ForApp returns an app token for scope, a resource's "/.default" scope
// ("api://my-api/.default"), with the client credentials grant.
func (a *TokenAcquirer) ForApp(ctx context.Context, scope string, opts ...CallOption) (Result, error) {
	if len(opts) == 0 {
		if fe := a.front.find(scope, nil); fe != nil && a.frontUsable(fe) {
			a.frontServed(ctx, cachekey.App, fe, []string{scope})
			return fe.res, nil
		}
	}
	o := collect(opts)
	if scope == "" {
		return Result{}, misuse("ForApp needs the resource's \".default\" scope")
	}
	scopes := [1]string{scope}
	return a.acquire(ctx, scopes[:], request{kind: cachekey.App, opts: o})
}

// OnBehalfOf exchanges the incoming access token of an API's caller for a
// token to a downstream API (Entra's jwt-bearer OBO grant, or RFC 8693 token
// exchange per Config.OnBehalfOfGrant). Results are cached under a digest of
// the incoming token.
func (a *TokenAcquirer) OnBehalfOf(ctx context.Context, assertion string, scopes []string, opts ...CallOption) (Result, error) {
	scopes = cachekey.NormalizeScopes(scopes)
	switch {
	case len(scopes) == 0:
		return Result{}, misuse("OnBehalfOf needs at least one scope of the downstream API")
	case assertion == "":
		return Result{}, misuse("OnBehalfOf needs the incoming access token")
	}
	if len(opts) == 0 {
		if fe := a.oboFront.find(assertion, scopes); fe != nil && a.frontUsable(fe) {
			a.frontServed(ctx, cachekey.OBO, fe, scopes)
			return fe.res, nil
		}
	}
	return a.acquire(ctx, scopes, request{kind: cachekey.OBO, partition: a.obo.Get(assertion), assertion: assertion, opts: collect(opts)})
}

// StartLongRunning begins a long-running on-behalf-of session (Identity
// Web's LongRunningWebApiSessionKey): it exchanges the incoming token like
// OnBehalfOf, keeps the result and a refresh token under a new random key,
// and returns the key. A background job then calls ContinueLongRunning with
// the key after the incoming token has expired, and EndLongRunning when it
// is done (otherwise the session ends with Options.RefreshTokenTTL).
func (a *TokenAcquirer) StartLongRunning(ctx context.Context, assertion string, scopes []string, opts ...CallOption) (string, Result, error) {
	scopes = cachekey.NormalizeScopes(scopes)
	switch {
	case len(scopes) == 0:
		return "", Result{}, misuse("StartLongRunning needs at least one scope of the downstream API")
	case assertion == "":
		return "", Result{}, misuse("StartLongRunning needs the incoming access token")
	}
	key := session.RandomToken()
	res, err := a.acquire(ctx, scopes, request{kind: cachekey.LongRunning, partition: a.sessions.Get(key), assertion: assertion, opts: collect(opts)})
	if err != nil {
		return "", Result{}, err
	}
	return key, res, nil
}

// ContinueLongRunning returns a token of the long-running session key:
// from the cache or with the session's refresh token. An ended or unknown
// session matches ErrInteractionRequired.
func (a *TokenAcquirer) ContinueLongRunning(ctx context.Context, key string, scopes []string, opts ...CallOption) (Result, error) {
	scopes = cachekey.NormalizeScopes(scopes)
	switch {
	case key == "":
		return Result{}, misuse("ContinueLongRunning needs the key StartLongRunning returned")
	case len(scopes) == 0:
		return Result{}, misuse("ContinueLongRunning needs at least one scope of the downstream API")
	}
	return a.acquire(ctx, scopes, request{kind: cachekey.LongRunning, partition: a.sessions.Get(key), opts: collect(opts)})
}

// EndLongRunning removes the long-running session's tokens from the cache.
func (a *TokenAcquirer) EndLongRunning(ctx context.Context, key string) error {
	if key == "" {
		return misuse("EndLongRunning needs the key StartLongRunning returned")
	}
	return a.removePartition(ctx, cachekey.LongRunning, a.sessions.Get(key))
}

// collect applies opts. Only calls that pass options pay for the
// allocation (apply is an interface call, so its argument escapes).
func collect(opts []CallOption) callOptions {
	if len(opts) == 0 {
		return callOptions{}
	}
	o := new(callOptions)
	for _, opt := range opts {
		opt.apply(o)
	}
	return *o
}

// tenant is the tenant a request is for.
func (a *TokenAcquirer) tenant(o *callOptions) (string, error) {
	if o.tenant == "" {
		if a.cfg.isEntra() {
			return a.cfg.TenantID, nil
		}
		return "", nil
	}
	if !a.cfg.isEntra() {
		return "", &configError{"WithTenant", "needs an Entra authority (Instance and TenantId)"}
	}
	if !validTenant(o.tenant) {
		return "", &configError{"WithTenant", "must be a tenant id or a domain name"}
	}
	return o.tenant, nil
}

// UserSession is a TokenAcquirer bound to one user's cache partition: what
// MSAL's guidance calls "one confidential client per session". It is a
// small value that shares everything heavy (HTTP client, endpoints,
// credential, caches) with its acquirer.
type UserSession struct {
	a         *TokenAcquirer
	partition string // digest of the session key; "" for an empty key
}

// Session binds the acquirer to the partition of sessionKey (the browser
// session's key). The key itself is never stored: only a digest of it (SHA-256, 128 bits). An
// empty key is no partition: every method of its UserSession fails with
// ErrConfig.
func (a *TokenAcquirer) Session(sessionKey string) UserSession {
	if sessionKey == "" {
		return UserSession{a: a}
	}
	return UserSession{a: a, partition: a.sessions.Get(sessionKey)}
}

var errEmptySession = &configError{"session key", "is empty: a user's tokens need the key of the user's session"}

// ForUser returns a token for the session's user: from the cache, or with
// the user's refresh token. When the cache holds no account for the
// session, or the provider needs the user (consent, claims, revoked refresh
// token), the error matches ErrInteractionRequired: send the user through
// sign-in.
func (s UserSession) ForUser(ctx context.Context, scopes []string, opts ...CallOption) (Result, error) {
	if s.partition == "" {
		return Result{}, errEmptySession
	}
	scopes = cachekey.NormalizeScopes(scopes)
	if len(scopes) == 0 {
		return Result{}, misuse("ForUser needs at least one scope of the downstream API")
	}
	if len(opts) == 0 {
		if fe := s.a.userFront.find(s.partition, scopes); fe != nil && s.a.frontUsable(fe) {
			s.a.frontServed(ctx, cachekey.User, fe, scopes)
			return fe.res, nil
		}
	}
	return s.a.acquire(ctx, scopes, request{kind: cachekey.User, partition: s.partition, opts: collect(opts)})
}
