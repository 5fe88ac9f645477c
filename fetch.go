package identityweb

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-identityweb/identityweb/cachestore"
)

// fetch runs inside a flight: it asks the provider for s's token and stores
// the result.
func (a *TokenAcquirer) fetch(ctx context.Context, s slowReq, key string) (*fetched, error) {
	switch s.kind {
	case kindApp:
		return a.fetchApp(ctx, s, key)
	case kindOBO:
		return a.fetchOBO(ctx, s, key, false)
	default: // kindUser, kindLongRunning
		return a.fetchWithRefreshToken(ctx, s, key)
	}
}

func (a *TokenAcquirer) fetchApp(ctx context.Context, s slowReq, key string) (*fetched, error) {
	endpoint, err := a.endpoints.token(ctx, s.tenant)
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
	endpoint, err := a.endpoints.token(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	scope := s.scopes
	if offline {
		scope += " offline_access"
	}
	var form url.Values
	grant := a.cfg.OnBehalfOfGrant
	if grant == GrantTokenExchange {
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
		a.storeRefresh(ctx, s.kind, s.partition, refreshEntry{refreshToken: tr.RefreshToken, atKeys: []string{key}})
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
	if release := a.distributedLock(ctx, a.refreshKey(s.kind, s.partition)); release != nil {
		defer release()
	}
	if !s.force { // another flight (here or elsewhere) may have just refreshed
		if e, ok := a.lookupFresh(ctx, key); ok && a.clock.Now().Unix() < e.expiresOn-int64(a.opts.ExpiryBuffer/time.Second) {
			return &fetched{entry: e, cached: true, level: CacheLevelL2}, nil
		}
	}
	rt, ok := a.loadRefresh(ctx, s.kind, s.partition)
	if !ok {
		if s.kind == kindLongRunning && s.assertion != "" {
			return a.fetchOBO(ctx, s, key, true)
		}
		return nil, noAccountError{}
	}
	endpoint, err := a.endpoints.token(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.refreshToken},
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
		rt.refreshToken = tr.RefreshToken
	}
	if !slices.Contains(rt.atKeys, key) {
		rt.atKeys = append(rt.atKeys, key)
	}
	a.storeRefresh(ctx, s.kind, s.partition, rt)
	return &fetched{entry: e, inHTTP: inHTTP}, nil
}

// storeToken caches an access token until its expiry and returns its entry.
func (a *TokenAcquirer) storeToken(ctx context.Context, key, scopes string, tr *tokenResponse) tokenEntry {
	now := a.clock.Now()
	life := seconds(tr.ExpiresIn)
	if life <= 0 {
		life = time.Hour // RFC 6749: expires_in is recommended; assume an hour
	}
	e := tokenEntry{accessToken: tr.AccessToken, tokenType: tr.TokenType, scopes: scopes, expiresOn: now.Add(life).Unix()}
	if ext := seconds(tr.ExtExpiresIn); ext > 0 {
		e.extExpiresOn = now.Add(ext).Unix()
	}
	if ri := seconds(tr.RefreshIn); ri > 0 && ri < life {
		e.refreshOn = now.Add(ri).Unix()
	} else if life >= 2*time.Hour {
		e.refreshOn = now.Add(life / 2).Unix()
	}
	if err := a.cache.Set(ctx, key, encodeToken(&e), life); err != nil {
		a.logger.LogAttrs(ctx, levelWarn, "identityweb: token cache write failed", errAttr(err))
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

func (a *TokenAcquirer) lookupFresh(ctx context.Context, key string) (tokenEntry, bool) {
	b, ok, err := a.getFresh(ctx, key)
	if err != nil || !ok {
		return tokenEntry{}, false
	}
	return decodeToken(b, false)
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
		a.logger.LogAttrs(ctx, levelWarn, "identityweb: refreshing without the distributed lock", errAttr(err))
		return nil
	}
	return func() { u.Unlock(context.WithoutCancel(ctx)) }
}

func (a *TokenAcquirer) loadRefresh(ctx context.Context, kind byte, partition string) (refreshEntry, bool) {
	b, ok, err := a.getFresh(ctx, a.refreshKey(kind, partition))
	if err != nil {
		a.logger.LogAttrs(ctx, levelWarn, "identityweb: token cache read failed", errAttr(err))
	}
	if !ok {
		return refreshEntry{}, false
	}
	e, valid := decodeRefresh(b)
	if !valid {
		a.logger.LogAttrs(ctx, levelWarn, "identityweb: ignoring a corrupt refresh token cache entry")
	}
	return e, valid
}

func (a *TokenAcquirer) storeRefresh(ctx context.Context, kind byte, partition string, e refreshEntry) {
	if len(e.atKeys) > 256 { // bounded: the oldest keys expire on their own
		e.atKeys = e.atKeys[len(e.atKeys)-256:]
	}
	if err := a.cache.Set(ctx, a.refreshKey(kind, partition), encodeRefresh(&e), a.opts.RefreshTokenTTL); err != nil {
		a.logger.LogAttrs(ctx, levelWarn, "identityweb: refresh token cache write failed", errAttr(err))
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
	o := collect(opts)
	start := a.clock.Now()
	scopes = normalizeScopes(scopes)
	tenant := a.tenant(&o)
	endpoint, err := a.endpoints.token(ctx, tenant)
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
	key := a.tokenKey(kindUser, tenant, scopes, s.partition)
	e := a.storeToken(ctx, key, scopeStr, tr)
	acct := accountFromIDToken(tr.IDToken)
	if tr.RefreshToken != "" {
		a.storeRefresh(ctx, kindUser, s.partition, refreshEntry{refreshToken: tr.RefreshToken, account: acct, atKeys: []string{key}})
	}
	if a.logger.Enabled(ctx, levelDebug) {
		attrs := []slog.Attr{strAttr("tenant", acct.TenantID)}
		if a.opts.EnablePIILogging { // user identifiers only when asked for
			attrs = append(attrs, strAttr("oid", acct.ObjectID), strAttr("username", acct.Username))
		}
		a.logger.LogAttrs(ctx, levelDebug, "identityweb: authorization code redeemed", attrs...)
	}
	out := resultFrom(&e)
	out.IDToken, out.Account = tr.IDToken, &acct
	out.Metadata = Metadata{Source: SourceIdentityProvider, RefreshReason: RefreshNoCachedToken, DurationInHTTP: inHTTP,
		DurationTotal: a.clock.Now().Sub(start)}
	a.metrics.acquired(ctx, kindUser, SourceIdentityProvider, CacheLevelNone, out.Metadata.DurationTotal)
	return out, nil
}

// Account returns the account cached for the session, if any.
func (s UserSession) Account(ctx context.Context) (Account, bool) {
	rt, ok := s.a.loadRefresh(ctx, kindUser, s.partition)
	return rt.account, ok
}

// RemoveAccount deletes the session's refresh token, account and access
// tokens from the cache (sign-out).
func (s UserSession) RemoveAccount(ctx context.Context) error {
	a := s.a
	unlock := a.partitionLock(s.partition)
	defer unlock()
	rt, _ := a.loadRefresh(ctx, kindUser, s.partition)
	var first error
	for _, k := range append(rt.atKeys, a.refreshKey(kindUser, s.partition)) {
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
	_, ok, _ := s.a.cache.Get(ctx, s.a.refreshKey(kindUser, s.partition))
	return ok
}
