package identityweb

import (
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/identityweb/go-identityweb/internal/discovery"
	"github.com/identityweb/go-identityweb/internal/jwks"
	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// Policy authorizes a validated token; a non-nil error means 403. It reads
// the claims: they are shared by every request that carries the same token
// (from the validated-token cache), so a Policy must not modify them.
type Policy func(*Claims) error

type policyError struct{ scope string }

func (e *policyError) Error() string   { return "identityweb: insufficient scope or role" }
func (e *policyError) Is(t error) bool { return t == ErrForbidden }

// RequireScopes accepts user tokens carrying any of scopes in "scp" (Identity
// Web's VerifyUserHasAnyAcceptedScope).
func RequireScopes(scopes ...string) Policy {
	return func(c *Claims) error {
		for _, s := range scopes {
			if slices.Contains(c.Scopes, s) {
				return nil
			}
		}
		return &policyError{strings.Join(scopes, " ")}
	}
}

// RequireRoles accepts tokens carrying any of roles in "roles" (app
// permissions for app tokens, app roles for users).
func RequireRoles(roles ...string) Policy {
	return func(c *Claims) error {
		for _, r := range roles {
			if slices.Contains(c.Roles, r) {
				return nil
			}
		}
		return &policyError{strings.Join(roles, " ")}
	}
}

// RequireScopesOrRoles accepts user tokens with any of scopes or app tokens
// with any of roles (Identity Web's RequiredScopeOrAppPermission).
func RequireScopesOrRoles(scopes, roles []string) Policy {
	s, r := RequireScopes(scopes...), RequireRoles(roles...)
	return func(c *Claims) error {
		if s(c) == nil || r(c) == nil {
			return nil
		}
		return &policyError{strings.Join(append(append([]string{}, scopes...), roles...), " ")}
	}
}

// RequireBearer validates the request's bearer token — signature (RS256 or
// PS256 only, by a key the provider still publishes), typ (when present:
// JWT or at+jwt), issuer (multi-tenant: tid checked against iss), audience
// (Config.Audiences), exp/nbf with 5 minutes of skew, scopes or roles
// present (see AppOptions.AllowWebAPIToBeAuthorizedByACL) — and applies
// every policy. Failures answer 400 error="invalid_request" for several
// Authorization headers, 401 with WWW-Authenticate error="invalid_token",
// 403 error="insufficient_scope", or 503 when the provider's keys cannot be
// had (the token may be fine), with messages safe for clients. Validated
// tokens are cached until their exp (AppOptions.ValidatedTokenCache), or
// until the provider removes the key that signed them.
func (a *App) RequireBearer(policies ...Policy) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw, status := bearerToken(r)
			switch status {
			case http.StatusBadRequest:
				w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb", error="invalid_request"`)
				writeAPIError(w, http.StatusBadRequest, "invalid_request", "Send one Authorization header with one bearer token.")
				return
			case http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb"`)
				writeAPIError(w, http.StatusUnauthorized, "invalid_request", "A bearer token is required.")
				return
			}
			ctx, err := a.ValidateToken(r.Context(), raw, policies...)
			if err != nil {
				a.replyBearerError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// ValidateToken validates a raw access token as RequireBearer does, for
// servers without an http.Handler chain (gRPC interceptors, WebSocket
// upgrades). It returns ctx carrying the token: ClaimsFromContext reads its
// claims, and Token(ctx, OnBehalfOf, …) exchanges it. The error matches
// ErrInvalidToken (answer 401), ErrForbidden (a policy refused it: 403) or
// ErrUnavailable (503).
func (a *App) ValidateToken(ctx context.Context, raw string, policies ...Policy) (context.Context, error) {
	claims, err := a.accessTokens.validate(ctx, raw)
	if err != nil {
		return ctx, err
	}
	for _, p := range policies {
		if err := p(claims); err != nil {
			var pe *policyError
			if !errors.As(err, &pe) {
				pe = &policyError{}
			}
			return ctx, pe
		}
	}
	return context.WithValue(ctx, ctxBearer, &bearer{raw: raw, claims: claims}), nil
}

// replyBearerError answers a refused bearer token without internals.
func (a *App) replyBearerError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var pe *policyError
	switch {
	case errors.As(err, &pe):
		scope := ""
		if pe.scope != "" {
			scope = `, scope="` + pe.scope + `"`
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb", error="insufficient_scope"`+scope)
		writeAPIError(w, http.StatusForbidden, "insufficient_scope", "The access token does not grant this operation.")
	case errors.Is(err, ErrInvalidToken):
		a.acq.logger.LogAttrs(ctx, telemetry.LevelDebug, "identityweb: bearer token refused", telemetry.Err(err))
		w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb", error="invalid_token", error_description="The access token is missing or not valid."`)
		writeAPIError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing or not valid.")
	default:
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: cannot validate bearer tokens now", telemetry.Err(err))
		w.Header().Set("Retry-After", "5")
		writeAPIError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
	}
}

// bearerToken returns the request's bearer token, or the status to answer:
// 401 when there is none, 400 when the request carries several
// Authorization headers (RFC 6750 allows one credential per request; which
// one counts must not depend on header order).
func bearerToken(r *http.Request) (string, int) {
	hs := r.Header["Authorization"]
	if len(hs) > 1 {
		return "", http.StatusBadRequest
	}
	if len(hs) == 0 || len(hs[0]) < 8 || !strings.EqualFold(hs[0][:7], "bearer ") {
		return "", http.StatusUnauthorized
	}
	t := strings.TrimSpace(hs[0][7:])
	if t == "" || len(t) >= 16<<10 {
		return "", http.StatusUnauthorized
	}
	return t, 0
}

// Claims are the validated claims of an access or ID token.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ObjectID  string   // oid
	TenantID  string   // tid
	AppID     string   // azp (or appid)
	Scopes    []string // scp, split
	Roles     []string // roles
	Name      string
	Username  string // preferred_username
	IDType    string // idtyp ("app" for app tokens)
	Nonce     string
	ExpiresAt time.Time
	raw       []byte
}

// Decode unmarshals the token's full claims into v.
func (c *Claims) Decode(v any) error { return json.Unmarshal(c.raw, v) }

// clone returns a copy of c that shares nothing writable with it: its
// slices are copied (into one array, each capped so that an append
// reallocates).
func (c *Claims) clone() *Claims {
	out := *c
	n := len(c.Audience) + len(c.Scopes) + len(c.Roles)
	if n == 0 {
		return &out
	}
	all := make([]string, 0, n)
	part := func(s []string) []string {
		if s == nil {
			return nil
		}
		i := len(all)
		all = append(all, s...)
		return all[i:len(all):len(all)]
	}
	out.Audience, out.Scopes, out.Roles = part(c.Audience), part(c.Scopes), part(c.Roles)
	return &out
}

// IsApp reports whether the token represents an application, not a user.
func (c *Claims) IsApp() bool {
	return c.IDType == "app" || (len(c.Scopes) == 0 && c.ObjectID != "" && c.ObjectID == c.Subject)
}

type rawClaims struct {
	Iss               string   `json:"iss"`
	Sub               string   `json:"sub"`
	Aud               audience `json:"aud"`
	Oid               string   `json:"oid"`
	Tid               string   `json:"tid"`
	Azp               string   `json:"azp"`
	Appid             string   `json:"appid"`
	Scp               string   `json:"scp"`
	Scope             string   `json:"scope"` // RFC 9068 access tokens
	Roles             []string `json:"roles"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Idtyp             string   `json:"idtyp"`
	Nonce             string   `json:"nonce"`
	Exp               int64    `json:"exp"`
	Nbf               int64    `json:"nbf"`
	Iat               int64    `json:"iat"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// Validation errors. Their messages are safe to log; clients get only
// "invalid_token" or "insufficient_scope".
var (
	// ErrInvalidToken: the token is not valid (format, signature, issuer,
	// audience, lifetime).
	ErrInvalidToken = errors.New("identityweb: invalid token")
	// ErrForbidden: the token is valid but a Policy refused it.
	ErrForbidden = errors.New("identityweb: insufficient scope or role")
)

type tokenError struct{ reason string }

func (e *tokenError) Error() string   { return "identityweb: invalid token: " + e.reason }
func (e *tokenError) Is(t error) bool { return t == ErrInvalidToken }

// validator validates JWTs from the provider: signature (RS256/PS256 only,
// with a rate-limited key set), issuer (including Entra's multi-tenant
// template, with tid checked against iss), audience, exp/nbf with skew,
// and for access tokens a verified-token cache. An access token is parsed
// once (the key set verifies and returns its payload); ID tokens, once per
// sign-in, go through go-oidc's verifier.
type validator struct {
	e         *discovery.Endpoints
	cfg       *Config
	clock     Clock
	skew      time.Duration
	audiences []string
	verifier  *oidc.IDTokenVerifier // ID tokens only
	keys      *jwks.Set
	cache     *verifiedCache
	// acl accepts access tokens without scopes or roles
	// (AppOptions.AllowWebAPIToBeAuthorizedByACL).
	acl bool
}

// newValidator returns a validator of ID tokens, or of access tokens with
// the given validated-token cache (nil: none).
func newValidator(e *discovery.Endpoints, cfg *Config, ks *jwks.Set, clock Clock, audiences []string, cache *verifiedCache, idTokens bool) *validator {
	v := &validator{e: e, cfg: cfg, clock: clock, skew: 5 * time.Minute, audiences: audiences, keys: ks, cache: cache}
	if idTokens {
		v.verifier = oidc.NewVerifier("", ks, &oidc.Config{
			SkipClientIDCheck: true, SkipIssuerCheck: true, SkipExpiryCheck: true,
			SupportedSigningAlgs: []string{oidc.RS256, oidc.PS256},
		})
	}
	return v
}

// validate returns the token's claims. Claims from the validated-token
// cache are shared by every request with the token: callers hand out
// clones.
func (v *validator) validate(ctx context.Context, raw string) (*Claims, error) {
	now := v.clock.Now()
	if v.keys.Due(now) { // the key schedule holds for cached tokens too
		v.keys.Ready(ctx)
	}
	if v.cache != nil {
		if c, ok := v.cache.get(raw, now); ok {
			return c, nil
		}
	}
	if _, err := v.e.Metadata(ctx); err != nil {
		return nil, err
	}
	payload, kid, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	var rc rawClaims
	if json.Unmarshal(payload, &rc) != nil {
		return nil, &tokenError{"claims are not valid JSON"}
	}
	c, err := v.check(ctx, &rc, now)
	if err != nil {
		return nil, err
	}
	c.raw = payload
	if v.cache != nil {
		v.cache.put(raw, c, kid, v.keys.Has)
	}
	return c, nil
}

// accessTokenTypes are the typ headers of access tokens: Entra's "JWT"
// and RFC 9068's. A token without typ is accepted (many providers send
// none); one that names another kind of JWT (an ID token, a logout token, a
// DPoP proof…) is not an access token.
var accessTokenTypes = []string{"JWT", "at+jwt", "application/at+jwt"}

// verify checks the signature and returns the payload and the key's kid.
// A key set that cannot be fetched is ErrUnavailable, not an invalid token.
func (v *validator) verify(ctx context.Context, raw string) ([]byte, string, error) {
	if err := v.keys.Ready(ctx); err != nil {
		return nil, "", err
	}
	if v.verifier == nil {
		tok, err := v.keys.Verify(ctx, raw)
		switch {
		case err == nil:
		case errors.Is(err, ErrUnavailable):
			return nil, "", err
		case errors.Is(err, jwks.ErrUnknownKey):
			return nil, "", &tokenError{"signed by a key the provider does not publish"}
		default:
			return nil, "", &tokenError{"signature or format: " + shorten(err.Error())}
		}
		if typ := tok.Header.Typ; typ != "" && !slices.ContainsFunc(accessTokenTypes, func(t string) bool { return strings.EqualFold(t, typ) }) {
			return nil, "", &tokenError{"not an access token (typ " + shorten(typ) + ")"}
		}
		return tok.Payload, tok.Header.Kid, nil
	}
	payload, err := v.verifyIDToken(ctx, raw)
	return payload, "", err
}

// verifyIDToken checks an ID token's signature through go-oidc.
func (v *validator) verifyIDToken(ctx context.Context, raw string) ([]byte, error) {
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, &tokenError{"signature, key or format: " + shorten(err.Error())}
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return nil, &tokenError{"claims are not valid JSON"}
	}
	return payload, nil
}

func (v *validator) check(ctx context.Context, rc *rawClaims, now time.Time) (*Claims, error) {
	if rc.Sub == "" {
		return nil, &tokenError{"no subject"}
	}
	if rc.Exp == 0 || !now.Before(time.Unix(rc.Exp, 0).Add(v.skew)) {
		return nil, &tokenError{"expired"}
	}
	if rc.Nbf != 0 && now.Add(v.skew).Before(time.Unix(rc.Nbf, 0)) {
		return nil, &tokenError{"not yet valid"}
	}
	if err := v.checkIssuer(ctx, rc); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(rc.Aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, &tokenError{"wrong audience"}
	}
	c := &Claims{Issuer: rc.Iss, Subject: rc.Sub, Audience: rc.Aud, ObjectID: rc.Oid, TenantID: rc.Tid,
		AppID: rc.Azp, Roles: rc.Roles, Name: rc.Name, Username: rc.PreferredUsername, IDType: rc.Idtyp,
		Nonce: rc.Nonce, ExpiresAt: time.Unix(rc.Exp, 0)}
	if c.AppID == "" {
		c.AppID = rc.Appid
	}
	scp := rc.Scp
	if scp == "" {
		scp = rc.Scope
	}
	if fields := strings.Fields(scp); len(fields) > 0 {
		c.Scopes = fields
	}
	c.Roles = slices.DeleteFunc(c.Roles, func(r string) bool { return strings.TrimSpace(r) == "" })
	if len(c.Roles) == 0 {
		c.Roles = nil
	}
	// An access token grants something: scopes (delegated) or roles (app
	// permissions). One with neither is most likely an ID token issued to
	// this app (its audience is the client id too): IDW10201.
	if v.verifier == nil && !v.acl && c.Scopes == nil && c.Roles == nil {
		return nil, &tokenError{"neither scopes (scp) nor roles: not an access token for this API (IDW10201)"}
	}
	return c, nil
}

// checkIssuer accepts the tenant's issuer or, for multi-tenant Entra apps
// ("common", "organizations"), the issuer template with the token's own tid.
func (v *validator) checkIssuer(ctx context.Context, rc *rawClaims) error {
	m, err := v.e.Metadata(ctx)
	if err != nil {
		return err
	}
	want := m.Issuer
	if strings.Contains(want, "{tenantid}") {
		if !isTenantID(rc.Tid) {
			return &tokenError{"multi-tenant token without a valid tid"}
		}
		want = strings.Replace(want, "{tenantid}", rc.Tid, 1)
	} else if v.cfg.isEntra() && rc.Tid != "" && !strings.Contains(rc.Iss, rc.Tid) {
		return &tokenError{"tid does not match the issuer"}
	}
	if rc.Iss != want {
		return &tokenError{"wrong issuer"}
	}
	return nil
}

func isTenantID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func shorten(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}

// verifiedCache remembers validated access tokens until their exp, keyed by
// the token itself (an exact map key: no collisions, no hashing cost), in a
// bounded number of shards cleared when full. Each entry remembers the key
// that vouched for it: when the provider removes a key, its entries go.
type verifiedCache struct {
	seed   maphash.Seed
	max    int
	shards [16]struct {
		mu sync.RWMutex
		m  map[string]verified
	}
}

type verified struct {
	claims *Claims
	kid    string
}

func newVerifiedCache(max int) *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed(), max: max/16 + 1}
	for i := range c.shards {
		c.shards[i].m = map[string]verified{}
	}
	return c
}

func (c *verifiedCache) get(raw string, now time.Time) (*Claims, bool) {
	sh := &c.shards[maphash.String(c.seed, raw)%16]
	sh.mu.RLock()
	e, ok := sh.m[raw]
	sh.mu.RUnlock()
	if !ok || !now.Before(e.claims.ExpiresAt) {
		return nil, false
	}
	return e.claims, true
}

// put caches a token verified by kid, if the set still has kid (has is read
// under the shard's lock, so an entry is never added after the purge of its
// key).
func (c *verifiedCache) put(raw string, cl *Claims, kid string, has func(string) bool) {
	sh := &c.shards[maphash.String(c.seed, raw)%16]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !has(kid) {
		return
	}
	if len(sh.m) >= c.max {
		clear(sh.m)
	}
	sh.m[strings.Clone(raw)] = verified{cl, kid}
}

// purge drops the entries that keys vouched for (removed by the provider).
// A nil cache holds nothing.
func (c *verifiedCache) purge(kids []string) {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		maps.DeleteFunc(sh.m, func(_ string, e verified) bool { return slices.Contains(kids, e.kid) })
		sh.mu.Unlock()
	}
}
