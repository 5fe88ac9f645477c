package identityweb

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
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
	form := s.form(url.Values{"grant_type": {"client_credentials"}, "scope": {s.scopes}})
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: "client_credentials", endpoint: endpoint, form: form, dpop: s.dpop})
	if err != nil {
		return nil, err
	}
	e, err := a.storeGranted(ctx, key, s, tr)
	if err != nil {
		return nil, err
	}
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
	if err := a.oboGrantSupported(ctx, grant); err != nil {
		return nil, err
	}
	if grant == grantTokenExchange {
		form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {s.assertion},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}, "scope": {scope}}
	} else {
		form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {s.assertion},
			"requested_token_use": {"on_behalf_of"}, "scope": {scope}}
	}
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: grant, endpoint: endpoint, form: s.form(form), userFlow: true, dpop: s.dpop})
	if err != nil {
		return nil, err
	}
	e, err := a.storeGranted(ctx, key, s, tr)
	if err != nil {
		return nil, err
	}
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
	// A lease lost before the token was spent (a pause longer than the
	// lease, a failover that dropped the lock) is taken again once: the
	// holder's work is then read under the lock. The token is never spent
	// without it.
	f, err := a.refreshLocked(ctx, s, key)
	if err == errLeaseLost {
		f, err = a.refreshLocked(ctx, s, key)
	}
	if err == errLeaseLost {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the refresh lock was lost twice; not spending the refresh token (retry later)")
		return nil, errNoRefreshLock
	}
	return f, err
}

// errLeaseLost: the refresh lock was lost before the refresh token was
// spent (internal to fetchWithRefreshToken).
var errLeaseLost = errors.New("identityweb: refresh lock lost")

// refreshLocked is one attempt of fetchWithRefreshToken under the shared
// cache's lock.
func (a *TokenAcquirer) refreshLocked(ctx context.Context, s slowReq, key string) (*fetched, error) {
	// Other instances sharing the cache refresh the same user: take the
	// distributed lock, then read the shared level afresh, so a rotating
	// refresh token is spent once and waiters use the token the holder got.
	release, held, err := a.distributedLock(ctx, a.keys.Refresh(s.kind, s.partition))
	if err != nil {
		return nil, err
	}
	if release != nil {
		defer release()
	}
	// The account first: without it (signed out) no token of the
	// partition is served, not even one another flight cached.
	rt, ok, rerr := a.loadRefreshErr(ctx, s.kind, s.partition)
	if rerr != nil && !(s.kind == cachekey.LongRunning && s.assertion != "") {
		// The shared cache could not be read and holds no local copy
		// (another instance's refresh replaced it): not "signed out".
		return nil, errNoRefreshLock
	}
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
	if held != nil && held(ctx) != nil {
		// The lease was lost (or cannot be confirmed): another instance may
		// hold the lock and be spending this very token.
		return nil, errLeaseLost
	}
	endpoint, err := a.endpoints.Token(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	form := s.form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.RefreshToken},
		"scope": {s.scopes + " offline_access openid profile"}})
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: "refresh_token", endpoint: endpoint, form: form, userFlow: true, dpop: s.dpop})
	if err != nil {
		return nil, err
	}
	if tr.RefreshToken != "" {
		rt.RefreshToken = tr.RefreshToken
	}
	if tr.IDToken != "" {
		rt.IDToken = tr.IDToken
	}
	e, err := a.storeGranted(ctx, key, s, tr)
	if err != nil {
		a.storeRefresh(ctx, s.kind, s.partition, rt) // a rotated refresh token is kept whatever else happens
		return nil, err
	}
	if !slices.Contains(rt.ATKeys, key) {
		rt.ATKeys = append(rt.ATKeys, key)
	}
	a.storeRefresh(ctx, s.kind, s.partition, rt)
	return &fetched{entry: e, inHTTP: inHTTP}, nil
}

