// Package frameworks is what the chi, echo and gin samples share: the
// development identity provider, a web app that signs users in and calls a
// web API with their token, the web API that calls Graph on behalf of its
// caller, and plain net/http handlers for each route. Each sample is a
// small main that wires these into its framework:
//
//	go run ./samples/frameworks/chi     # http://localhost:5330
//	go run ./samples/frameworks/echo    # http://localhost:5340
//	go run ./samples/frameworks/gin     # http://localhost:5350
//
// Every identityweb middleware is a func(http.Handler) http.Handler: chi
// takes it as is, echo through echo.WrapMiddleware, gin through a few lines
// of adapter (see the gin sample). The routes are the same in each:
//
//	GET  /        public
//	GET  /me      signed-in users: a token for the web API, and the API's answer
//	GET  /api     bearer-protected (scope access_as_user): the caller's name,
//	              after getting a Graph token on their behalf (OBO)
//	POST /signout, /signin-oidc, …   served by the web app's Handler
package frameworks

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/samples/internal/devserver"
	"github.com/identityweb/go-identityweb/session"
)

// APIScope is the web API's scope: the web app asks for it at sign-in and
// calls /api with a token for it.
const APIScope = identitywebtest.WebAPIIdentifierURI + "/access_as_user"

// Apps are the web app and the web API a sample wires into its router.
type Apps struct {
	// Web signs users in: Handler around the router, RequireUser on /me.
	Web *identityweb.App
	// API protects /api: RequireBearer (see RequireAPI), and calls Graph on
	// behalf of its caller.
	API *identityweb.App

	name      string
	apiURL    string       // the sample's own /api
	apiClient *http.Client // the web app's client for /api: adds the user's token
}

// RequireAPI is the middleware of /api: a valid bearer token for the web
// API with scope access_as_user.
func (a *Apps) RequireAPI() func(http.Handler) http.Handler {
	return a.API.RequireBearer(identityweb.RequireScopes("access_as_user"))
}

