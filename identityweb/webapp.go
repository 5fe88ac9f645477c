package identityweb

import (
	"context"
	"net/http"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/internal/jwks"
	"github.com/identityweb/go-identityweb/internal/telemetry"
	"github.com/identityweb/go-identityweb/session"
)

// App is a web app and/or web API: sign-in for browsers (Handler,
// RequireUser, Challenge), bearer-token protection for APIs (RequireBearer,
// ValidateToken), and tokens for downstream APIs on behalf of either (Token,
// DownstreamClient).
type App struct {
	acq          *TokenAcquirer
	cfg          *Config
	sessions     session.Manager
	signedReader session.SignedReader // sessions, when it reads a signed-in session at once
	sessionFront frontTable           // sessions found live (sessionfront.go)
	idTokens     *validator
	accessTokens *validator
	signInKeys   signInRing // seal pending sign-ins
	opts         AppOptions
	logouts      logoutRetries
	replay       cachestore.Adder // DPoP proof ids seen (jti)
}

// New builds an App; cfg is validated as for NewTokenAcquirer. It does no
// network I/O: the provider's metadata is fetched on first use. A web API
// that only validates tokens needs no client credential.
func New(cfg Config, opts AppOptions) (*App, error) {
	switch {
	case opts.SessionLifetime == 0:
		opts.SessionLifetime = 24 * time.Hour
	case opts.SessionLifetime < 0:
		return nil, &configError{"SessionLifetime", "must not be negative"}
	}
	if opts.SessionIdleTimeout < 0 {
		return nil, &configError{"SessionIdleTimeout", "must not be negative"}
	}
	if opts.Sessions == nil {
		s, err := session.NewSCS(nil, session.SCSOptions{InsecureAllowHTTPCookies: opts.InsecureAllowHTTPCookies})
		if err != nil {
			return nil, err
		}
		s.Manager().Lifetime = opts.SessionLifetime
		opts.Sessions = s
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
	switch opts.PushedAuthorization {
	case "":
		opts.PushedAuthorization = "auto"
	case "auto", "always", "never":
	default:
		return nil, &configError{"PushedAuthorization", `must be "auto", "always" or "never"`}
	}
	if opts.ErrorPage == nil {
		opts.ErrorPage = defaultErrorPage
	}
	acq, err := NewTokenAcquirer(cfg, opts.Options)
	if err != nil {
		return nil, err
	}
	opts.Options = acq.opts
	a := &App{acq: acq, cfg: &acq.cfg, sessions: opts.Sessions, opts: opts}
	a.signedReader, _ = opts.Sessions.(session.SignedReader)
	a.sessionFront = newFrontTable(maxFront, 64)
	a.signInKeys.fixed = opts.SignInKeys
	if ad, ok := acq.cache.(cachestore.Adder); ok { // shared by every instance when the cache is
		a.replay = ad
	} else {
		a.replay = cachestore.NewMemory(cachestore.MemoryOptions{Clock: acq.clock, MaxBytes: 16 << 20})
	}
	var validated *verifiedCache
	if opts.ValidatedTokenCache > 0 {
		validated = newVerifiedCache(opts.ValidatedTokenCache)
	}
	ks := jwks.New(func(ctx context.Context) (string, error) {
		m, err := acq.endpoints.Metadata(ctx)
		if err != nil {
			return "", err
		}
		return m.JWKS, nil
	}, acq.http, acq.clock, jwks.Options{Every: opts.SigningKeyRefresh, OnRemoved: validated.purge})
	a.idTokens = newValidator(acq.endpoints, a.cfg, ks, acq.clock, []string{a.cfg.ClientID}, nil, true)
	a.accessTokens = newValidator(acq.endpoints, a.cfg, ks, acq.clock, a.cfg.Audiences, validated, false)
	a.accessTokens.acl = opts.AllowWebAPIToBeAuthorizedByACL
	a.accessTokens.introspect = acq.introspect
	return a, nil
}

// Tokens returns the app's TokenAcquirer (app tokens, OBO, user sessions,
// long-running OBO), for work outside a request.
func (a *App) Tokens() *TokenAcquirer { return a.acq }

// Close stops background refreshes (see TokenAcquirer.Close) and the
// retries of logouts waiting for the shared cache (PendingLogouts); those
// are reported in the log.
func (a *App) Close() error {
	if n, idx := a.closeLogouts(); n > 0 || idx > 0 {
		a.acq.logger.LogAttrs(context.Background(), telemetry.LevelError, "identityweb: closing with logouts (or sessions to index for them) the shared cache never received",
			telemetry.Int("logouts", n), telemetry.Int("sessions_to_index", idx))
	}
	return a.acq.Close()
}

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
	a, ok := ctx.Value(ctxAccount).(*Account)
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// ClaimsFromContext returns the validated claims RequireBearer (or
// ValidateToken) put there. Each call returns a copy of its own (one
// allocation for the struct, one for its slices): a handler may change it
// without changing what other requests with the same token see.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	b, ok := ctx.Value(ctxBearer).(*bearer)
	if !ok || b.claims == nil {
		return nil, false
	}
	return b.claims.clone(), true
}

