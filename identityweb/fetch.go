package identityweb

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/idtoken"
	"github.com/identityweb/go-identityweb/internal/oauth"
	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// fetch runs inside a flight: it asks the provider for s's token and stores
// the result.
func (a *TokenAcquirer) fetch(ctx context.Context, s slowReq, key string) (*fetched, error) {
	switch s.kind {
	case cachekey.App:
		return a.fetchApp(ctx, s, key)
	case cachekey.OBO:
		return a.fetchOBO(ctx, s, key, false)
	default: // cachekey.User, cachekey.LongRunning
		return a.fetchWithRefreshToken(ctx, s, key)
	}
}

func (a *TokenAcquirer) fetchApp(ctx context.Context, s slowReq, key string) (*fetched, error) {
	endpoint, err := a.endpoints.Token(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {s.scopes}}
	if s.claims != "" {
		form.Set("claims", s.claims)
	}
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: "client_credentials", endpoint: endpoint, form: form})
	if err != nil {
		return nil, err
	}
	e := a.storeToken(ctx, key, s.scopes, tr)
	return &fetched{entry: e, inHTTP: inHTTP}, nil
}

// fetchOBO runs the on-behalf-of grant; with offline it also asks for and
// stores a refresh token (long-running OBO).
func (a *TokenAcquirer) fetchOBO(ctx context.Context, s slowReq, key string, offline bool) (*fetched, error) {
	endpoint, err := a.endpoints.Token(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	scope := s.scopes
	if offline {
		scope += " offline_access"
	}
	var form url.Values
	grant := a.cfg.OnBehalfOfGrant
	if grant == grantTokenExchange {
		form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {s.assertion},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "scope": {scope}}
	} else {
		form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {s.assertion},
			"requested_token_use": {"on_behalf_of"}, "scope": {scope}}
	}
	if s.claims != "" {
		form.Set("claims", s.claims)
	}
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: grant, endpoint: endpoint, form: form, userFlow: true})
	if err != nil {
		return nil, err
	}
	e := a.storeToken(ctx, key, s.scopes, tr)
	if offline && tr.RefreshToken != "" {
		a.storeRefresh(ctx, s.kind, s.partition, cacheentry.Refresh{RefreshToken: tr.RefreshToken, ATKeys: []string{key}})
	}
	return &fetched{entry: e, inHTTP: inHTTP}, nil
}

// partitionLock serializes refresh-token redemptions of one partition in
// this process, so that a rotating refresh token is spent once.
func (a *TokenAcquirer) partitionLock(partition string) func() {
	m := &a.locks[maphash.String(a.lockSeed, partition)%uint64(len(a.locks))]
	m.Lock()
	return m.Unlock
}

// fetchWithRefreshToken serves user and long-running OBO tokens from the
// partition's refresh token.
func (a *TokenAcquirer) fetchWithRefreshToken(ctx context.Context, s slowReq, key string) (*fetched, error) {
	unlock := a.partitionLock(s.partition)
	defer unlock()
	// Other instances sharing the cache refresh the same user: take the
	// distributed lock, then read the shared level afresh, so a rotating
	// refresh token is spent once and waiters use the token the holder got.
	if release := a.distributedLock(ctx, a.keys.Refresh(s.kind, s.partition)); release != nil {
		defer release()
	}
	// The account first: without it (signed out) no token of the
	// partition is served, not even one another flight cached.
	rt, ok := a.loadRefresh(ctx, s.kind, s.partition)
	if !ok {
		if s.kind == cachekey.LongRunning && s.assertion != "" {
			return a.fetchOBO(ctx, s, key, true)
		}
		return nil, noAccountError{}
	}
	if !s.force { // another flight (here or elsewhere) may have just refreshed
		if e, ok := a.lookupFresh(ctx, key); ok && a.clock.Now().Unix() < e.ExpiresOn-int64(a.opts.ExpiryBuffer/time.Second) {
			return &fetched{entry: e, cached: true, level: CacheLevelL2}, nil
		}
	}
	endpoint, err := a.endpoints.Token(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.RefreshToken},
		"scope": {s.scopes + " offline_access openid profile"}}
	if s.claims != "" {
		form.Set("claims", s.claims)
	}
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: "refresh_token", endpoint: endpoint, form: form, userFlow: true})
	if err != nil {
		return nil, err
	}
	e := a.storeToken(ctx, key, s.scopes, tr)
	if tr.RefreshToken != "" {
		rt.RefreshToken = tr.RefreshToken
	}
	if !slices.Contains(rt.ATKeys, key) {
		rt.ATKeys = append(rt.ATKeys, key)
	}
	a.storeRefresh(ctx, s.kind, s.partition, rt)
	return &fetched{entry: e, inHTTP: inHTTP}, nil
}