var page = template.Must(template.New("page").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>identityweb · {{.Name}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.45}
td,th{text-align:left;padding:.2rem .8rem .2rem 0}.notice{background:#eef5ee;padding:.5rem .8rem}</style></head><body>
<h1>identityweb on {{.Name}}</h1>
{{if .SignedOut}}<p class="notice" id="signed-out">You are signed out.</p>{{end}}
{{with .User}}<h2 id="greeting">Hello, {{.Name}}</h2>
<table><tr><th>Token for the web API</th><td id="user-token">from {{$.Token.Metadata.Source}} ({{$.Token.Metadata.CacheLevel}})</td></tr>
<tr><th>The web API answered</th><td id="api-answer">caller {{$.Answer.Caller}}; Graph token on their behalf from {{$.Answer.OBO}}</td></tr></table>
<form method="post" action="/signout"><input type="hidden" name="csrf" value="{{$.CSRF}}"><button id="sign-out">Sign out</button></form>
{{else}}<p>Sign in with the development identity provider, then this app calls its web API with your token, and the API calls Graph on your behalf.</p>
<p><a id="sign-in" href="/me">Sign in</a></p>{{end}}
</body></html>`))

// apiAnswer is /api's JSON answer.
type apiAnswer struct {
	Caller string `json:"caller"`
	OBO    string `json:"obo"` // where the Graph token came from
}

type pageData struct {
	Name      string
	SignedOut bool
	User      *identityweb.Account
	Token     identityweb.Result
	Answer    apiAnswer
	CSRF      string
}

func (a *Apps) render(w http.ResponseWriter, d pageData) {
	d.Name = a.name
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	page.Execute(w, d)
}

// Home serves GET /.
func (a *Apps) Home(w http.ResponseWriter, r *http.Request) {
	_, signedIn := a.Web.Account(r)
	a.render(w, pageData{SignedOut: !signedIn && r.URL.Query().Get("signedout") == "1"})
}

// Me serves GET /me, behind Web.RequireUser: a token for the web API as
// the user, then the API called with it.
func (a *Apps) Me(w http.ResponseWriter, r *http.Request) {
	acct, _ := identityweb.AccountFromContext(r.Context())
	res, err := a.Web.Token(r.Context(), identityweb.AsUser, []string{APIScope})
	if err != nil {
		a.Web.Challenge(w, r, err)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, a.apiURL, nil)
	resp, err := a.apiClient.Do(req)
	if err != nil {
		a.Web.Challenge(w, r, err)
		return
	}
	defer resp.Body.Close()
	var ans apiAnswer
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&ans) != nil {
		http.Error(w, "The web API did not answer as expected.", http.StatusBadGateway)
		return
	}
	a.render(w, pageData{User: &acct, Token: res, Answer: ans, CSRF: a.Web.CSRFToken(r)})
}

// HandleAPI serves GET /api, behind RequireAPI: it gets a Graph token on
// behalf of the caller and answers with the caller's name.
func (a *Apps) HandleAPI(w http.ResponseWriter, r *http.Request) {
	c, _ := identityweb.ClaimsFromContext(r.Context())
	res, err := a.API.Token(r.Context(), identityweb.OnBehalfOf, []string{"User.Read"})
	if err != nil {
		a.API.Challenge(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(apiAnswer{Caller: c.Name, OBO: res.Metadata.Source.String()})
}

// Sample is one framework's sample.
type Sample struct {
	// Name is the framework's ("chi").
	Name string
	// Addr and IdPAddr are the default addresses of the sample and of its
	// development identity provider.
	Addr, IdPAddr string
	// Wire builds the sample's handler: the framework's router with the
	// routes above, wrapped in (or using) apps.Web.Handler.
	Wire func(apps *Apps) http.Handler
}

// Started is what Run reports once the sample listens.
type Started struct {
	URL string                 // the sample's base URL
	IdP *identitywebtest.Local // its development identity provider
}

// Main runs the sample until SIGINT or SIGTERM; it is the sample's main.
func (s Sample) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
		os.Exit(1)
	}
}

// Run starts the development identity provider and the sample with the
// command-line arguments args, and serves until ctx ends. ready, when set,
// receives where it listens.
func (s Sample) Run(ctx context.Context, args []string, out io.Writer, ready chan<- Started) error {
	fs := flag.NewFlagSet(s.Name, flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", s.Addr, "address of the sample (loopback)")
	idpAddr := fs.String("idp-addr", s.IdPAddr, "address of the development identity provider (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := devserver.Listen(*addr, "addr")
	if err != nil {
		return err
	}
	defer ln.Close()
	base := devserver.URL("http", *addr, ln)
	idp, err := devserver.StartIdP(*idpAddr, "idp-addr", identitywebtest.LocalOptions{})
	if err != nil {
		return err
	}
	defer idp.Close()
	apps := &Apps{name: s.Name, apiURL: base + "/api"}
	// An scs manager of the sample's own: its cookie name keeps it apart
	// from the other samples on localhost (cookies ignore ports). scs's
	// cookie is not Secure by default, as http://localhost needs; set
	// sm.Cookie.Secure = true behind HTTPS.
	sm := scs.New()
	sm.Cookie.Name = "idw_" + s.Name
	sessions, err := session.NewSCS(sm, session.SCSOptions{})
	if err != nil {
		return err
	}
	web := identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret, Scopes: []string{APIScope}}
	if apps.Web, err = identityweb.New(web, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: logger},
		Sessions: sessions, SignedOutRedirect: "/?signedout=1"}); err != nil {
		return err
	}
	defer apps.Web.Close()
	api := identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret} // the secret: for OBO
	if apps.API, err = identityweb.New(api, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: logger}}); err != nil {
		return err
	}
	defer apps.API.Close()
	if apps.apiClient, err = apps.Web.DownstreamClient(identityweb.DownstreamAPI{BaseURL: base + "/api", Scopes: []string{APIScope}}); err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Wire(apps), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "Development identity provider: %s (users alice@… and bob@…, no password)\n", idp.URL)
	fmt.Fprintf(out, "Open %s/\n", base)
	if ready != nil {
		ready <- Started{URL: base, IdP: idp}
	}
	return devserver.Wait(ctx, srv, errc)
}
