package identityweb

import (
	"context"
	"crypto"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/session"
)

// Options configure token acquisition: NewTokenAcquirer takes them, and New
// takes them inside AppOptions. The zero value is safe: every field has a
// documented default.
type Options struct {
	// HTTPClient sends every request to the identity provider. Default: a
	// client shared by all acquirers of the process, with a 30 s timeout.
	HTTPClient *http.Client
	// Clock. Default: the system clock.
	Clock Clock
	// Cache stores tokens. Default: a cachestore.Memory with its defaults
	// (256 MiB). Give a cachestore.Tiered over Redis to share tokens between
	// instances.
	Cache cachestore.Store
	// Credential authenticates the app. Default: built from
	// Config.ClientCredentials or Config.ClientSecret; with neither, token
	// acquisition fails with ErrConfig (a web API that only validates
	// tokens needs none).
	Credential certsource.Credential
	// Logger receives warnings and errors (and debug details when enabled).
	// Tokens, assertions and secrets are never logged. Default: slog.Default().
	Logger *slog.Logger
	// EnablePIILogging adds user identifiers (oid, username) to log lines.
	// Default: off.
	EnablePIILogging bool
	// MeterProvider receives OpenTelemetry metrics. Default: a no-op
	// provider. Instruments: identityweb.token.acquisitions (counter),
	// identityweb.token.duration (histogram, s), identityweb.idp.requests
	// (counter) and identityweb.token.background_refresh.failures (counter);
	// attributes kind (app, obo, user, long_running), source (cache,
	// identity_provider), cache_level (l1, l2, none), grant, outcome. No
	// attribute ever holds a token, a user or a session.
	MeterProvider metric.MeterProvider
	// OnToken is called after every acquisition — served from the cache or
	// the provider, failed or not — and after every background refresh
	// (TokenEvent.Background), on the goroutine that did the work. It must
	// be fast and must not retain the event's Scopes. Default: none.
	OnToken func(ctx context.Context, e TokenEvent)
	// DPoP binds the tokens the app acquires to a key it holds (RFC 9449):
	// "off", "auto" (when the provider advertises
	// dpop_signing_alg_values_supported) or "required" (acquisition fails
	// with ErrConfig when it does not). Bound tokens are cached apart per
	// key, sent by DownstreamClient as "Authorization: DPoP" with a fresh
	// proof per request, and refused by the bearer-only adapters. Entra ID
	// does not do DPoP. Default: "off".
	DPoP string
	// DPoPKey signs the proofs (EC P-256, Ed25519 or RSA). Default: a key
	// generated on first use, ES256 (EdDSA when the provider lists only
	// that); TokenAcquirer.RotateDPoPKey replaces it.
	DPoPKey crypto.Signer
	// ExpiryBuffer: an access token counts as expired this long before its
	// exp. Default: 5 minutes.
	ExpiryBuffer time.Duration
	// RetryDelay is the wait before the one retry of a 5xx or timeout; it is
	// jittered by ±20 %. Default: 1 second.
	RetryDelay time.Duration
	// RefreshTokenTTL bounds how long a refresh token is kept. Default: 90 days.
	RefreshTokenTTL time.Duration
	// BackgroundRefreshTimeout bounds a proactive background refresh.
	// Default: 1 minute.
	BackgroundRefreshTimeout time.Duration
	// RefreshLockWait bounds the wait for another instance's refresh of the
	// same user (the distributed lock of a shared cache). Default: 30 s.
	// While the shared cache cannot lock (Redis down or failing over), a
	// refresh waits for it at most 10 s of that, then fails with
	// ErrUnavailable without spending the refresh token: instances that
	// each spent it would end the user's session at providers that detect
	// refresh-token reuse. Tokens still valid are served meanwhile.
	RefreshLockWait time.Duration
}

