package identityweb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/identityweb/go-identityweb/internal/jwks"
	"github.com/identityweb/go-identityweb/internal/telemetry"
)

// The logout endpoints: OpenID Connect Back-Channel Logout 1.0 (the
// provider POSTs a signed logout token) and Front-Channel Logout 1.0 (the
// provider's sign-out page loads the app in an iframe with iss and sid).
// Both end every app session of the provider session (or of the user, for
// a back-channel token with sub alone), on every instance sharing the
// cache.

const (
	// backchannelEvent is the event a logout token must carry.
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
	// maxLogoutBody bounds the form a logout request may send.
	maxLogoutBody = 64 << 10
	// logoutTokenWindow: a logout token's iat must be this close to now.
	logoutTokenWindow = 5 * time.Minute
	// replayTTL keeps a jti for as long as its token could be accepted.
	replayTTL = 2*logoutTokenWindow + time.Minute
)

// logoutError is a refused logout request: reason is for the log (it never
// holds the token or a claim's value); the client gets a fixed message.
type logoutError struct{ reason string }

func (e *logoutError) Error() string { return "identityweb: logout refused: " + e.reason }

// backchannelLogout serves BackchannelLogoutPath: 200 when the token is
// valid and its sessions ended (or kept for when the cache answers), 400
// with an OAuth error body otherwise, 503 when the provider's keys cannot be
// had. Nothing is ended unless every check passes.
func (a *App) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeAPIError(w, http.StatusMethodNotAllowed, "invalid_request", "Send the logout token in a POST request.")
		return
	}
	ctx := r.Context()
	lo, err := a.readLogoutToken(ctx, w, r)
	if err != nil {
		var le *logoutError
		if errors.As(err, &le) {
			a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: back-channel logout refused: "+le.reason)
			writeAPIError(w, http.StatusBadRequest, "invalid_request", "The logout token is not valid.")
			return
		}
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: back-channel logout: the provider's keys are unavailable", telemetry.Err(err))
		w.Header().Set("Retry-After", "5")
		writeAPIError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	a.applyLogout(ctx, lo)
	w.WriteHeader(http.StatusOK)
}

// readLogoutToken reads and validates the request's logout token: a
// logoutError when it is not valid, another error (ErrUnavailable) when it
// cannot be checked now.
func (a *App) readLogoutToken(ctx context.Context, w http.ResponseWriter, r *http.Request) (logout, error) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return logout{}, &logoutError{"not a form post"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		return logout{}, &logoutError{"the body is too large or not a form"}
	}
	toks := r.PostForm["logout_token"]
	if len(toks) != 1 || toks[0] == "" {
		return logout{}, &logoutError{"exactly one logout_token is required"}
	}
	return a.validateLogoutToken(ctx, toks[0])
}

// logoutClaims are the claims of a logout token (OpenID Connect
// Back-Channel Logout 1.0 §2.4).
type logoutClaims struct {
	Iss    string                     `json:"iss"`
	Sub    string                     `json:"sub"`
	Aud    stringList                 `json:"aud"`
	Iat    json.Number                `json:"iat"`
	Exp    json.Number                `json:"exp"`
	Jti    string                     `json:"jti"`
	Sid    string                     `json:"sid"`
	Tid    string                     `json:"tid"`
	Events map[string]json.RawMessage `json:"events"`
}

// validateLogoutToken checks a logout token in named steps (§2.6): a
// compact JWS with an allowed algorithm, typ logout+jwt when present, the
// provider's signature, then the claims, then the replay store.
func (a *App) validateLogoutToken(ctx context.Context, raw string) (logout, error) {
	payload, err := a.verifyLogoutToken(ctx, raw)
	if err != nil {
		return logout{}, err
	}
	c, err := a.logoutClaims(ctx, payload)
	if err != nil {
		return logout{}, err
	}
	// Last, so that only validly signed tokens take room in the store.
	if !a.firstUse(ctx, a.acq.keys.LogoutTokenID(c.Iss, c.Jti)) {
		return logout{}, &logoutError{"jti replayed"}
	}
	return logout{iss: c.Iss, sid: c.Sid, sub: c.Sub}, nil
}

var logoutAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256}

// verifyLogoutToken parses the JWS through go-jose and verifies it with
// the provider's key set; it returns the payload.
func (a *App) verifyLogoutToken(ctx context.Context, raw string) ([]byte, error) {
	if len(raw) > 16<<10 || strings.Count(raw, ".") != 2 {
		return nil, &logoutError{"not a compact JWS"}
	}
	sig, err := jose.ParseSignedCompact(raw, logoutAlgs)
	if err != nil || len(sig.Signatures) != 1 {
		return nil, &logoutError{"not a JWS signed with RS256 or PS256"}
	}
	h := sig.Signatures[0].Protected
	if typ, ok := h.ExtraHeaders[jose.HeaderType]; ok {
		s, _ := typ.(string)
		if s = strings.TrimPrefix(strings.ToLower(s), "application/"); s != "logout+jwt" {
			return nil, &logoutError{"typ is not logout+jwt"}
		}
	}
	if _, err := a.acq.endpoints.Metadata(ctx); err != nil {
		return nil, err
	}
	key, err := a.idTokens.keys.Key(ctx, h.KeyID)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, &logoutError{"signed by a key the provider does not publish"}
	case err != nil:
		return nil, err
	}
	payload, err := sig.Verify(key)
	if err != nil {
		return nil, &logoutError{"bad signature"}
	}
	return payload, nil
}