// storeGranted caches the token for the scopes asked for, when the provider
// granted them all: the token response's scope is the truth. A scope asked
// for and not granted is a consent the user (or, for app tokens, an
// administrator) has not given, never a token served without it.
func (a *TokenAcquirer) storeGranted(ctx context.Context, key string, s slowReq, tr *oauth.TokenResponse) (cacheentry.Token, error) {
	if missing := notGranted(s.scopes, tr.Scope); missing != "" {
		code := "consent_required" // the user must consent: ErrInteractionRequired
		if s.kind == cachekey.App {
			code = "invalid_scope" // an administrator must grant the app permission
		}
		return cacheentry.Token{}, &OAuthError{StatusCode: http.StatusOK, Code: code,
			Description: "the provider did not grant " + missing, userFlow: s.kind != cachekey.App}
	}
	return a.storeToken(ctx, key, s.scopes, tr), nil
}

// notGranted returns the first of the space-separated requested scopes the
// response's granted scopes lack, or "". An empty grant means "as
// requested" (RFC 6749 §5.1); ".default" scopes and the OpenID scopes
// (which Entra leaves out) are not checked; Entra answers Graph scopes by
// their short names, so "https://graph.microsoft.com/User.Read" is granted
// by "User.Read". Scopes compare case-insensitively.
func notGranted(requested, granted string) string {
	if granted == "" {
		return ""
	}
	have := strings.Fields(strings.ToLower(granted))
	for _, s := range strings.Fields(requested) {
		l := strings.ToLower(s)
		if strings.HasSuffix(l, "/.default") || cachekey.IsOIDCScope(l) || slices.Contains(have, l) {
			continue
		}
		if i := strings.LastIndexByte(l, '/'); i >= 0 && slices.Contains(have, l[i+1:]) {
			continue
		}
		return s
	}
	return ""
}

// oboGrantSupported refuses an on-behalf-of grant a standards provider does
// not advertise, before any request: a configuration problem, not the
// user's.
func (a *TokenAcquirer) oboGrantSupported(ctx context.Context, grant string) error {
	if a.cfg.isEntra() {
		return nil
	}
	m, err := a.endpoints.Metadata(ctx)
	if err != nil {
		return err
	}
	name := "urn:ietf:params:oauth:grant-type:token-exchange"
	if grant == grantJWTBearer {
		name = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	}
	if !m.SupportsGrant(name) {
		return &configError{"OnBehalfOfGrant", fmt.Sprintf("the provider does not advertise %s (grant_types_supported): enable token exchange at the provider, or set OnBehalfOfGrant to the grant it supports", name)}
	}
	return nil
}

// grantedScopes returns the scopes of requested the response granted.
func grantedScopes(requested []string, granted string) []string {
	out := make([]string, 0, len(requested))
	for _, s := range requested {
		if notGranted(s, granted) == "" {
			out = append(out, s)
		}
	}
	return out
}

// storeToken caches an access token until its expiry and returns its entry.
func (a *TokenAcquirer) storeToken(ctx context.Context, key, scopes string, tr *oauth.TokenResponse) cacheentry.Token {
	e := a.entryFrom(tr, scopes)
	if err := a.cache.Set(ctx, key, cacheentry.EncodeToken(&e), time.Unix(e.ExpiresOn, 0).Sub(a.clock.Now())); err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token cache write failed", telemetry.Err(err))
	}
	return e
}