// AppOptions configure a web app or web API (New): token acquisition, and
// what only the web app reads — sessions, sign-in hooks, redirects, bearer
// validation. The zero value is safe.
type AppOptions struct {
	Options

	// Sessions keeps the signed-in state of browsers. Default:
	// session.NewSCS(nil, …): scs with its in-memory store (one instance
	// only; use an scs Redis or SQL store to share sessions).
	Sessions session.Manager
	// InsecureAllowHTTPCookies leaves Secure off the cookie of the session
	// manager New creates, for http://localhost in development. It never
	// changes a manager given in Sessions. Default: Secure.
	InsecureAllowHTTPCookies bool
	// SignInKeys seal the short-lived cookie (15 minutes, HttpOnly,
	// SameSite=Lax, Secure on https) that carries a sign-in in progress —
	// PKCE verifier, nonce, return path — from the redirect to the provider
	// to the callback, so that no server-side state is created for a
	// visitor who is not signed in yet. The first key seals, every key
	// opens (rotate by putting a new key first). Several instances behind a
	// load balancer need the same keys: a sign-in started on one instance
	// then completes on any. Default: a random key kept in the token cache
	// (shared by every instance that shares the cache's L2, encrypted at rest
	// when the cache is), or this App's own key when the cache cannot add
	// atomically.
	SignInKeys *cachestore.KeyRing
	// SignedOutRedirect is the local path the browser lands on after
	// sign-out. Default: "/".
	SignedOutRedirect string
	// SessionLifetime ends a signed-in session this long after sign-in,
	// however active (the absolute bound). Default: 24 hours, scs's own
	// default Lifetime, which New also gives the scs manager it creates (an
	// adopted manager keeps its Lifetime: the shorter bound wins).
	SessionLifetime time.Duration
	// SessionIdleTimeout ends a signed-in session not used for this long.
	// Default: none. Both bounds are judged on every request, on every
	// instance, from times kept in the session itself (session.Times); a
	// session past either has its tokens removed from the cache and is sent
	// through sign-in. Last activity is recorded at most every tenth of the
	// timeout (a minute at most), so a session may end up to that much
	// early, never late.
	SessionIdleTimeout time.Duration
	// ValidatedTokenCache bounds the cache of validated bearer tokens (kept
	// until their exp). Default: 10,000; a negative value disables it.
	ValidatedTokenCache int
	// AllowWebAPIToBeAuthorizedByACL accepts bearer tokens that carry
	// neither scopes (scp) nor roles, as Identity Web's option of the same
	// name: for an API that authorizes callers by its own access control
	// list (checking oid, azp… in a Policy). Without it such tokens are
	// refused with 401 (IDW10201): an ID token issued to this app has the
	// app's client id as audience too, and must not open its API. Tokens
	// whose typ header names something else than an access token (JWT,
	// at+jwt) are refused either way. Default: off.
	AllowWebAPIToBeAuthorizedByACL bool
	// SigningKeyRefresh is how often the provider's signing keys (JWKS)
	// are read again, so that a key the provider removed stops validating
	// tokens, those in the validated-token cache included. Each period is
	// shortened by a random 0–10 % so instances do not fetch in step. A
	// token with an unknown kid also refetches the keys, at most once per
	// 5 minutes. Default: 24 hours.
	SigningKeyRefresh time.Duration

	// PublicURL returns the app's external base URL for r
	// ("https://app.contoso.com", no trailing slash), from which the reply
	// URL (+ Config.CallbackPath) and the post-sign-out URL are built.
	// Default: Config.RedirectURI when set; else, with
	// TrustForwardedHeaders, the Forwarded (RFC 7239) or X-Forwarded-Proto
	// and X-Forwarded-Host headers; else r's own scheme and Host.
	PublicURL func(r *http.Request) string
	// TrustForwardedHeaders reads the scheme and host from the proxy's
	// forwarded headers. Turn it on only behind a proxy that sets them and
	// strips the client's own. Default: off.
	TrustForwardedHeaders bool

	// RequireDPoP makes RequireBearer accept only DPoP-bound tokens with
	// their proof ("Authorization: DPoP" and a DPoP header, RFC 9449). By
	// default both schemes are accepted; a DPoP-bound token presented as a
	// bearer token is always refused.
	RequireDPoP bool
	// DPoPNonceKey, when set, makes RequireBearer ask DPoP clients for a
	// server nonce (RFC 9449 §9) derived from it, changing every minute;
	// instances behind one load balancer share the key. Default: no nonce.
	DPoPNonceKey []byte

	// PushedAuthorization: "auto" pushes the authorization request to the
	// provider first (RFC 9126 PAR: the browser carries only a
	// request_uri) when the provider offers it, "always" fails sign-in
	// when it does not, "never" does not push unless the provider requires
	// it. Default: "auto".
	PushedAuthorization string

	// OnRedirectToProvider may add authorize parameters to a sign-in
	// (prompt, login_hint, domain_hint, acr_values, …). Parameters the
	// protocol depends on (client_id, redirect_uri, state, nonce,
	// code_challenge…) are set again after it returns. Default: none.
	OnRedirectToProvider func(r *http.Request, params url.Values)
	// OnSignedIn is called after a user signed in, with the validated ID
	// token's claims (Claims.Decode reads groups, roles, email…), before the
	// redirect back; an error refuses the sign-in (403, the session is
	// ended). Default: none.
	OnSignedIn func(r *http.Request, acct Account, idToken *Claims) error
	// OnSignedOut is called after a user signed out, before the redirect to
	// the provider. Default: none.
	OnSignedOut func(r *http.Request, acct Account)
	// ErrorPage renders the page a sign-in ends on when it fails (cancelled,
	// refused, expired, provider error): status and a message safe to show.
	// Default: a plain page with the message and a link to the home page.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, message string)
}

