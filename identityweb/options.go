package identityweb

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/session"
)

// Options tune a TokenAcquirer. The zero value is safe: every field has a
// documented default.
type Options struct {
	// HTTPClient sends every request to the identity provider. Default: a
	// client shared by all acquirers of the process, with a 30 s timeout.
	HTTPClient *http.Client
	// Clock. Default: SystemClock.
	Clock Clock
	// Cache stores tokens. Default: a cachestore.Memory with its defaults
	// (256 MiB). Give a cachestore.Tiered over Redis to share tokens between
	// instances.
	Cache cachestore.Store
	// Credential authenticates the app. Default: Config.ClientSecret.
	Credential certsource.Credential
	// Logger receives warnings and errors (and debug details when enabled).
	// Tokens, assertions and secrets are never logged. Default: slog.Default().
	Logger *slog.Logger
	// EnablePIILogging adds user identifiers (oid, username) to log lines.
	// Default: off.
	EnablePIILogging bool
	// MeterProvider receives OpenTelemetry metrics. Default: a no-op provider.
	MeterProvider metric.MeterProvider
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
	RefreshLockWait time.Duration

	// Web apps and APIs (New):

	// Sessions keeps the signed-in state of browsers. Default:
	// session.NewSCS(nil, …): scs with its in-memory store.
	Sessions session.Manager
	// InsecureAllowHTTPCookies leaves Secure off the default session
	// cookie, for http://localhost in development. Default: Secure.
	InsecureAllowHTTPCookies bool
	// OnSignedIn is called after a user signed in and before the redirect
	// back; an error aborts the sign-in (403).
	OnSignedIn func(ctx context.Context, r *http.Request, acct Account) error
	// SignedOutRedirect is where the browser lands after sign-out. Default: "/".
	SignedOutRedirect string
	// ValidatedTokenCache bounds the cache of validated bearer tokens (kept
	// until their exp). Default: 10,000; a negative value disables it.
	ValidatedTokenCache int
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
		o.Clock = SystemClock{}
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

// CallOption changes one acquisition. Values come from the With… functions.
type CallOption interface{ apply(*callOptions) }

type callOptions struct {
	force     bool
	claims    string
	tenant    string
	partition string
	session   string // long-running OBO session key
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

// WithTenant acquires in another tenant than Config.TenantID (multi-tenant
// apps; Entra only).
func WithTenant(tenant string) CallOption {
	return optionFunc(func(o *callOptions) { o.tenant = tenant })
}

// WithPartition names the user's cache partition: the session key of the
// signed-in browser session. ForUser, RedeemCode and RemoveAccount need it
// (or use a UserSession, which carries it).
func WithPartition(sessionKey string) CallOption {
	return optionFunc(func(o *callOptions) { o.partition = sessionKey })
}

// WithLongRunningSession keeps an OnBehalfOf result and its refresh token
// under a caller-chosen session key, so that a background job can go on
// acquiring tokens after the incoming token has expired (Identity Web's
// LongRunningWebApiSessionKey). Call OnBehalfOf with the incoming token
// once; later calls may pass an empty assertion.
func WithLongRunningSession(key string) CallOption {
	return optionFunc(func(o *callOptions) { o.session = key })
}

// Clock is the time source of every time-dependent part of the library.
// Tests pass a fake clock whose Sleep moves time forward at once.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, whichever comes first, and returns
	// ctx.Err() in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx ends.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
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