// storeToken caches an access token until its expiry and returns its entry.
func (a *TokenAcquirer) storeToken(ctx context.Context, key, scopes string, tr *oauth.TokenResponse) cacheentry.Token {
	now := a.clock.Now()
	life := oauth.Seconds(tr.ExpiresIn)
	if life <= 0 {
		life = time.Hour // RFC 6749: expires_in is recommended; assume an hour
	}
	e := cacheentry.Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, Scopes: scopes, ExpiresOn: now.Add(life).Unix()}
	if ext := oauth.Seconds(tr.ExtExpiresIn); ext > 0 {
		e.ExtExpiresOn = now.Add(ext).Unix()
	}
	if ri := oauth.Seconds(tr.RefreshIn); ri > 0 && ri < life {
		e.RefreshOn = now.Add(ri).Unix()
	} else if life >= 2*time.Hour {
		e.RefreshOn = now.Add(life / 2).Unix()
	}
	if err := a.cache.Set(ctx, key, cacheentry.EncodeToken(&e), life); err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token cache write failed", telemetry.Err(err))
	}
	return e
}

// getFresh reads the shared cache level when the cache has one.
func (a *TokenAcquirer) getFresh(ctx context.Context, key string) ([]byte, bool, error) {
	if fg, ok := a.cache.(cachestore.FreshGetter); ok {
		return fg.GetFresh(ctx, key)
	}
	return a.cache.Get(ctx, key)
}

func (a *TokenAcquirer) lookupFresh(ctx context.Context, key string) (cacheentry.Token, bool) {
	b, ok, err := a.getFresh(ctx, key)
	if err != nil || !ok {
		return cacheentry.Token{}, false
	}
	return cacheentry.DecodeToken(b, false, false)
}

// distributedLock takes the cache's lock on name when the cache can lock
// (Redis through cachestore.Tiered), waiting at most RefreshLockWait. When
// it cannot (Redis down), the refresh goes on without it: availability
// first; the in-process lock still holds.
func (a *TokenAcquirer) distributedLock(ctx context.Context, name string) (release func()) {
	l, ok := a.cache.(cachestore.Locker)
	if !ok {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, a.opts.RefreshLockWait)
	defer cancel()
	u, err := l.Lock(lctx, name, 15*time.Second)
	if err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: refreshing without the distributed lock", telemetry.Err(err))
		return nil
	}
	return func() { u.Unlock(context.WithoutCancel(ctx)) }
}

func (a *TokenAcquirer) loadRefresh(ctx context.Context, kind cachekey.Kind, partition string) (cacheentry.Refresh, bool) {
	b, ok, err := a.getFresh(ctx, a.keys.Refresh(kind, partition))
	if err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token cache read failed", telemetry.Err(err))
	}
	if !ok {
		return cacheentry.Refresh{}, false
	}
	e, valid := cacheentry.DecodeRefresh(b)
	if !valid {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: ignoring a corrupt refresh token cache entry")
	}
	return e, valid
}

func (a *TokenAcquirer) storeRefresh(ctx context.Context, kind cachekey.Kind, partition string, e cacheentry.Refresh) {
	if len(e.ATKeys) > 256 { // bounded: the oldest keys expire on their own
		e.ATKeys = e.ATKeys[len(e.ATKeys)-256:]
	}
	if err := a.cache.Set(ctx, a.keys.Refresh(kind, partition), cacheentry.EncodeRefresh(&e), a.opts.RefreshTokenTTL); err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: refresh token cache write failed", telemetry.Err(err))
	}
}

// AuthCode is an authorization code to redeem, with what the authorization
// request used.
type AuthCode struct {
	Code         string
	CodeVerifier string // the PKCE verifier, if the request carried a challenge
	RedirectURI  string
}

