package identityweb

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/discovery"
	"github.com/identityweb/go-identityweb/internal/telemetry"
	"github.com/identityweb/go-identityweb/session"
)

func wantsJSON(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		return true
	}
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "application/json") && !strings.Contains(acc, "text/html")
}

// startSignIn sends the browser to the provider's authorize endpoint.
func (a *App) startSignIn(w http.ResponseWriter, r *http.Request, ret string, scopes []string, claims string) {
	if wantsJSON(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="identityweb"`)
		writeAPIError(w, http.StatusUnauthorized, "login_required", "Sign in first.")
		return
	}
	ctx := r.Context()
	m, err := a.acq.endpoints.Metadata(ctx)
	if err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: cannot start sign-in: provider metadata unavailable", telemetry.Err(err))
		a.fail(w, r, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment.")
		return
	}
	if !isLocalPath(ret) || len(ret) > maxReturnURL {
		ret = "/"
	}
	if !a.sessions.Loaded(ctx) { // the sign-in could complete but not be kept
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: cannot start sign-in", telemetry.Err(session.ErrNoSession))
		a.fail(w, r, http.StatusInternalServerError, "Sign-in is not set up correctly on this site.")
		return
	}
	p := pendingSignIn{Verifier: session.RandomToken() + session.RandomToken()[:11], Nonce: session.RandomToken(),
		Return: ret, Scopes: scopes, Claims: claims, Created: a.acq.clock.Now()}
	state := session.RandomToken()
	q := url.Values{}
	if !a.cfg.isEntra() {
		// OpenID Connect Core §11: a refresh token (offline_access) is issued
		// when the user consented to it; standards providers ask for
		// prompt=consent (oidc-provider ignores offline_access without it).
		q.Set("prompt", "consent")
	}
	if a.opts.OnRedirectToProvider != nil {
		a.opts.OnRedirectToProvider(r, q)
	}
	if len(a.cfg.Resources) > 0 {
		q["resource"] = append([]string(nil), a.cfg.Resources...)
	}
	scope := append(append([]string{"openid", "profile", "offline_access"}, a.cfg.Scopes...), scopes...)
	for k, v := range map[string]string{
		"client_id": a.cfg.ClientID, "response_type": "code", "response_mode": "query",
		"redirect_uri": a.redirectURI(r), "state": state, "nonce": p.Nonce, "scope": strings.Join(scope, " "),
		"code_challenge": pkceChallenge(p.Verifier), "code_challenge_method": "S256",
	} {
		q.Set(k, v)
	}
	if claims != "" {
		q.Set("claims", claims)
	}
	if a.usePAR(m) {
		uri, err := a.acq.pushAuthorization(ctx, m.PAR, q)
		if err != nil {
			a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: cannot start sign-in: the pushed authorization request failed", telemetry.Err(err))
			a.fail(w, r, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again in a moment.")
			return
		}
		q = url.Values{"client_id": {a.cfg.ClientID}, "request_uri": {uri}}
	}
	sep := "?"
	if strings.Contains(m.Authorization, "?") {
		sep = "&"
	}
	a.putPending(w, r, state, &p)
	http.Redirect(w, r, m.Authorization+sep+q.Encode(), http.StatusFound)
}

// usePAR says whether sign-in pushes its request first (RFC 9126):
// always when the provider requires it, else as AppOptions.PushedAuthorization
// says (by default when the provider offers it).
func (a *App) usePAR(m *discovery.Metadata) bool {
	switch {
	case m.PAR == "":
		return false
	case m.RequirePAR:
		return true
	}
	return a.opts.PushedAuthorization != "never"
}

// publicURL is the app's external base URL for r (no trailing slash).
func (a *App) publicURL(r *http.Request) string {
	switch {
	case a.opts.PublicURL != nil:
		return strings.TrimRight(a.opts.PublicURL(r), "/")
	case a.cfg.RedirectURI != "":
		return strings.TrimSuffix(a.cfg.RedirectURI, a.cfg.CallbackPath)
	}
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if a.opts.TrustForwardedHeaders {
		if p, h, ok := forwarded(r); ok {
			scheme, host = p, h
		}
	}
	return scheme + "://" + host
}

// forwarded reads the first proxy's view of the request: RFC 7239
// Forwarded, else X-Forwarded-Proto and X-Forwarded-Host. Values that are
// not a plain scheme or host are ignored.
func forwarded(r *http.Request) (proto, host string, ok bool) {
	if f := r.Header.Get("Forwarded"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		for _, pair := range strings.Split(first, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
			v = strings.Trim(v, `"`)
			switch strings.ToLower(k) {
			case "proto":
				proto = strings.ToLower(v)
			case "host":
				host = v
			}
		}
	} else {
		proto, _, _ = strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		host, _, _ = strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
		proto, host = strings.ToLower(strings.TrimSpace(proto)), strings.TrimSpace(host)
	}
	if proto != "http" && proto != "https" {
		proto = "http"
		if r.TLS != nil {
			proto = "https"
		}
	}
	if host == "" {
		host = r.Host
	}
	if u, err := url.Parse("//" + host); err != nil || u.Host != host || u.User != nil || strings.ContainsAny(host, "/\\?#@") {
		return "", "", false
	}
	return proto, host, true
}