// logoutClaims checks the claims of a verified logout token.
func (a *App) logoutClaims(ctx context.Context, payload []byte) (*logoutClaims, error) {
	var all map[string]json.RawMessage
	var c logoutClaims
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if json.Unmarshal(payload, &all) != nil || d.Decode(&c) != nil {
		return nil, &logoutError{"claims are not a JSON object of the expected types"}
	}
	now := a.acq.clock.Now()
	switch {
	case all["nonce"] != nil:
		return nil, &logoutError{"a nonce is present"}
	case c.Jti == "":
		return nil, &logoutError{"no jti"}
	case c.Sid == "" && c.Sub == "":
		return nil, &logoutError{"neither sid nor sub"}
	case !isJSONObject(c.Events[backchannelEvent]):
		return nil, &logoutError{"no back-channel logout event"}
	}
	iat := unixClaim(c.Iat)
	if iat == 0 || now.Sub(time.Unix(iat, 0)).Abs() > logoutTokenWindow {
		return nil, &logoutError{"iat missing or outside the accepted window"}
	}
	if exp := unixClaim(c.Exp); exp != 0 && !now.Before(time.Unix(exp, 0).Add(logoutTokenWindow)) {
		return nil, &logoutError{"expired"}
	}
	if !containsString(c.Aud, a.cfg.ClientID) {
		return nil, &logoutError{"wrong audience"}
	}
	if err := a.idTokens.checkIssuer(ctx, &rawClaims{Iss: c.Iss, Tid: c.Tid}); err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return nil, &logoutError{te.reason}
		}
		return nil, err
	}
	return &c, nil
}

func isJSONObject(b json.RawMessage) bool {
	var m map[string]json.RawMessage
	return len(b) > 0 && json.Unmarshal(b, &m) == nil && m != nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// firstUse records key in the app's replay store and reports whether it
// was new: SET NX through the cache (its L2 decides across instances), as
// for DPoP proofs.
func (a *App) firstUse(ctx context.Context, key string) bool {
	added, err := a.replay.Add(ctx, key, []byte{1}, replayTTL)
	return err == nil && added
}

// frontchannelLogout serves FrontchannelLogoutPath, which the provider's
// sign-out page loads in an iframe: with iss (the provider's issuer) and
// sid, every app session of that provider session ends. It answers an
// empty page that only the provider may frame, never cached.
func (a *App) frontchannelLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if m, err := a.acq.endpoints.Metadata(ctx); err == nil {
		w.Header().Set("Content-Security-Policy", "frame-ancestors "+providerOrigins(m.Issuer, m.EndSession))
	} else {
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	iss, sid := q.Get("iss"), q.Get("sid")
	switch {
	case iss == "" && sid == "":
		// No session named: end the browser's own session, if its cookie
		// came along (a first-party frame).
		if key := a.sessions.Key(ctx); key != "" {
			a.endSession(ctx, a.acq.Session(key).partition, a.lifetimes().Deadline(a.sessions.Times(ctx).SignedIn))
			a.sessions.SignOut(ctx)
		}
	case iss == "" || sid == "" || len(sid) > 1024 || len(q["iss"]) > 1 || len(q["sid"]) > 1:
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: front-channel logout refused: iss and sid go together")
		w.WriteHeader(http.StatusBadRequest)
		return
	default:
		if err := a.idTokens.checkIssuer(ctx, &rawClaims{Iss: iss, Tid: tenantOfIssuer(iss)}); err != nil {
			status := http.StatusBadRequest
			if !errors.Is(err, ErrInvalidToken) {
				status = http.StatusServiceUnavailable
			}
			a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: front-channel logout refused: the issuer is not the app's provider")
			w.WriteHeader(status)
			return
		}
		a.applyLogout(ctx, logout{iss: iss, sid: sid, anonymous: true})
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write([]byte("<!doctype html><title>Signed out</title>\n"))
	}
}

// providerOrigins are the origins allowed to frame the front-channel
// logout page: the issuer's and the end-session endpoint's.
func providerOrigins(urls ...string) string {
	var out []string
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Host == "" {
			continue
		}
		o := u.Scheme + "://" + u.Host
		if !containsString(out, o) {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return "'none'"
	}
	return strings.Join(out, " ")
}

// tenantOfIssuer returns the tenant id segment of an Entra issuer
// ("https://login.microsoftonline.com/{tid}/v2.0"), for the multi-tenant
// issuer check; "" for other issuers.
func tenantOfIssuer(iss string) string {
	u, err := url.Parse(iss)
	if err != nil {
		return ""
	}
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")
	for _, s := range seg {
		if isTenantID(s) {
			return s
		}
	}
	return ""
}