// RedeemCode redeems an authorization code for the session's user and
// stores the tokens in the session's partition. The result carries the raw
// ID token (for the caller to validate: signature, issuer, audience, nonce)
// and the account read from it.
func (s UserSession) RedeemCode(ctx context.Context, code AuthCode, scopes []string, opts ...CallOption) (Result, error) {
	a := s.a
	if s.partition == "" {
		return Result{}, errEmptySession
	}
	o := collect(opts)
	start := a.clock.Now()
	scopes = cachekey.NormalizeScopes(scopes)
	tenant, err := a.tenant(&o)
	if err != nil {
		return Result{}, err
	}
	endpoint, err := a.endpoints.Token(ctx, tenant)
	if err != nil {
		return Result{}, err
	}
	scopeStr := strings.Join(scopes, " ")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code.Code}, "redirect_uri": {code.RedirectURI},
		"scope": {strings.TrimSpace(scopeStr + " offline_access openid profile")}}
	if code.CodeVerifier != "" {
		form.Set("code_verifier", code.CodeVerifier)
	}
	unlock := a.partitionLock(s.partition)
	defer unlock()
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: "authorization_code", endpoint: endpoint, form: form, userFlow: true})
	if err != nil {
		return Result{}, err
	}
	key := a.keys.Token(cachekey.User, tenant, scopes, s.partition)
	e := a.storeToken(ctx, key, scopeStr, tr)
	acct := idtoken.Account(tr.IDToken)
	if tr.RefreshToken != "" {
		a.storeRefresh(ctx, cachekey.User, s.partition, cacheentry.Refresh{RefreshToken: tr.RefreshToken, Account: acct, ATKeys: []string{key}})
	}
	if a.logger.Enabled(ctx, telemetry.LevelDebug) {
		attrs := []slog.Attr{telemetry.Str("tenant", acct.TenantID)}
		if a.opts.EnablePIILogging { // user identifiers only when asked for
			attrs = append(attrs, telemetry.Str("oid", acct.ObjectID), telemetry.Str("username", acct.Username))
		}
		a.logger.LogAttrs(ctx, telemetry.LevelDebug, "identityweb: authorization code redeemed", attrs...)
	}
	out := resultFrom(&e)
	out.IDToken, out.Account = tr.IDToken, &acct
	out.Metadata = Metadata{Source: SourceIdentityProvider, RefreshReason: RefreshNoCachedToken, DurationInHTTP: inHTTP,
		DurationTotal: a.clock.Now().Sub(start)}
	a.metrics.Acquired(ctx, cachekey.User, uint8(SourceIdentityProvider), uint8(CacheLevelNone), out.Metadata.DurationTotal)
	if a.opts.OnToken != nil {
		a.opts.OnToken(ctx, TokenEvent{Kind: cachekey.User.String(), Scopes: scopes, Metadata: out.Metadata})
	}
	return out, nil
}

// Account returns the account cached for the session, if any.
func (s UserSession) Account(ctx context.Context) (Account, bool) {
	if s.partition == "" {
		return Account{}, false
	}
	rt, ok := s.a.loadRefresh(ctx, cachekey.User, s.partition)
	return rt.Account, ok
}

// RemoveAccount deletes the session's refresh token, account and access
// tokens from the cache (sign-out).
func (s UserSession) RemoveAccount(ctx context.Context) error {
	if s.partition == "" {
		return errEmptySession
	}
	return s.a.removePartition(ctx, cachekey.User, s.partition)
}

// removePartition deletes a partition's refresh token and the access tokens
// it lists.
func (a *TokenAcquirer) removePartition(ctx context.Context, kind cachekey.Kind, partition string) error {
	unlock := a.partitionLock(partition)
	defer unlock()
	rt, _ := a.loadRefresh(ctx, kind, partition)
	var first error
	for _, k := range append(rt.ATKeys, a.keys.Refresh(kind, partition)) {
		if err := a.cache.Delete(ctx, k); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// hasAccount reports whether the cache (L1 first) still holds the session's
// account: a cheap check on every signed-in request.
func (s UserSession) hasAccount(ctx context.Context) bool {
	if s.partition == "" {
		return false
	}
	return s.a.hasAccount(ctx, cachekey.User, s.partition, s.a.clock.Now())
}

// tokenCall is one logical token request: grant parameters without client
// authentication, which post adds per attempt.
type tokenCall struct {
	grant    string // for logs and metrics: client_credentials, refresh_token, …
	endpoint string
	form     url.Values
	userFlow bool
}

// post sends the request with the library's retry policy: one retry after
// ~1 s (jittered) on a 5xx or a transport failure; no retry on 429/503 with
// Retry-After (throttling starts instead); one credential reload and retry
// on a certificate-class error. It returns the response and the time spent
// in HTTP.
func (a *TokenAcquirer) post(ctx context.Context, call tokenCall) (*oauth.TokenResponse, time.Duration, error) {
	var inHTTP time.Duration
	retried, reloaded := false, false
	for {
		resp, d, err := a.postOnce(ctx, call)
		inHTTP += d
		outcome := "success"
		var oe *OAuthError
		var te *oauth.TransportError
		var ra *retryAfterError
		switch {
		case err == nil:
		case errors.As(err, &ra):
			outcome = "throttled"
		case errors.As(err, &te):
			outcome = "unreachable"
		case errors.As(err, &oe):
			outcome = "error"
		default:
			outcome = "error"
		}
		a.metrics.IdPRequest(ctx, call.grant, outcome)
		if err == nil {
			return resp, inHTTP, nil
		}
		switch {
		case ra != nil:
			return nil, inHTTP, err
		case (te != nil || (oe != nil && oe.StatusCode >= 500)) && !retried:
			retried = true
			a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token request failed; retrying once",
				telemetry.Str("grant", call.grant), telemetry.Err(err))
			if serr := a.clock.Sleep(ctx, a.retryDelay()); serr != nil {
				return nil, inHTTP, err
			}
		case oe != nil && oe.certificateClass() && !reloaded:
			reloaded = true
			a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the identity provider rejected the client credential; reloading it and retrying once",
				telemetry.Str("grant", call.grant), telemetry.Str("credential", a.cred.Description()), telemetry.Int("aadsts", oe.AADSTS()))
			if rerr := a.cred.Reload(ctx); rerr != nil {
				a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: reloading the client credential failed", telemetry.Err(rerr))
				return nil, inHTTP, err
			}
		default:
			return nil, inHTTP, err
		}
	}
}

