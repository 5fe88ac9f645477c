package identityweb

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/jwks"
	"github.com/identityweb/go-identityweb/internal/telemetry"
	"github.com/identityweb/go-identityweb/session"
)

// App is a web app and/or web API: sign-in for browsers (Handler,
// RequireUser, Challenge), bearer-token protection for APIs (RequireBearer),
// and token acquisition for downstream APIs on behalf of either.
type App struct {
	acq          *TokenAcquirer
	cfg          *Config
	sessions     session.Manager
	idTokens     *validator
	accessTokens *validator
	opts         *Options
}

// New builds an App; cfg is validated as for NewTokenAcquirer. It does no
// network I/O: the provider's metadata is fetched on first use.
func New(cfg Config, opts Options) (*App, error) {
	if opts.Sessions == nil {
		opts.Sessions = session.NewSCS(nil, session.SCSOptions{InsecureAllowHTTPCookies: opts.InsecureAllowHTTPCookies})
	}
	if opts.SignedOutRedirect == "" {
		opts.SignedOutRedirect = "/"
	}
	if !isLocalPath(opts.SignedOutRedirect) {
		return nil, &configError{"SignedOutRedirect", "must be a local path such as \"/\""}
	}
	if opts.ValidatedTokenCache == 0 {
		opts.ValidatedTokenCache = 10_000
	}
	acq, err := NewTokenAcquirer(cfg, opts)
	if err != nil {
		return nil, err
	}
	a := &App{acq: acq, cfg: &acq.cfg, sessions: opts.Sessions, opts: &acq.opts}
	ks := jwks.New(func(ctx context.Context) (string, error) {
		m, err := acq.endpoints.Metadata(ctx)
		if err != nil {
			return "", err
		}
		return m.JWKS, nil
	}, acq.http, acq.clock, 5*time.Minute)
	a.idTokens = newValidator(acq.endpoints, a.cfg, ks, acq.clock, []string{a.cfg.ClientID}, 0)
	a.accessTokens = newValidator(acq.endpoints, a.cfg, ks, acq.clock, a.cfg.Audiences, opts.ValidatedTokenCache)
	return a, nil
}

// Tokens returns the app's TokenAcquirer (app tokens, OBO, user sessions).
func (a *App) Tokens() *TokenAcquirer { return a.acq }

// Close waits for background work.
func (a *App) Close() error { return a.acq.Close() }

type ctxKey int

const (
	ctxAccount ctxKey = iota
	ctxBearer
)

type bearer struct {
	raw    string
	claims *Claims
}

// AccountFromContext returns the signed-in account RequireUser put there.
func AccountFromContext(ctx context.Context) (Account, bool) {
	a, ok := ctx.Value(ctxAccount).(Account)
	return a, ok
}

// ClaimsFromContext returns the validated claims RequireBearer put there.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	b, ok := ctx.Value(ctxBearer).(*bearer)
	if !ok {
		return nil, false
	}
	return b.claims, true
}

// Handler wraps next with the session middleware and serves the sign-in
// routes: CallbackPath, SignedOutCallbackPath, SignInPath (GET) and
// SignOutPath (POST with the CSRF token).
func (a *App) Handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(a.cfg.CallbackPath, a.callback)
	mux.HandleFunc(a.cfg.SignedOutCallbackPath, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, a.opts.SignedOutRedirect, http.StatusFound)
	})
	mux.HandleFunc(a.cfg.SignInPath, a.signIn)
	mux.HandleFunc(a.cfg.SignOutPath, a.signOut)
	mux.Handle("/", next)
	return a.sessions.Middleware(mux)
}

// RequireUser lets signed-in users through (their Account in the context)
// and sends others to sign in, then back to the page they asked for.
// Requests that are not from a browser (Accept: application/json, XHR) get
// 401 instead of a redirect. A session whose tokens are gone from the cache
// (restart with an in-memory cache, Redis flushed) goes quietly through
// sign-in again.
func (a *App) RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		acct, ok := a.sessions.Account(ctx)
		if ok && a.acq.Session(a.sessions.Key(ctx)).hasAccount(ctx) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxAccount, acct)))
			return
		}
		a.startSignIn(w, r, returnURL(r), nil, "")
	})
}

// Account returns the signed-in account of r's session, on any page (not
// only behind RequireUser).
func (a *App) Account(r *http.Request) (Account, bool) { return a.sessions.Account(r.Context()) }

// CSRFToken returns the token a sign-out form posts as "csrf" (or sends in
// the X-CSRF-Token header).
func (a *App) CSRFToken(r *http.Request) string { return a.sessions.CSRFToken(r.Context()) }

// SignOutPath is the path of the sign-out endpoint, for forms.
func (a *App) SignOutPath() string { return a.cfg.SignOutPath }

// pendingSignIn is a sign-in request in progress, kept in the session.
type pendingSignIn struct {
	Verifier string    `json:"v"`
	Nonce    string    `json:"n"`
	Return   string    `json:"r"`
	Scopes   []string  `json:"s,omitempty"`
	Claims   string    `json:"c,omitempty"`
	Created  time.Time `json:"t"`
}