// ContextWithAccount returns ctx carrying acct as RequireUser would, for
// unit tests of handlers that read AccountFromContext.
func ContextWithAccount(ctx context.Context, acct Account) context.Context {
	return &accountContext{Context: ctx, acct: acct}
}

// ContextWithClaims returns ctx carrying c as RequireBearer would, for unit
// tests of handlers that read ClaimsFromContext. It holds no token: an
// on-behalf-of call from it fails.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxBearer, &bearer{claims: c})
}

// Handler wraps next with the session middleware and serves the sign-in
// routes (see Routes). An app whose own scs LoadAndSave of the manager in
// AppOptions.Sessions is already outermost uses Routes instead, so the
// session is not loaded and committed twice.
func (a *App) Handler(next http.Handler) http.Handler {
	return a.sessions.Middleware(a.Routes(next))
}

// Routes serves the sign-in routes — CallbackPath, SignedOutCallbackPath,
// SignInPath (GET) and SignOutPath (POST with the CSRF token) — and the
// provider's logout endpoints, BackchannelLogoutPath (POST logout_token)
// and FrontchannelLogoutPath (GET iss, sid), and passes every other
// request to next. It expects the session middleware outside.
func (a *App) Routes(next http.Handler) http.Handler {
	// Exact paths, matched by a switch: every request of the app passes
	// here, and a mux would cost allocations on each.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case a.cfg.CallbackPath:
			a.callback(w, r)
		case a.cfg.SignedOutCallbackPath:
			http.Redirect(w, r, a.opts.SignedOutRedirect, http.StatusFound)
		case a.cfg.SignInPath:
			a.signIn(w, r)
		case a.cfg.SignOutPath:
			a.signOut(w, r)
		case a.cfg.BackchannelLogoutPath:
			a.backchannelLogout(w, r)
		case a.cfg.FrontchannelLogoutPath:
			a.frontchannelLogout(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// RequireUser lets signed-in users through (their Account in the context)
// and sends others to sign in, then back to the page they asked for.
// Requests that are not from a browser (Accept: application/json, XHR) get
// 401 instead of a redirect. A session whose tokens are gone from the cache
// (signed out elsewhere, restart with an in-memory cache, Redis flushed)
// goes quietly through sign-in again.
//
// A session whose record is live but whose account the token cache cannot
// confirm now (another instance refreshed it, dropping this instance's
// copy, and the shared level is unreachable) gets 503 with Retry-After: an
// outage signs nobody out, and lets nobody through unchecked. A session
// whose record this instance does not hold and cannot read goes through
// sign-in again: records change only when sessions start and end, and the
// provider decides.
func (a *App) RequireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch acct, c := a.account(r); c {
		case sessionIn:
			next.ServeHTTP(w, withAccount(r, acct))
		case sessionUnknown:
			a.retryLater(w, r)
		default:
			a.startSignIn(w, r, returnURL(r), nil, "")
		}
	})
}