func (a *TokenAcquirer) retryDelay() time.Duration {
	// ~1 s with ±20 % jitter so that many instances do not retry in step.
	j := time.Duration(mrand.Int64N(int64(a.opts.RetryDelay / 5 * 2)))
	return a.opts.RetryDelay - a.opts.RetryDelay/5 + j
}

func (a *TokenAcquirer) postOnce(ctx context.Context, call tokenCall) (*oauth.TokenResponse, time.Duration, error) {
	if a.cred == nil {
		return nil, 0, &configError{"ClientCredentials", "no client credential: add a ClientCredentials entry (a certificate), set Options.Credential, or for development ClientSecret"}
	}
	auth, err := a.cred.ClientAuth(ctx, certsource.AuthRequest{ClientID: a.cfg.ClientID, TokenEndpoint: call.endpoint, Now: a.clock.Now()})
	if err != nil {
		return nil, 0, &credentialError{err}
	}
	form := make(url.Values, len(call.form)+4)
	for k, v := range call.form {
		form[k] = v
	}
	form.Set("client_id", a.cfg.ClientID)
	switch {
	case auth.ClientAssertion != "":
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", auth.ClientAssertion)
	case auth.ClientSecret != "":
		form.Set("client_secret", auth.ClientSecret)
	}
	resp, err := oauth.Exchange(ctx, a.http, a.clock.Now, call.endpoint, form)
	if err != nil {
		return nil, resp.InHTTP, err
	}
	if resp.Token != nil {
		return resp.Token, resp.InHTTP, nil
	}
	oe := oauthError(resp.Error)
	oe.userFlow = call.userFlow
	if !resp.ThrottledUntil.IsZero() {
		return nil, resp.InHTTP, &retryAfterError{until: resp.ThrottledUntil, cause: oe}
	}
	return nil, resp.InHTTP, oe
}

// oauthError is the typed form of a token endpoint's error answer.
func oauthError(er *oauth.ErrorResponse) *OAuthError {
	return &OAuthError{StatusCode: er.Status, Code: er.Error, Description: er.ErrorDescription, ErrorCodes: er.ErrorCodes,
		Suberror: er.Suberror, Claims: er.Claims, CorrelationID: er.CorrelationID, TraceID: er.TraceID, Timestamp: er.Timestamp}
}

// retryAfterError is a 429/503 (or 5xx) answer that carried Retry-After or
// a 429: not retried, it starts throttling.
type retryAfterError struct {
	until time.Time
	cause error
}

func (e *retryAfterError) Error() string { return e.cause.Error() }
func (e *retryAfterError) Unwrap() error { return e.cause }

// credentialError: the credential source could not produce authentication.
type credentialError struct{ err error }

func (e *credentialError) Error() string {
	return "identityweb: the client credential is not available: " + oauth.Sanitize(e.err)
}
func (e *credentialError) Unwrap() error { return e.err }

// Is matches ErrUnavailable when the source is down (not when its material
// is bad or misconfigured).
func (e *credentialError) Is(t error) bool {
	return t == ErrUnavailable && !errors.Is(e.err, certsource.ErrBadCertificate) && !errors.Is(e.err, ErrConfig)
}