// redirectURI is the reply URL for r.
func (a *App) redirectURI(r *http.Request) string {
	if a.cfg.RedirectURI != "" && a.opts.PublicURL == nil {
		return a.cfg.RedirectURI
	}
	return a.publicURL(r) + a.cfg.CallbackPath
}

func (a *App) signIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	a.startSignIn(w, r, r.URL.Query().Get("returnUrl"), nil, "")
}

// recordSignIn keeps the new session's times in the session and its record
// and index entries in the token cache (see startSession).
func (a *App) recordSignIn(ctx context.Context, partition string, claims *Claims) error {
	now := a.acq.clock.Now()
	if err := a.sessions.SetTimes(ctx, session.Times{SignedIn: now, LastSeen: now}); err != nil {
		return &signInError{status: http.StatusInternalServerError, msg: "Sign-in failed.", cause: err}
	}
	var ids struct {
		Sid string `json:"sid"`
	}
	claims.Decode(&ids)
	deadline := a.lifetimes().Deadline(now)
	if !a.startSession(ctx, partition, claims.Issuer, ids.Sid, claims.Subject, deadline) {
		return &signInError{status: http.StatusUnauthorized, msg: "Your session at the identity provider has ended. Sign in again.",
			cause: errors.New("the provider session was logged out while the sign-in completed")}
	}
	return nil
}

// signInError is a sign-in that cannot complete: what the user sees, and
// what the log says.
type signInError struct {
	status int
	msg    string // safe to show
	cause  error  // for the log
}

func (e *signInError) Error() string { return e.msg }

// callback completes a sign-in: one step that either succeeds or fails,
// one clean-up of what it created, one error page.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	ret, err := a.completeSignIn(w, r)
	if err != nil {
		var se *signInError
		if !errors.As(err, &se) {
			se = &signInError{status: http.StatusInternalServerError, msg: "Sign-in failed.", cause: err}
		}
		if se.cause != nil {
			a.acq.logger.LogAttrs(r.Context(), telemetry.LevelWarn, "identityweb: sign-in failed: "+se.msg, telemetry.Err(se.cause))
		}
		a.fail(w, r, se.status, se.msg)
		return
	}
	http.Redirect(w, r, ret, http.StatusFound)
}

