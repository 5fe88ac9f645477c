// Package identityweb is the facade a Go web app, web API or daemon imports to
// sign users in with OpenID Connect, protect APIs with JWT bearer tokens, and
// acquire access tokens for downstream APIs — for the user, for the app, or on
// behalf of an API's caller — with the high-availability practices of
// Microsoft.Identity.Web and MSAL built in: a tiered L1/L2 token cache,
// proactive refresh, retry and throttling, certificate rotation and metrics.
//
// It works with Microsoft Entra ID and with any standards OpenID Provider.
//
// # A web app
//
// Three lines, as with Identity Web: the configuration, the App, and its
// Handler around the app's routes (sessions, /signin-oidc, /signin,
// /signout, /signout-callback-oidc):
//
//	cfg, err := identityweb.LoadConfig("appsettings.json", "AzureAd") // environment overrides
//	app, err := identityweb.New(cfg, identityweb.AppOptions{})          // scs sessions in memory by default
//	mux.Handle("/", app.RequireUser(home))
//	http.ListenAndServe(":8080", app.Handler(mux))
//
// In a handler, a token for the signed-in user, and a way back through
// sign-in when consent or claims are missing:
//
//	res, err := app.Token(r.Context(), identityweb.AsUser, []string{"api://todo/Todo.Read"})
//	if err != nil {
//		app.Challenge(w, r, err)
//		return
//	}
//
// # A web API
//
// RequireBearer validates the JWT (signature, issuer, audience, lifetime)
// and applies policies; the handler reads the claims and may call another
// API on behalf of its caller:
//
//	mux.Handle("/todos", app.RequireBearer(identityweb.RequireScopes("access_as_user"))(todos))
//	claims, _ := identityweb.ClaimsFromContext(r.Context())
//	res, err := app.Token(r.Context(), identityweb.OnBehalfOf, []string{"api://graph/User.Read"})
//
// # Token acquisition
//
// TokenAcquirer is what MSAL's confidential client is to Microsoft.Identity.Web,
// and what web apps, web APIs and daemons share:
//
//	acq, err := identityweb.NewTokenAcquirer(identityweb.Config{
//		TenantID: "contoso.onmicrosoft.com", ClientID: "…",
//	}, identityweb.Options{Credential: cert})
//	res, err := acq.ForApp(ctx, "api://downstream/.default")              // client credentials
//	res, err = acq.OnBehalfOf(ctx, incomingToken, []string{"User.Read"}) // OBO
//	s := acq.Session(sessionKey)                                         // per browser session
//	res, err = s.RedeemCode(ctx, code, scopes)                           // at sign-in
//	res, err = s.ForUser(ctx, scopes)                                    // later: cache or refresh token
//
// Every Result carries Metadata (source, cache level, refresh reason, time
// in cache and in HTTP); the same figures go out as OpenTelemetry metrics
// through Options.MeterProvider, and to Options.OnToken for every
// acquisition and background refresh.
//
// Availability, by default: one entry per token and an O(1) cache hit that
// allocates nothing; one request per missing token whatever the number of
// concurrent callers; past a token's refresh_on (Entra's refresh_in, or half
// the lifetime from 2 hours) the cached token is served while one background
// request renews it, backing off when the provider is down; when the
// provider fails, a token that has not truly expired is served (Metadata.Stale)
// rather than an error; a 5xx or a timeout is retried once after ~1 s; a
// 429/503 with Retry-After is not retried and identical requests fail fast
// with *ThrottledError until it passes; a certificate-class AADSTS error makes
// the credential reload once and the request retry.
//
// Errors a caller acts on: ErrInteractionRequired (send the user through
// sign-in: App.Challenge does), ErrUnavailable (retry later: the provider,
// its keys or the credential source are down), ErrThrottled
// (*ThrottledError: wait until RetryAfter), ErrInvalidClient (the app's
// credential is refused), ErrConfig (a configuration or calling mistake),
// and for bearer tokens ErrInvalidToken (401) and ErrForbidden (403).
// *OAuthError carries the provider's answer (AADSTS codes, correlation id,
// claims). No error, log line or metric holds a token, an assertion or a
// secret, and no request or caller's mistake makes the library panic.
//
// # Web apps and web APIs
//
// New takes AppOptions: the acquisition Options plus what only a web app
// reads (sessions, sign-in hooks, redirects, bearer validation). App adds
// sign-in for browsers — Handler (or Routes under the app's own session
// middleware), RequireUser, Challenge — with sessions kept by package
// session; bearer-token protection — RequireBearer with RequireScopes,
// RequireRoles, RequireScopesOrRoles, ClaimsFromContext, and ValidateToken
// for servers without handlers; tokens for downstream APIs — Token as the
// user, the app or on behalf of the caller, and DownstreamClient, an
// *http.Client that adds them and handles claims challenges. Every
// middleware is func(http.Handler) http.Handler.
//
// # Sign-out that reaches every instance
//
// Handler serves the provider's logout endpoints besides sign-in and
// sign-out: Config.BackchannelLogoutPath ("/backchannel-logout", OpenID
// Connect Back-Channel Logout 1.0: the provider POSTs a signed logout
// token) and Config.FrontchannelLogoutPath ("/frontchannel-logout",
// Front-Channel Logout 1.0, Entra's "Front-channel logout URL": the
// provider's sign-out page loads it in an iframe with iss and sid). A
// logout ends every app session of the provider session (sid), or for a
// logout token with sub alone every session of the user, on every instance
// that shares the token cache: the sessions' tokens are removed and their
// records in the cache say "ended" until the sessions would have expired,
// so RequireUser and Account refuse them everywhere — cookie-stored
// sessions included. Sessions also end after AppOptions.SessionLifetime
// (absolute, 24 hours by default) and SessionIdleTimeout (none by
// default), judged on every request from times kept in the session.
package identityweb