func wantsJSON(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") == "XMLHttpRequest" {
		return true
	}
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "application/json") && !strings.Contains(acc, "text/html")
}

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
		http.Error(w, "Sign-in is unavailable right now. Try again shortly.", http.StatusServiceUnavailable)
		return
	}
	if !isLocalPath(ret) {
		ret = "/"
	}
	p := pendingSignIn{Verifier: session.RandomToken() + session.RandomToken()[:11], Nonce: session.RandomToken(),
		Return: ret, Scopes: scopes, Claims: claims, Created: a.acq.clock.Now()}
	state := session.RandomToken()
	b, _ := json.Marshal(p)
	a.sessions.PutPending(ctx, state, b)
	q := url.Values{
		"client_id": {a.cfg.ClientID}, "response_type": {"code"}, "response_mode": {"query"},
		"redirect_uri": {a.redirectURI(r)}, "state": {state}, "nonce": {p.Nonce},
		"scope":          {strings.Join(append(append([]string{"openid", "profile", "offline_access"}, a.cfg.Scopes...), scopes...), " ")},
		"code_challenge": {pkceChallenge(p.Verifier)}, "code_challenge_method": {"S256"},
	}
	if claims != "" {
		q.Set("claims", claims)
	}
	sep := "?"
	if strings.Contains(m.Authorization, "?") {
		sep = "&"
	}
	http.Redirect(w, r, m.Authorization+sep+q.Encode(), http.StatusFound)
}

func (a *App) redirectURI(r *http.Request) string {
	if a.cfg.RedirectURI != "" {
		return a.cfg.RedirectURI
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + a.cfg.CallbackPath
}

func (a *App) signIn(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	a.startSignIn(w, r, r.URL.Query().Get("returnUrl"), nil, "")
}

func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	raw, ok := a.sessions.TakePending(ctx, q.Get("state"))
	var p pendingSignIn
	if !ok || json.Unmarshal(raw, &p) != nil || a.acq.clock.Now().Sub(p.Created) > 15*time.Minute {
		http.Error(w, "This sign-in request is not valid or has expired. Go back and sign in again.", http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the provider refused the sign-in", telemetry.Str("error", shorten(e)))
		if e == "access_denied" {
			http.Error(w, "Sign-in was cancelled.", http.StatusForbidden)
			return
		}
		http.Error(w, "Sign-in failed.", http.StatusUnauthorized)
		return
	}
	code := q.Get("code")
	if code == "" {
		http.Error(w, "Sign-in failed: the answer carried no code.", http.StatusBadRequest)
		return
	}
	key := session.RandomToken()
	us := a.acq.Session(key)
	scopes := append(append([]string{}, a.cfg.Scopes...), p.Scopes...)
	res, err := us.RedeemCode(ctx, AuthCode{Code: code, CodeVerifier: p.Verifier, RedirectURI: a.redirectURI(r)}, scopes)
	if err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: redeeming the authorization code failed", telemetry.Err(err))
		http.Error(w, "Sign-in failed.", http.StatusUnauthorized)
		return
	}
	claims, err := a.idTokens.validate(ctx, res.IDToken)
	if err == nil && claims.Nonce != p.Nonce {
		err = &tokenError{"nonce mismatch"}
	}
	if err != nil {
		us.RemoveAccount(ctx)
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: the ID token is not valid; sign-in refused", telemetry.Err(err))
		http.Error(w, "Sign-in failed.", http.StatusUnauthorized)
		return
	}
	acct := Account{ObjectID: claims.ObjectID, TenantID: claims.TenantID, Username: claims.Username, Name: claims.Name}
	if acct.ObjectID == "" {
		acct.ObjectID = claims.Subject
	}
	previous := a.sessions.Key(ctx) // a signed-in user coming back for consent or claims
	if err := a.sessions.SignIn(ctx, key, acct); err != nil {
		us.RemoveAccount(ctx)
		http.Error(w, "Sign-in failed.", http.StatusInternalServerError)
		return
	}
	if a.opts.OnSignedIn != nil {
		if err := a.opts.OnSignedIn(ctx, r, acct); err != nil {
			us.RemoveAccount(ctx)
			a.sessions.SignOut(ctx)
			http.Error(w, "Sign-in was refused by the application.", http.StatusForbidden)
			return
		}
	}
	if previous != "" && previous != key {
		if err := a.acq.Session(previous).RemoveAccount(ctx); err != nil {
			a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: removing the previous session's tokens failed", telemetry.Err(err))
		}
	}
	http.Redirect(w, r, p.Return, http.StatusFound)
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
	if err := a.acq.Session(a.sessions.Key(ctx)).RemoveAccount(ctx); err != nil {
		a.acq.logger.LogAttrs(ctx, telemetry.LevelWarn, "identityweb: removing the account from the token cache failed", telemetry.Err(err))
	}
	a.sessions.SignOut(ctx)
	target := a.opts.SignedOutRedirect
	if m, err := a.acq.endpoints.Metadata(ctx); err == nil && m.EndSession != "" {
		base := strings.TrimSuffix(a.redirectURI(r), a.cfg.CallbackPath)
		q := url.Values{"post_logout_redirect_uri": {base + a.cfg.SignedOutCallbackPath}, "client_id": {a.cfg.ClientID}}
		target = m.EndSession + "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusFound)
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