var sharedHTTPClient = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	},
}

func (o *Options) fill() {
	if o.HTTPClient == nil {
		o.HTTPClient = sharedHTTPClient
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Cache == nil {
		o.Cache = cachestore.NewMemory(cachestore.MemoryOptions{Clock: o.Clock})
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ExpiryBuffer <= 0 {
		o.ExpiryBuffer = 5 * time.Minute
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 90 * 24 * time.Hour
	}
	if o.RefreshLockWait <= 0 {
		o.RefreshLockWait = 30 * time.Second
	}
	if o.BackgroundRefreshTimeout <= 0 {
		o.BackgroundRefreshTimeout = time.Minute
	}
}

// CallOption changes one acquisition. Values come from the With…
// functions; every option is valid on every call that accepts options.
type CallOption interface{ apply(*callOptions) }

type callOptions struct {
	force  bool
	claims string
	tenant string
	params url.Values // resource and other token request parameters
	err    error      // a bad option, reported by the call
}

type optionFunc func(*callOptions)

func (f optionFunc) apply(o *callOptions) { f(o) }

// WithForceRefresh skips the cache and asks the identity provider.
func WithForceRefresh() CallOption { return optionFunc(func(o *callOptions) { o.force = true }) }

// WithClaims asks for a token that satisfies a claims challenge (the JSON,
// decoded from a WWW-Authenticate "claims" parameter). It skips the cache
// read; the new token then replaces the cached one.
func WithClaims(claims string) CallOption {
	return optionFunc(func(o *callOptions) { o.claims = claims })
}

// WithResource asks for a token for an RFC 8707 resource indicator (an
// absolute URI: the API's audience), as standards providers need; Entra ID
// names the resource in the scopes instead. Tokens for different resources
// are cached apart.
func WithResource(resource string) CallOption {
	return optionFunc(func(o *callOptions) {
		u, err := url.Parse(resource)
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			o.err = &configError{"WithResource", "must be an absolute URI without a fragment (RFC 8707)"}
			return
		}
		o.addParam("resource", resource)
	})
}

// WithTokenParameter adds a parameter to the token request, for providers
// that need one beyond the standards (Auth0's "audience", for example).
// Parameters the protocol sets itself (grant_type, scope, client_id,
// assertions, codes, tokens) are refused. Tokens asked for with different
// parameters are cached apart.
func WithTokenParameter(name, value string) CallOption {
	return optionFunc(func(o *callOptions) {
		if reservedParams[strings.ToLower(name)] || name == "" {
			o.err = &configError{"WithTokenParameter", "cannot set " + strconv.Quote(name) + ": the protocol sets it"}
			return
		}
		o.addParam(name, value)
	})
}

var reservedParams = map[string]bool{"grant_type": true, "scope": true, "client_id": true, "client_secret": true,
	"client_assertion": true, "client_assertion_type": true, "code": true, "code_verifier": true, "redirect_uri": true,
	"refresh_token": true, "assertion": true, "subject_token": true, "subject_token_type": true,
	"requested_token_use": true, "claims": true,
	"dpop": true} // not a parameter; its name ends the cache keys of DPoP-bound tokens

// plain reports whether no option was given.
func (o *callOptions) plain() bool {
	return !o.force && o.claims == "" && o.tenant == "" && o.params == nil && o.err == nil
}

func (o *callOptions) addParam(k, v string) {
	if o.params == nil {
		o.params = url.Values{}
	}
	o.params.Add(k, v)
}

// WithTenant acquires in another tenant than Config.TenantID (multi-tenant
// Entra apps). The tenant must be a tenant id (GUID) or a domain name; with
// a non-Entra Authority the call fails with ErrConfig.
func WithTenant(tenant string) CallOption {
	return optionFunc(func(o *callOptions) { o.tenant = tenant })
}

// Clock is the time source of every time-dependent part of the library.
// Tests pass a fake clock whose Sleep moves time forward at once.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, whichever comes first, and returns
	// ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