// completeSignIn checks the answer, redeems the code, validates the ID
// token and signs the session in. It returns where to go next.
func (a *App) completeSignIn(w http.ResponseWriter, r *http.Request) (string, error) {
	ctx := r.Context()
	q := r.URL.Query()
	p, ok := a.takePending(w, r, q.Get("state"))
	if !ok {
		return "", &signInError{status: http.StatusBadRequest, msg: "This sign-in link has expired or was already used. Sign in again."}
	}
	if err := a.checkResponseIssuer(ctx, q); err != nil {
		return "", err
	}
	if e := q.Get("error"); e != "" {
		cause := errors.New("the provider answered " + shorten(e))
		if e == "access_denied" {
			return "", &signInError{status: http.StatusForbidden, msg: "Sign-in was cancelled.", cause: cause}
		}
		return "", &signInError{status: http.StatusUnauthorized, msg: "The identity provider could not sign you in.", cause: cause}
	}
	code := q.Get("code")
	if code == "" {
		return "", &signInError{status: http.StatusBadRequest, msg: "The sign-in answer is not valid. Sign in again."}
	}
	key := session.RandomToken()
	us := a.acq.Session(key)
	done := false
	defer func() { // the one clean-up: tokens of a sign-in that did not complete
		if !done {
			us.RemoveAccount(context.WithoutCancel(ctx))
		}
	}()
	scopes := append(append([]string{}, a.cfg.Scopes...), p.Scopes...)
	res, err := us.RedeemCode(ctx, AuthCode{Code: code, CodeVerifier: p.Verifier, RedirectURI: a.redirectURI(r)}, scopes)
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return "", &signInError{status: status, msg: "Sign-in could not be completed. Try again.", cause: err}
	}
	claims, err := a.idTokens.validate(ctx, res.IDToken)
	if err == nil && claims.Nonce != p.Nonce {
		err = &tokenError{"nonce mismatch"}
	}
	if err != nil {
		return "", &signInError{status: http.StatusUnauthorized, msg: "Sign-in could not be completed. Try again.", cause: err}
	}
	acct := Account{ObjectID: claims.ObjectID, TenantID: claims.TenantID, Username: claims.Username, Name: claims.Name}
	if acct.ObjectID == "" {
		acct.ObjectID = claims.Subject
	}
	// A signed-in user coming back for consent or claims: the session's
	// previous partition goes first. If it cannot, the sign-in fails, so
	// that no copy of the old (cookie-stored) session outlives it.
	previous := a.sessions.Key(ctx)
	if previous != "" && previous != key {
		if err := a.acq.Session(previous).RemoveAccount(ctx); err != nil {
			return "", &signInError{status: http.StatusServiceUnavailable, msg: "Sign-in could not be completed. Try again.",
				cause: errors.Join(errors.New("removing the previous session's tokens failed"), err)}
		}
	}
	if err := a.sessions.SignIn(ctx, key, acct); err != nil {
		return "", &signInError{status: http.StatusInternalServerError, msg: "Sign-in failed.", cause: err}
	}
	if a.opts.OnSignedIn != nil {
		if err := a.opts.OnSignedIn(r, acct, claims); err != nil {
			a.sessions.SignOut(ctx)
			return "", &signInError{status: http.StatusForbidden, msg: "This application refused the sign-in.", cause: err}
		}
	}
	if err := a.recordSignIn(ctx, us.partition, claims); err != nil {
		a.sessions.SignOut(ctx)
		return "", err
	}
	done = true
	if previous != "" && previous != key { // replaced: it ends everywhere
		a.endSession(ctx, a.acq.Session(previous).partition, time.Time{})
	}
	return p.Return, nil
}

