package identityweb

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/discovery"
	"github.com/identityweb/go-identityweb/internal/telemetry"
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
	cred    certsource.Credential
	http    *http.Client
	logger  *slog.Logger
	metrics *telemetry.Metrics

	keys      cachekey.Builder
	endpoints *discovery.Endpoints
	flight    singleflight.Group
	obo       *cachekey.DigestMemo
	sessions  *cachekey.DigestMemo
	bg        background
	throttle  throttleState
	lockSeed  maphash.Seed
	locks     [256]sync.Mutex // per-partition refresh serialization (striped)
}

// NewTokenAcquirer validates cfg, fills opts' defaults and returns an
// acquirer. It does no network I/O.
func NewTokenAcquirer(cfg Config, opts Options) (*TokenAcquirer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts.fill()
	cred := opts.Credential
	if cred == nil {
		var err error
		if cred, err = credentialFromConfig(&cfg, opts.Logger); err != nil {
			return nil, err
		}
	}
	a := &TokenAcquirer{
		cfg: cfg, opts: opts, clock: opts.Clock, cache: opts.Cache, cred: cred,
		http: opts.HTTPClient, logger: opts.Logger, metrics: telemetry.New(opts.MeterProvider, "github.com/identityweb/go-identityweb/identityweb"),
		obo: cachekey.NewDigestMemo(50_000), sessions: cachekey.NewDigestMemo(50_000), lockSeed: maphash.MakeSeed(),
	}
	a.mem, _ = opts.Cache.(*cachestore.Memory)
	a.leveled, _ = opts.Cache.(cachestore.Leveled)
	authority := cfg.Authority
	if cfg.isEntra() {
		authority = strings.TrimSuffix(cfg.Instance, "/")
	}
	a.keys = cachekey.NewBuilder(authority, cfg.ClientID)
	a.endpoints = discovery.New(a.cfg.authority(), a.http)
	a.bg.init()
	a.throttle.init()
	return a, nil
}

// Close waits for background refreshes in progress to finish.
func (a *TokenAcquirer) Close() error {
	a.bg.wg.Wait()
	return nil
}

// ForApp returns an app token for scope, a resource's "/.default" scope
// ("api://my-api/.default"), with the client credentials grant.
func (a *TokenAcquirer) ForApp(ctx context.Context, scope string, opts ...CallOption) (Result, error) {
	o := collect(opts)
	scopes := [1]string{scope}
	return a.acquire(ctx, cachekey.App, a.tenant(&o), scopes[:], "", "", o)
}

// OnBehalfOf exchanges the incoming access token of an API's caller for a
// token to a downstream API (Entra's jwt-bearer OBO grant, or RFC 8693 token
// exchange per Config.OnBehalfOfGrant). Results are cached under a digest of
// the incoming token. With WithLongRunningSession the result and a refresh
// token are kept under the session key, and assertion may be empty on later
// calls.
func (a *TokenAcquirer) OnBehalfOf(ctx context.Context, assertion string, scopes []string, opts ...CallOption) (Result, error) {
	o := collect(opts)
	scopes = cachekey.NormalizeScopes(scopes)
	if len(scopes) == 0 {
		return Result{}, errors.New("identityweb: OnBehalfOf needs at least one scope of the downstream API")
	}
	if o.session != "" {
		return a.acquire(ctx, cachekey.LongRunning, a.tenant(&o), scopes, a.sessions.Get(o.session), assertion, o)
	}
	if assertion == "" {
		return Result{}, errors.New("identityweb: OnBehalfOf needs the incoming access token")
	}
	return a.acquire(ctx, cachekey.OBO, a.tenant(&o), scopes, a.obo.Get(assertion), assertion, o)
}

// ForUser returns a token for the signed-in user of the partition named by
// WithPartition: from the cache, or with the user's refresh token. When the
// cache holds no account for the partition, or the provider needs the user
// (consent, claims, revoked refresh token), the error matches
// ErrInteractionRequired: send the user through sign-in.
func (a *TokenAcquirer) ForUser(ctx context.Context, scopes []string, opts ...CallOption) (Result, error) {
	o := collect(opts)
	if o.partition == "" {
		return Result{}, errors.New("identityweb: ForUser needs WithPartition (the session key) or a UserSession")
	}
	return a.Session(o.partition).ForUser(ctx, scopes, opts...)
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

func (a *TokenAcquirer) tenant(o *callOptions) string {
	if !a.cfg.isEntra() {
		return o.tenant // "" unless overridden; an override fails at the endpoint
	}
	if o.tenant != "" {
		return o.tenant
	}
	return a.cfg.TenantID
}

// UserSession is a TokenAcquirer bound to one user's cache partition: what
// MSAL's guidance calls "one confidential client per session". It is a
// small value that shares everything heavy (HTTP client, endpoints,
// credential, caches) with its acquirer.
type UserSession struct {
	a         *TokenAcquirer
	partition string // digest of the session key
}

// Session binds the acquirer to the partition of sessionKey (the browser
// session's key). The key itself is never stored: only its SHA-256.
func (a *TokenAcquirer) Session(sessionKey string) UserSession {
	return UserSession{a: a, partition: a.sessions.Get(sessionKey)}
}

// ForUser returns a token for the session's user; see TokenAcquirer.ForUser.
func (s UserSession) ForUser(ctx context.Context, scopes []string, opts ...CallOption) (Result, error) {
	o := collect(opts)
	scopes = cachekey.NormalizeScopes(scopes)
	if len(scopes) == 0 {
		return Result{}, errors.New("identityweb: ForUser needs at least one scope of the downstream API")
	}
	return s.a.acquire(ctx, cachekey.User, s.a.tenant(&o), scopes, s.partition, "", o)
}