// retryLater answers a request the app cannot serve until its token cache
// answers again: 503 with Retry-After (JSON for non-browser clients).
func (a *App) retryLater(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	w.Header().Set("Cache-Control", "no-store")
	if wantsJSON(r) {
		writeAPIError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Try again shortly.")
		return
	}
	a.opts.ErrorPage(w, r, http.StatusServiceUnavailable, "The service is temporarily unavailable. Try again in a moment.")
}

// accountRequest is the request RequireUser passes on and its context, in
// one allocation: the Request is the shallow copy http.Request.WithContext
// makes (taken from a WithContext whose own result does not outlive
// withAccount), followed by the context value carrying the account.
type accountRequest struct {
	r   http.Request
	ctx accountContext
}

// withAccount returns r carrying acct, as r.WithContext(ContextWithAccount(…))
// would.
func withAccount(r *http.Request, acct Account) *http.Request {
	ar := &accountRequest{ctx: accountContext{Context: r.Context(), acct: acct}}
	ar.r = *r.WithContext(&ar.ctx)
	return &ar.r
}

// accountContext is context.WithValue(ctx, ctxAccount, &acct) in one
// allocation instead of two.
type accountContext struct {
	context.Context
	acct Account
}

func (c *accountContext) Value(key any) any {
	if key == ctxAccount {
		return &c.acct
	}
	return c.Context.Value(key)
}

// Account returns the signed-in account of r's session, on any page (not
// only behind RequireUser). A session has none when it was ended — signed
// out, logged out at the provider (back- or front-channel, on any
// instance), past AppOptions.SessionLifetime or SessionIdleTimeout — or
// when its account is gone from the token cache. The check reads the
// session's times and its record in the token cache: an L1 hit in the
// common case. While the cache cannot confirm the account (RequireUser:
// retry later) the session has none here, and is not signed out.
func (a *App) Account(r *http.Request) (Account, bool) {
	acct, c := a.account(r)
	return acct, c == sessionIn
}

// account is Account that also says when the cache cannot tell.
func (a *App) account(r *http.Request) (Account, sessionCheck) {
	ctx := r.Context()
	s, ok := a.signed(ctx)
	if !ok {
		return Account{}, sessionOut
	}
	now := a.acq.now() // one reading for every check
	l := a.lifetimes()
	if !l.Expired(s.Times, now) && a.sessionFrontLive(s.Key, now) {
		a.touch(ctx, l, s.Times, now)
		return s.Account, sessionIn
	}
	us := a.acq.Session(s.Key)
	if us.partition == "" {
		return Account{}, sessionOut
	}
	if !a.sessionLive(ctx, us.partition, s.Times, now) {
		return Account{}, sessionOut
	}
	switch has, err := a.acq.hasAccount(ctx, cachekey.User, us.partition, now); {
	case err != nil:
		return Account{}, sessionUnknown
	case !has:
		return Account{}, sessionOut
	}
	a.touch(ctx, l, s.Times, now) // activity only once it is served
	a.sessionFrontStore(s.Key, us.partition, now)
	return s.Account, sessionIn
}

// signed reads the session's key, account and times: at once when the
// Manager can (session.SignedReader), otherwise through Account, Key and
// Times.
func (a *App) signed(ctx context.Context) (session.Signed, bool) {
	if a.signedReader != nil {
		return a.signedReader.Signed(ctx)
	}
	acct, ok := a.sessions.Account(ctx)
	if !ok {
		return session.Signed{}, false
	}
	key := a.sessions.Key(ctx)
	if key == "" {
		return session.Signed{}, false
	}
	return session.Signed{Key: key, Account: acct, Times: a.sessions.Times(ctx)}, true
}

// CSRFToken returns the token a sign-out form posts as "csrf" (or sends in
// the X-CSRF-Token header).
func (a *App) CSRFToken(r *http.Request) string { return a.sessions.CSRFToken(r.Context()) }

// SignOutPath is the path of the sign-out endpoint, for forms.
func (a *App) SignOutPath() string { return a.cfg.SignOutPath }
