package identityweb

import (
	"time"

	"github.com/identityweb/go-identityweb/session"
)

// Result is an acquired access token and how it was obtained.
type Result struct {
	// AccessToken is the token to send as "Authorization: Bearer …".
	AccessToken string
	// TokenType is the token type, usually "Bearer".
	TokenType string
	// ExpiresOn is when the token expires (the provider's exp).
	ExpiresOn time.Time
	// ExtExpiresOn is Entra's extended expiry (ext_expires_in); zero if absent.
	ExtExpiresOn time.Time
	// RefreshOn is when the token is refreshed proactively in the
	// background; zero when it is refreshed only as it nears ExpiresOn.
	RefreshOn time.Time
	// IDToken is the raw ID token; set only by RedeemCode.
	IDToken string
	// Account is the signed-in user; set only by RedeemCode.
	Account *Account
	// Metadata says where the token came from and what it cost.
	Metadata Metadata
}

// Account is a signed-in user: identifiers and names, never tokens.
type Account = session.Account

// Metadata is what Microsoft's high-availability guidance asks apps to
// monitor for every acquisition (MSAL's AuthenticationResultMetadata).
type Metadata struct {
	// Source is where the token came from.
	Source TokenSource
	// CacheLevel is the cache level that served it (CacheLevelNone when the
	// identity provider did).
	CacheLevel CacheLevel
	// RefreshReason says why the provider was asked (RefreshNotApplicable
	// when the cache answered and nothing was refreshed).
	RefreshReason RefreshReason
	// DurationTotal is the time spent in the library. It is zero for a hit
	// served by the in-memory L1 cache (cachestore.Memory): such a hit
	// takes a few hundred nanoseconds, and timing it would cost one more
	// clock read than the lookup itself (MSAL reports milliseconds, where
	// such a hit is 0 too). L2 hits and provider calls are timed.
	DurationTotal time.Duration
	// DurationInCache is the time spent reading and writing the cache.
	DurationInCache time.Duration
	// DurationInHTTP is the time spent in HTTP calls to the provider.
	DurationInHTTP time.Duration
	// Stale is true when the provider could not be reached and a token past
	// its refresh time (but before its expiry) was served instead of failing.
	Stale bool
}

// TokenSource is where a token came from.
type TokenSource uint8

// Token sources.
const (
	SourceIdentityProvider TokenSource = iota
	SourceCache
)

func (s TokenSource) String() string {
	if s == SourceCache {
		return "cache"
	}
	return "identity_provider"
}

// CacheLevel is the cache level that served a token.
type CacheLevel uint8

// Cache levels.
const (
	CacheLevelNone CacheLevel = iota
	CacheLevelL1
	CacheLevelL2
)

func (l CacheLevel) String() string {
	switch l {
	case CacheLevelL1:
		return "l1"
	case CacheLevelL2:
		return "l2"
	}
	return "none"
}

// RefreshReason says why a token was requested from the provider.
type RefreshReason uint8

// Refresh reasons, as MSAL's CacheRefreshReason.
const (
	RefreshNotApplicable RefreshReason = iota
	RefreshForced
	RefreshNoCachedToken
	RefreshExpired
	RefreshProactive
	RefreshClaims
)

func (r RefreshReason) String() string {
	names := [...]string{"not_applicable", "force_refresh", "no_cached_token", "expired", "proactively_refreshed", "claims"}
	if int(r) >= len(names) {
		return "unknown"
	}
	return names[r]
}

// TokenEvent is what Options.OnToken sees of an acquisition or a
// background refresh. It never holds a token.
type TokenEvent struct {
	// Kind is "app", "obo", "user" or "long_running".
	Kind string
	// Scopes asked for; valid only during the call.
	Scopes []string
	// Background is true for a proactive refresh (RefreshProactive), which
	// no caller waits for.
	Background bool
	// Metadata: source, cache level, refresh reason, durations.
	Metadata Metadata
	// Err is the failure, if any.
	Err error
}