// entryFrom is the cache entry of a token response.
func (a *TokenAcquirer) entryFrom(tr *oauth.TokenResponse, scopes string) cacheentry.Token {
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
// (Redis through cachestore.Tiered), waiting at most RefreshLockWait for
// another instance's refresh of the same user.
//
// When the shared cache cannot take the lock (Redis down, failing over, a
// lock no replica acknowledged), it tries again with back-off for at most
// lockOutageWait (within RefreshLockWait and ctx): a Sentinel or Cluster
// failover takes 2–3 s. If it still cannot, the refresh token is not spent
// and the call fails with ErrUnavailable: every instance holds the refresh
// token in its L1, and without the lock each would spend it — a reuse that
// ends the user's session at providers that detect it (OAuth 2.0 Security
// BCP §4.14.2). Access tokens still valid are served meanwhile; only a
// refresh waits for the shared cache. A cache that cannot lock at all (no
// Locker: one instance, or a store without locks) refreshes unlocked.
//
// held, when the lock can tell (cachestore.Lease), reports whether the
// lock is still this instance's: checked just before a refresh token is
// spent.
func (a *TokenAcquirer) distributedLock(ctx context.Context, name string) (release func(), held func(context.Context) error, err error) {
	l, ok := a.cache.(cachestore.Locker)
	if !ok {
		return nil, nil, nil
	}
	lctx, cancel := context.WithTimeout(ctx, a.opts.RefreshLockWait)
	defer cancel()
	outage := time.Time{} // when the lock first failed for want of Redis
	backoff := 50 * time.Millisecond
	for {
		u, err := l.Lock(lctx, name, 15*time.Second)
		if err == nil {
			if lease, ok := u.(cachestore.Lease); ok {
				held = lease.Held
			}
			return func() { u.Unlock(context.WithoutCancel(ctx)) }, held, nil
		}
		if errors.Is(err, cachestore.ErrNoLocker) {
			return nil, nil, nil
		}
		now := time.Now()
		if outage.IsZero() {
			outage = now
		}
		if lctx.Err() != nil || now.Sub(outage) >= lockOutageWait {
			a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: not spending a refresh token without the shared cache's lock; retry later", telemetry.Err(err))
			return nil, nil, errNoRefreshLock
		}
		select {
		case <-time.After(backoff):
		case <-lctx.Done():
		}
		backoff = min(2*backoff, time.Second)
	}
}

// lockOutageWait bounds the retries of a lock the shared cache cannot take
// (see distributedLock).
const lockOutageWait = 10 * time.Second

// errNoRefreshLock: the shared cache could not lock a refresh.
var errNoRefreshLock = &lockError{}

type lockError struct{}

func (*lockError) Error() string {
	return "identityweb: the shared token cache cannot be locked or read now; the refresh token was not spent (retry later)"
}
func (*lockError) Is(target error) bool { return target == ErrUnavailable }

func (a *TokenAcquirer) loadRefresh(ctx context.Context, kind cachekey.Kind, partition string) (cacheentry.Refresh, bool) {
	e, ok, _ := a.loadRefreshErr(ctx, kind, partition)
	return e, ok
}

// loadRefreshErr is loadRefresh that also says when the cache could not
// tell (ErrL2Unavailable: the shared level unreachable, no local copy).
func (a *TokenAcquirer) loadRefreshErr(ctx context.Context, kind cachekey.Kind, partition string) (cacheentry.Refresh, bool, error) {
	b, ok, err := a.getFresh(ctx, a.keys.Refresh(kind, partition))
	if err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: token cache read failed", telemetry.Err(err))
		if !ok && errors.Is(err, cachestore.ErrL2Unavailable) {
			return cacheentry.Refresh{}, false, err
		}
	}
	if !ok {
		return cacheentry.Refresh{}, false, nil
	}
	e, valid := cacheentry.DecodeRefresh(b)
	if !valid {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: ignoring a corrupt refresh token cache entry")
	}
	return e, valid, nil
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
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code.Code}, "redirect_uri": {code.RedirectURI}}
	if a.cfg.isEntra() { // Entra's v2.0 endpoint wants the scopes again
		form.Set("scope", strings.TrimSpace(strings.Join(scopes, " ")+" offline_access openid profile"))
	}
	if code.CodeVerifier != "" {
		form.Set("code_verifier", code.CodeVerifier)
	}
	for k, v := range o.params {
		form[k] = v
	}
	unlock := a.partitionLock(s.partition)
	defer unlock()
	pop, err := a.dpopFor(ctx)
	if err != nil {
		return Result{}, err
	}
	tr, inHTTP, err := a.post(ctx, tokenCall{grant: "authorization_code", endpoint: endpoint, form: form, userFlow: true, dpop: pop})
	if err != nil {
		return Result{}, err
	}
	// The access token is cached for the scopes the user granted (a user
	// may consent to fewer than asked), unless it is for a resource
	// indicator the cache key would not name.
	e := a.entryFrom(tr, "")
	var atKeys []string
	if granted := grantedScopes(scopes, tr.Scope); len(granted) > 0 && len(a.cfg.Resources) == 0 && o.params == nil {
		key := a.keys.Token(cachekey.User, tenant, granted, s.partition)
		if pop != nil {
			key += "|dpop=" + pop.signer.JKT() // as acquire builds it
		}
		e = a.storeToken(ctx, key, strings.Join(granted, " "), tr)
		atKeys = []string{key}
	}
	acct := idtoken.Account(tr.IDToken)
	if tr.RefreshToken != "" {
		a.storeRefresh(ctx, cachekey.User, s.partition, cacheentry.Refresh{RefreshToken: tr.RefreshToken, Account: acct, ATKeys: atKeys, IDToken: tr.IDToken})
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

// signOutInfo returns what sign-out sends to the provider: the last ID
// token (the id_token_hint) and the refresh token (to revoke).
func (s UserSession) signOutInfo(ctx context.Context) (idToken, refreshToken string) {
	if s.partition == "" {
		return "", ""
	}
	rt, _ := s.a.loadRefresh(ctx, cachekey.User, s.partition)
	return rt.IDToken, rt.RefreshToken
}

// introspect asks the provider's RFC 7662 endpoint about an opaque access
// token, authenticating as the app, and returns the JSON answer. An
// unreachable endpoint or a 5xx is ErrUnavailable; a refusal of the app's
// credential is a configuration problem.
func (a *TokenAcquirer) introspect(ctx context.Context, endpoint, token string) ([]byte, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	h := http.Header{}
	if err := a.authenticate(ctx, endpoint, h, form); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &oauth.TransportError{Err: err}
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := oauth.NoRedirects(a.http).Do(req)
	if err != nil {
		return nil, &oauth.TransportError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		return nil, &oauth.TransportError{Err: err}
	case resp.StatusCode >= 500:
		return nil, &oauth.TransportError{Err: fmt.Errorf("the introspection endpoint answered %d", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return nil, &configError{"ClientCredentials", fmt.Sprintf("the introspection endpoint refused the app (status %d): the API needs a credential the provider accepts", resp.StatusCode)}
	}
	return body, nil
}

// pushAuthorization pushes an authorization request (RFC 9126) with the
// app's client authentication and returns its request_uri.
func (a *TokenAcquirer) pushAuthorization(ctx context.Context, endpoint string, q url.Values) (string, error) {
	form := make(url.Values, len(q)+4)
	for k, v := range q {
		form[k] = v
	}
	h := http.Header{}
	if err := a.authenticate(ctx, endpoint, h, form); err != nil {
		return "", err
	}
	resp, err := oauth.Exchange(ctx, a.http, a.clock.Now, endpoint, h, form)
	if err != nil {
		return "", err
	}
	switch {
	case resp.Error != nil:
		return "", oauthError(resp.Error)
	case resp.RequestURI == "":
		return "", &OAuthError{StatusCode: http.StatusCreated, Code: "invalid_response", Description: "the PAR answer has no request_uri"}
	}
	return resp.RequestURI, nil
}

// revoke asks the provider to revoke a refresh token (RFC 7009), within a
// few seconds; a failure is logged, never the user's problem: the token is
// gone from the cache already.
func (a *TokenAcquirer) revoke(ctx context.Context, endpoint, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}
	h := http.Header{}
	err := a.authenticate(ctx, endpoint, h, form)
	if err == nil {
		var resp *http.Response
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
		req.Header = h
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err = oauth.NoRedirects(a.http).Do(req); err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("the revocation endpoint answered %d", resp.StatusCode)
			}
		}
	}
	if err != nil {
		a.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: revoking the refresh token at sign-out failed", telemetry.Str("error", oauth.Sanitize(err)))
	}
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

// tokenCall is one logical token request: grant parameters without client
// authentication, which post adds per attempt.
type tokenCall struct {
	grant    string // for logs and metrics: client_credentials, refresh_token, …
	endpoint string
	form     url.Values
	userFlow bool
	dpop     *dpopState // nil: no DPoP proof
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
	resp, err := a.exchange(ctx, call)
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

// exchange posts a token request once, with a DPoP proof when the call
// has one; a provider's use_dpop_nonce answer is retried once with its
// nonce (RFC 9449 §8), never more.
func (a *TokenAcquirer) exchange(ctx context.Context, call tokenCall) (oauth.Response, error) {
	var spent time.Duration
	for attempt := 0; ; attempt++ {
		// Client authentication per attempt: a standards provider accepts
		// each assertion (jti) once.
		form := make(url.Values, len(call.form)+4)
		for k, v := range call.form {
			form[k] = v
		}
		header := http.Header{}
		if err := a.authenticate(ctx, call.endpoint, header, form); err != nil {
			return oauth.Response{InHTTP: spent}, err
		}
		if call.dpop != nil {
			p, err := call.dpop.proof(http.MethodPost, call.endpoint, a.clock.Now(), "")
			if err != nil {
				return oauth.Response{InHTTP: spent}, &configError{"DPoPKey", err.Error()}
			}
			header.Set("DPoP", p)
		}
		resp, err := oauth.Exchange(ctx, a.http, a.clock.Now, call.endpoint, header, form)
		resp.InHTTP += spent
		if err != nil || call.dpop == nil {
			return resp, err
		}
		fresh := call.dpop.keepNonce(call.endpoint, resp.DPoPNonce)
		if attempt > 0 || resp.Error == nil || resp.Error.Error != "use_dpop_nonce" || !fresh {
			return resp, nil
		}
		spent = resp.InHTTP
	}
}

// authenticate adds the app's client authentication to a request to the
// provider (token, introspection or revocation endpoint): a secret in the
// form or in a Basic header, or a signed assertion, as the provider's
// discovery document allows (Entra: secret in the form, PS256 assertions
// reused while they have minutes to live; other providers: a fresh jti per
// request, an algorithm they list).
func (a *TokenAcquirer) authenticate(ctx context.Context, endpoint string, h http.Header, form url.Values) error {
	if a.cred == nil {
		return &configError{"ClientCredentials", "no client credential: add a ClientCredentials entry (a certificate), set Options.Credential, or for development ClientSecret"}
	}
	req := certsource.AuthRequest{ClientID: a.cfg.ClientID, TokenEndpoint: endpoint, Now: a.clock.Now()}
	method, secretOK := certsource.SecretPost, true
	if !a.cfg.isEntra() {
		m, err := a.endpoints.Metadata(ctx)
		if err != nil {
			return err
		}
		req.TokenEndpoint = m.Token // an assertion's audience, whichever endpoint it is for
		req.SigningAlgs, req.FreshAssertion = m.AuthSigningAlgs, true
		method, secretOK = certsource.SecretMethodFor(m.AuthMethods)
	}
	switch a.cfg.TokenEndpointAuthMethod {
	case authBasic:
		method, secretOK = certsource.SecretBasic, true
	case authPost:
		method, secretOK = certsource.SecretPost, true
	}
	auth, err := a.cred.ClientAuth(ctx, req)
	if err != nil {
		return &credentialError{err}
	}
	switch {
	case auth.ClientSecret != "" && a.cfg.TokenEndpointAuthMethod == authPrivateKeyJWT:
		return &configError{"TokenEndpointAuthMethod", "private_key_jwt needs a certificate or key credential, not a secret"}
	case auth.ClientSecret != "" && !secretOK:
		return &configError{"ClientCredentials", "the provider accepts no client secret (token_endpoint_auth_methods_supported): use a certificate or key (private_key_jwt)"}
	}
	auth.Apply(h, form, a.cfg.ClientID, method)
	return nil
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

// Is matches ErrUnavailable when the source is down, ErrConfig when its
// material is bad or fits no algorithm the provider accepts.
func (e *credentialError) Is(t error) bool {
	misconfigured := errors.Is(e.err, certsource.ErrBadCertificate) || errors.Is(e.err, certsource.ErrNoSigningAlgorithm) || errors.Is(e.err, ErrConfig)
	switch t {
	case ErrUnavailable:
		return !misconfigured
	case ErrConfig:
		return misconfigured
	}
	return false
}