// checkResponseIssuer applies RFC 9207 against mix-up attacks: the
// authorization response's iss must name the provider this sign-in went
// to, and must be there when the provider says it always sends it.
func (a *App) checkResponseIssuer(ctx context.Context, q url.Values) error {
	iss, present := q.Get("iss"), q.Has("iss")
	if !present && a.cfg.isEntra() {
		return nil // Entra does not send iss (and cannot be mixed up with itself by name)
	}
	m, err := a.acq.endpoints.Metadata(ctx)
	if err != nil {
		return &signInError{status: http.StatusServiceUnavailable, msg: "Sign-in could not be completed. Try again.", cause: err}
	}
	switch {
	case !present && m.IssParameter:
		return &signInError{status: http.StatusBadRequest, msg: "The sign-in answer did not say which provider sent it. Sign in again.",
			cause: errors.New("RFC 9207: the provider advertises the iss parameter and the response has none")}
	case present && iss != m.Issuer && !strings.Contains(m.Issuer, "{tenantid}"):
		return &signInError{status: http.StatusBadRequest, msg: "The sign-in answer came from another identity provider. Sign in again.",
			cause: errors.New("RFC 9207: the response's iss names another issuer (mix-up)")}
	}
	return nil
}

func (a *App) signOut(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Sign out with a POST request.", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := r.Header.Get("X-CSRF-Token")
	if token == "" {
		token = r.PostFormValue("csrf")
	}
	want := a.sessions.CSRFToken(ctx)
	if want == "" || !constantEqual(token, want) {
		http.Error(w, "Forbidden.", http.StatusForbidden)
		return
	}
	acct, _ := a.sessions.Account(ctx)
	us := a.acq.Session(a.sessions.Key(ctx))
	idToken, refreshToken := us.signOutInfo(ctx)
	if err := us.RemoveAccount(ctx); err != nil {
		// Ending the session now would say "signed out" while the account
		// and its tokens stay in the cache, where a copy of a cookie-stored
		// session still finds them: say it failed, keep the session, let
		// the user try again. (cachestore.Tiered's deletes never fail: it
		// retries them until L2 confirms.)
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: sign-out failed: the account could not be removed from the token cache", telemetry.Err(err))
		a.fail(w, r, http.StatusServiceUnavailable, "Sign-out could not be completed. Try again in a moment.")
		return
	}
	a.endSession(ctx, us.partition, a.lifetimes().Deadline(a.sessions.Times(ctx).SignedIn))
	a.sessions.SignOut(ctx)
	m, err := a.acq.endpoints.Metadata(ctx)
	if err == nil && m.Revocation != "" && refreshToken != "" {
		a.acq.revoke(ctx, m.Revocation, refreshToken) // RFC 7009: the refresh token dies at the provider too
	}
	if a.opts.OnSignedOut != nil {
		a.opts.OnSignedOut(r, acct)
	}
	target := a.opts.SignedOutRedirect
	if err == nil && m.EndSession != "" { // RP-Initiated Logout 1.0
		q := url.Values{"post_logout_redirect_uri": {a.publicURL(r) + a.cfg.SignedOutCallbackPath},
			"client_id": {a.cfg.ClientID}, "state": {session.RandomToken()}}
		if idToken != "" {
			q.Set("id_token_hint", idToken)
		}
		target = m.EndSession + "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// fail renders a sign-in error page (AppOptions.ErrorPage), or a JSON
// error for API clients.
func (a *App) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeAPIError(w, status, "sign_in_failed", msg)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.opts.ErrorPage(w, r, status, msg)
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}a{color:#0b5cad}</style></head>
<body><h1>{{.}}</h1><p><a href="/">Back to the home page</a></p></body></html>
`))

// defaultErrorPage is a plain page with the message and a link home.
func defaultErrorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	errorPage.Execute(w, msg)
}

// returnURL is where to come back after a sign-in started by r.
func returnURL(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI()
	}
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && isLocalPath(ref.RequestURI()) {
		return ref.RequestURI()
	}
	return "/"
}

// isLocalPath accepts only paths on this site: no scheme, no host, no
// protocol-relative "//" or "/\" tricks, no control characters.
func isLocalPath(p string) bool {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") {
		return false
	}
	for _, c := range p {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	if dec, err := url.PathUnescape(p); err != nil || strings.HasPrefix(dec, "//") || strings.ContainsAny(dec, "\\\r\n") {
		return false
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
}

var errNotSignedIn = errors.New("identityweb: no user is signed in")
