package identityweb

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"hash/maphash"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/identityweb/go-identityweb/internal/discovery"
	"github.com/identityweb/go-identityweb/internal/dpop"
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
			authz := r.Header["Authorization"] // canonical already: no Get's canonicalization
			if len(authz) > 1 {                // RFC 6750: one credential per request
				a.challengeHeader(w, r, `error="invalid_request"`)
				writeAPIError(w, http.StatusBadRequest, "invalid_request", "Send one Authorization header with one access token.")
				return
			}
			scheme, raw, ok := parseCredentials(authz)
			if !ok {
				a.challengeHeader(w, r, "")
				writeAPIError(w, http.StatusUnauthorized, "invalid_request", "An access token is required.")
				return
			}
			switch {
			case scheme == "DPoP":
				ctx, err := a.validateDPoP(r, raw, policies)
				if err != nil {
					a.replyBearerError(w, r, err)
					return
				}
				next.ServeHTTP(w, r.WithContext(ctx))
			case a.opts.RequireDPoP:
				a.replyBearerError(w, r, &tokenError{"a bearer token where DPoP is required"})
			default:
				claims, err := a.validateBearer(r.Context(), raw, policies)
				if err != nil {
					a.replyBearerError(w, r, err)
					return
				}
				next.ServeHTTP(w, withBearer(r, raw, claims))
			}
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
	claims, err := a.validateBearer(ctx, raw, policies)
	if err != nil {
		return ctx, err
	}
	return &bearerContext{Context: ctx, b: bearer{raw: raw, claims: claims}}, nil
}

// validateBearer validates a bearer token and applies the policies.
func (a *App) validateBearer(ctx context.Context, raw string, policies []Policy) (*Claims, error) {
	claims, err := a.accessTokens.validate(ctx, raw)
	if err != nil {
		return nil, err
	}
	if claims.jkt != "" { // no downgrade: a bound token needs its proof
		return nil, &tokenError{"a DPoP-bound token presented as a bearer token"}
	}
	return claims, policiesAllow(claims, policies)
}

// authorize applies the policies to a validated token and returns the
// context carrying it.
func (a *App) authorize(ctx context.Context, raw string, claims *Claims, policies []Policy) (context.Context, error) {
	if err := policiesAllow(claims, policies); err != nil {
		return ctx, err
	}
	return &bearerContext{Context: ctx, b: bearer{raw: raw, claims: claims}}, nil
}

// policiesAllow runs the policies; a refusal is a *policyError (403).
func policiesAllow(claims *Claims, policies []Policy) error {
	for _, p := range policies {
		if err := p(claims); err != nil {
			var pe *policyError
			if !errors.As(err, &pe) {
				pe = &policyError{}
			}
			return pe
		}
	}
	return nil
}

// bearerRequest is the request RequireBearer passes on and its context, in
// one allocation: the Request is the shallow copy http.Request.WithContext
// makes (taken from a WithContext whose own result does not outlive this
// function), followed by the context value carrying the token.
type bearerRequest struct {
	r   http.Request
	ctx bearerContext
}

// withBearer returns r carrying the validated token, as
// r.WithContext(ValidateToken's context) would.
func withBearer(r *http.Request, raw string, claims *Claims) *http.Request {
	br := &bearerRequest{ctx: bearerContext{Context: r.Context(), b: bearer{raw: raw, claims: claims}}}
	br.r = *r.WithContext(&br.ctx)
	return &br.r
}

// bearerContext is context.WithValue(ctx, ctxBearer, &bearer{…}) in one
// allocation instead of two: a validated request costs this and the
// Request copy of http.Request.WithContext, which net/http makes for any
// middleware that passes a value on without modifying the caller's request.
type bearerContext struct {
	context.Context
	b bearer
}

func (c *bearerContext) Value(key any) any {
	if key == ctxBearer {
		return &c.b
	}
	return c.Context.Value(key)
}

// replyBearerError answers a refused token without internals, in the
// scheme the client used (RFC 6750 §3, RFC 9449 §7.1).
func (a *App) replyBearerError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	var pe *policyError
	switch {
	case errors.As(err, &pe):
		scope := ""
		if pe.scope != "" {
			scope = `, scope="` + pe.scope + `"`
		}
		a.challengeHeader(w, r, `error="insufficient_scope"`+scope)
		writeAPIError(w, http.StatusForbidden, "insufficient_scope", "The access token does not grant this operation.")
	case errors.Is(err, errDPoPNonce):
		w.Header().Set("DPoP-Nonce", a.dpopNonce(a.acq.clock.Now(), 0))
		a.challengeHeader(w, r, `error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
		writeAPIError(w, http.StatusUnauthorized, "use_dpop_nonce", "Send the DPoP proof again with the nonce.")
	case errors.Is(err, errInvalidProof):
		a.acq.logger.LogAttrs(ctx, telemetry.LevelDebug, "identityweb: DPoP proof refused", telemetry.Err(err))
		a.challengeHeader(w, r, `error="invalid_dpop_proof", error_description="The DPoP proof is missing or not valid."`)
		writeAPIError(w, http.StatusUnauthorized, "invalid_dpop_proof", "The DPoP proof is missing or not valid.")
	case errors.Is(err, ErrInvalidToken):
		a.acq.logger.LogAttrs(ctx, telemetry.LevelDebug, "identityweb: access token refused", telemetry.Err(err))
		a.challengeHeader(w, r, `error="invalid_token", error_description="The access token is missing or not valid."`)
		writeAPIError(w, http.StatusUnauthorized, "invalid_token", "The access token is missing or not valid.")
	case errors.Is(err, ErrConfig):
		a.acq.logger.LogAttrs(ctx, telemetry.LevelError, "identityweb: cannot validate access tokens: configuration", telemetry.Err(err))
		writeAPIError(w, http.StatusInternalServerError, "server_error", "The API is not configured correctly.")
	default:
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: cannot validate access tokens now", telemetry.Err(err))
		w.Header().Set("Retry-After", "5")
		writeAPIError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
	}
}

// challengeHeader sets WWW-Authenticate with params in the scheme the
// request used; an API that requires DPoP, or a DPoP request, gets a DPoP
// challenge listing the accepted algorithms.
func (a *App) challengeHeader(w http.ResponseWriter, r *http.Request, params string) {
	scheme, _, _ := credentials(r)
	if a.opts.RequireDPoP || scheme == "DPoP" {
		h := `DPoP algs="` + strings.Join(dpop.Algorithms, " ") + `"`
		if params != "" {
			h += ", " + params
		}
		w.Header().Set("WWW-Authenticate", h)
		return
	}
	h := `Bearer realm="identityweb"`
	if params != "" {
		h += ", " + params
	}
	w.Header().Set("WWW-Authenticate", h)
}

// credentials reads the Authorization header: scheme "Bearer" or "DPoP"
// (RFC 9449) and the token.
func credentials(r *http.Request) (scheme, token string, ok bool) {
	return parseCredentials(r.Header["Authorization"]) // canonical already: no Get's canonicalization
}

// printableASCII reports whether b is neither a space nor a byte of a
// multi-byte character (which strings.TrimSpace might trim).
func printableASCII(b byte) bool { return b > ' ' && b < 0x7f }

// parseCredentials is credentials on the request's Authorization values.
func parseCredentials(authz []string) (scheme, token string, ok bool) {
	var h string
	if len(authz) > 0 {
		h = authz[0]
	}
	// The common form, "Bearer <token>" with nothing to trim, without
	// scanning for the space or folding case.
	if len(h) > 7 && len(h) < 7+16<<10 && h[:7] == "Bearer " && printableASCII(h[7]) && printableASCII(h[len(h)-1]) {
		return "Bearer", h[7:], true
	}
	return parseCredential(h)
}

// parseCredential parses one Authorization value: a scheme (Bearer or
// DPoP, any case), one space, and a token (trimmed, under 16 KiB).
func parseCredential(h string) (scheme, token string, ok bool) {
	s, t, found := strings.Cut(h, " ")
	switch {
	case !found:
		return "", "", false
	case strings.EqualFold(s, "bearer"):
		scheme = "Bearer"
	case strings.EqualFold(s, "dpop"):
		scheme = "DPoP"
	default:
		return "", "", false
	}
	t = strings.TrimSpace(t)
	return scheme, t, t != "" && len(t) < 16<<10
}

// Claims are the validated claims of an access or ID token.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ObjectID  string   // oid
	TenantID  string   // tid
	AppID     string   // azp, appid, or RFC 9068 client_id
	Scopes    []string // scp (string or array) or RFC 9068 scope; Config.ScopeClaim
	Roles     []string // roles; Config.RoleClaim
	Name      string
	Username  string // preferred_username
	IDType    string // idtyp ("app" for Entra app tokens)
	Nonce     string
	ExpiresAt time.Time
	raw       []byte
	until     time.Time // introspected tokens: cached until then (before ExpiresAt)
	jkt       string    // cnf.jkt: the DPoP key the token is bound to (RFC 9449 §6)
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

// IsApp reports whether the token represents an application, not a user:
// Entra's idtyp "app" (or an app token without scopes whose oid is its
// sub), or an RFC 9068 client-credentials token, whose sub is its
// client_id.
func (c *Claims) IsApp() bool {
	switch {
	case c.IDType == "app":
		return true
	case c.IDType == "user":
		return false
	case len(c.Scopes) == 0 && c.ObjectID != "" && c.ObjectID == c.Subject:
		return true
	}
	return c.AppID != "" && c.AppID == c.Subject && c.ObjectID == ""
}

type rawClaims struct {
	Iss               string     `json:"iss"`
	Sub               string     `json:"sub"`
	Aud               stringList `json:"aud"`
	Oid               string     `json:"oid"`
	Tid               string     `json:"tid"`
	Azp               string     `json:"azp"`
	Appid             string     `json:"appid"`
	ClientID          string     `json:"client_id"`
	Scp               stringList `json:"scp"`
	Scope             stringList `json:"scope"`
	Roles             stringList `json:"roles"`
	Name              string     `json:"name"`
	PreferredUsername string     `json:"preferred_username"`
	Idtyp             string     `json:"idtyp"`
	Nonce             string     `json:"nonce"`
	Cnf               struct {
		JKT string `json:"jkt"`
	} `json:"cnf"`
	Exp json.Number `json:"exp"`
	Nbf json.Number `json:"nbf"`
	Iat json.Number `json:"iat"`
}

// stringList is a claim sent as a space-separated string or as an array of
// strings (aud, scp, scope, roles: providers differ).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = strings.Fields(one)
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// claimPath reads a claim as a list: by its exact name first (URL-like
// names such as Auth0's "https://example.com/roles" hold dots), else by a
// dotted path into nested objects ("realm_access.roles"). A string is split
// on spaces; an array keeps its strings; an object gives its keys (Zitadel's
// role claim maps each role to its organisations).
func claimPath(payload []byte, path string) []string {
	var top map[string]any
	if json.Unmarshal(payload, &top) != nil {
		return nil
	}
	v, ok := top[path]
	if !ok {
		var cur any = top
		for _, p := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[p]
		}
		v = cur
	}
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case map[string]any:
		return slices.Sorted(maps.Keys(t))
	}
	return nil
}

// unixClaim reads a NumericDate (RFC 7519: may be fractional).
func unixClaim(n json.Number) int64 {
	if n == "" {
		return 0
	}
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, _ := n.Float64()
	return int64(f)
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
	wall      *tickClock // the system clock's fast reading, when clock is the system clock
	skew      time.Duration
	audiences []string
	verifier  *oidc.IDTokenVerifier // ID tokens only
	keys      *jwks.Set
	cache     *verifiedCache
	// introspect asks the provider about an opaque access token (RFC 7662)
	// and returns the JSON answer; nil for ID tokens.
	introspect func(ctx context.Context, endpoint, token string) ([]byte, error)
	// acl accepts access tokens without scopes or roles
	// (AppOptions.AllowWebAPIToBeAuthorizedByACL).
	acl bool
}

// newValidator returns a validator of ID tokens, or of access tokens with
// the given validated-token cache (nil: none).
func newValidator(e *discovery.Endpoints, cfg *Config, ks *jwks.Set, clock Clock, audiences []string, cache *verifiedCache, idTokens bool) *validator {
	v := &validator{e: e, cfg: cfg, clock: clock, skew: 5 * time.Minute, audiences: audiences, keys: ks, cache: cache}
	if _, sys := clock.(systemClock); sys {
		v.wall = &systemTicks
	}
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
	// The cached path reads the clock once, in Unix nanoseconds (no Time
	// built); a Time only off it.
	var now time.Time
	var nowNs int64
	if v.wall != nil {
		nowNs = v.wall.UnixNano()
	} else {
		now = v.clock.Now()
		nowNs = now.UnixNano()
	}
	if v.keys.DueUnixNano(nowNs) { // the key schedule holds for cached tokens too
		v.keys.Ready(ctx)
	}
	if v.cache != nil {
		if c, ok := v.cache.get(raw, nowNs); ok {
			return c, nil
		}
	}
	if v.wall != nil {
		now = time.Unix(0, nowNs)
	}
	if _, err := v.e.Metadata(ctx); err != nil {
		return nil, err
	}
	payload, kid, opaque, err := v.verifyOrIntrospect(ctx, raw)
	if err != nil {
		return nil, err
	}
	var rc rawClaims
	if json.Unmarshal(payload, &rc) != nil {
		return nil, &tokenError{"claims are not valid JSON"}
	}
	if opaque { // RFC 7662 members are optional: the answer comes from the issuer itself
		if m, err := v.e.Metadata(ctx); err == nil && rc.Iss == "" {
			rc.Iss = m.Issuer
		}
		if rc.Sub == "" {
			rc.Sub = rc.ClientID // a client-credentials token (RFC 9068 §2.2)
		}
	}
	c, err := v.check(ctx, &rc, payload, now)
	if err != nil {
		return nil, err
	}
	c.raw = payload
	if opaque { // the provider may revoke it: ask again after a short while
		c.until = now.Add(introspectionCacheTTL)
	}
	if v.cache != nil {
		v.cache.put(raw, c, kid, v.keys.Has)
	}
	return c, nil
}

// introspectionCacheTTL bounds how long an introspected token is trusted
// without asking the provider again (never past its exp).
const introspectionCacheTTL = time.Minute

// verifyOrIntrospect returns a token's claims as JSON: a JWT's verified
// payload and the kid of the key that signed it, or for an opaque token
// (not three dot-separated parts) the provider's RFC 7662 introspection
// answer, when the provider has an introspection endpoint.
func (v *validator) verifyOrIntrospect(ctx context.Context, raw string) (payload []byte, kid string, opaque bool, err error) {
	if strings.Count(raw, ".") == 2 || v.introspect == nil {
		payload, kid, err := v.verify(ctx, raw)
		return payload, kid, false, err
	}
	m, err := v.e.Metadata(ctx)
	if err != nil {
		return nil, "", false, err
	}
	if m.Introspection == "" {
		return nil, "", false, &tokenError{"not a JWT, and the provider has no introspection endpoint"}
	}
	body, err := v.introspect(ctx, m.Introspection, raw)
	if err != nil {
		return nil, "", false, err
	}
	var active struct {
		Active bool `json:"active"`
	}
	if json.Unmarshal(body, &active) != nil || !active.Active {
		return nil, "", false, &tokenError{"the provider says the token is not active"}
	}
	return body, "", true, nil
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

func (v *validator) check(ctx context.Context, rc *rawClaims, payload []byte, now time.Time) (*Claims, error) {
	if rc.Sub == "" {
		return nil, &tokenError{"no subject"}
	}
	exp, nbf := unixClaim(rc.Exp), unixClaim(rc.Nbf)
	if exp == 0 || !now.Before(time.Unix(exp, 0).Add(v.skew)) {
		return nil, &tokenError{"expired"}
	}
	if nbf != 0 && now.Add(v.skew).Before(time.Unix(nbf, 0)) {
		return nil, &tokenError{"not yet valid"}
	}
	if err := v.checkIssuer(ctx, rc); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(rc.Aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, &tokenError{"wrong audience"}
	}
	c := &Claims{Issuer: rc.Iss, Subject: rc.Sub, Audience: rc.Aud, ObjectID: rc.Oid, TenantID: rc.Tid,
		AppID: cmp.Or(rc.Azp, rc.Appid, rc.ClientID), Scopes: rc.Scp, Roles: rc.Roles,
		Name: rc.Name, Username: rc.PreferredUsername, IDType: rc.Idtyp, Nonce: rc.Nonce, ExpiresAt: time.Unix(exp, 0), jkt: rc.Cnf.JKT}
	if len(c.Scopes) == 0 {
		c.Scopes = rc.Scope // RFC 9068
	}
	if v.cfg.ScopeClaim != "" {
		c.Scopes = claimPath(payload, v.cfg.ScopeClaim)
	}
	if v.cfg.RoleClaim != "" && v.cfg.RoleClaim != "roles" {
		c.Roles = claimPath(payload, v.cfg.RoleClaim)
	}
	// An access token grants something: scopes (delegated) or roles (app
	// permissions). One with neither is most likely an ID token issued to
	// this app (its audience is the client id too): IDW10201.
	granted := func(s string) bool { return strings.TrimSpace(s) != "" }
	if v.verifier == nil && !v.acl && !slices.ContainsFunc(c.Scopes, granted) && !slices.ContainsFunc(c.Roles, granted) {
		return nil, &tokenError{"neither scopes nor roles: not an access token for this API (IDW10201)"}
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

// verifiedCache remembers validated access tokens until their exp, in a
// fixed table of two-way buckets read without locks: a new token takes an
// empty place in its bucket, or else one of the two (the table holds at
// least as many places as ValidatedTokenCache asks). Each entry remembers
// the key that vouched for it: when the provider removes a key, its entries
// go.
//
// A token is found by a seeded hash of its last 64 bytes (its signature)
// and then compared whole: one short hash instead of two over a ~1 KB
// token. A token that ends like another (forged with another's signature,
// or by chance) is not the other: it is validated as any unknown token.
type verifiedCache struct {
	seed  maphash.Seed
	mask  uint64 // of the bucket index; places are 2*bucket and 2*bucket+1
	slots []atomic.Pointer[verified]
}

type verified struct {
	h      uint64
	end    int64 // Unix nanoseconds: the claims' exp, or until for an introspected token
	raw    string
	claims *Claims
	kid    string // "" for an introspected token
}

func newVerifiedCache(max int) *verifiedCache {
	buckets := 1
	for 2*buckets < max {
		buckets <<= 1
	}
	return &verifiedCache{seed: maphash.MakeSeed(), mask: uint64(buckets - 1), slots: make([]atomic.Pointer[verified], 2*buckets)}
}

func (c *verifiedCache) hash(raw string) uint64 {
	return maphash.String(c.seed, raw[max(0, len(raw)-64):])
}

// get returns the claims of raw if it is cached and live at now (Unix
// nanoseconds).
func (c *verifiedCache) get(raw string, now int64) (*Claims, bool) {
	h := c.hash(raw)
	b := 2 * (h & c.mask)
	e := c.slots[b].Load()
	if e == nil || e.h != h {
		e = c.slots[b+1].Load()
	}
	if e == nil || e.h != h || now >= e.end || e.raw != raw {
		return nil, false
	}
	return e.claims, true
}

// put caches a token verified by kid ("" for an introspected one), if the
// set still has kid. A purge of kid running at the same time cannot leave
// the entry behind: the key set drops kid before the purge reads the table
// (jwks.Options.OnRemoved), and put reads the set again after storing, so
// either the purge sees the entry or put sees kid gone and takes it back.
func (c *verifiedCache) put(raw string, cl *Claims, kid string, has func(string) bool) {
	if kid != "" && !has(kid) {
		return
	}
	h := c.hash(raw)
	b := 2 * (h & c.mask)
	slot := &c.slots[b+(h>>63)] // both taken by other tokens: either, by a hash bit
	for i := range uint64(2) {
		if cur := c.slots[b+i].Load(); cur == nil || cur.h == h {
			slot = &c.slots[b+i]
			break
		}
	}
	last := cl.ExpiresAt
	if !cl.until.IsZero() && cl.until.Before(last) {
		last = cl.until
	}
	end := int64(math.MaxInt64) // past the year 2262, where UnixNano ends
	if last.Before(time.Unix(0, math.MaxInt64)) {
		end = last.UnixNano()
	}
	e := &verified{h: h, end: end, raw: strings.Clone(raw), claims: cl, kid: kid}
	slot.Store(e)
	if kid != "" && !has(kid) {
		slot.CompareAndSwap(e, nil)
	}
}

// purge drops the entries that keys vouched for (removed by the provider).
// A nil cache holds nothing.
func (c *verifiedCache) purge(kids []string) {
	if c == nil {
		return
	}
	for i := range c.slots {
		if e := c.slots[i].Load(); e != nil && e.kid != "" && slices.Contains(kids, e.kid) {
			c.slots[i].CompareAndSwap(e, nil)
		}
	}
}
