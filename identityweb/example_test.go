package identityweb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// devIdP starts the development identity provider for the examples. A real
// app points Config at Entra ID (Instance, TenantID) or another provider.
func devIdP() (*identitywebtest.Provider, *httptest.Server) {
	p, err := identitywebtest.NewProvider(identitywebtest.Options{})
	if err != nil {
		panic(err)
	}
	return p, httptest.NewTLSServer(p)
}

// A daemon gets an app token with client credentials; the second call is
// served from the cache.
func ExampleTokenAcquirer_ForApp() {
	_, srv := devIdP()
	defer srv.Close()

	acq, err := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance:     srv.URL + "/",
		TenantID:     identitywebtest.DefaultTenantID,
		ClientID:     identitywebtest.DaemonClientID,
		ClientSecret: identitywebtest.DaemonSecret, // development only: prefer certificates
	}, identityweb.Options{HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		res, err := acq.ForApp(ctx, identitywebtest.WebAPIIdentifierURI+"/.default")
		if err != nil {
			panic(err)
		}
		fmt.Printf("source=%s level=%s reason=%s\n", res.Metadata.Source, res.Metadata.CacheLevel, res.Metadata.RefreshReason)
	}
	// Output:
	// source=identity_provider level=none reason=no_cached_token
	// source=cache level=l1 reason=not_applicable
}

// A web API calls Microsoft Graph on behalf of its caller, with the access
// token it received.
func ExampleTokenAcquirer_OnBehalfOf() {
	p, srv := devIdP()
	defer srv.Close()
	api, err := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance: srv.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret,
	}, identityweb.Options{HTTPClient: srv.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	// In a real API this is the bearer token of the incoming request.
	incoming, _ := p.MintUserToken(srv.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID,
		identitywebtest.WebAPIIdentifierURI, "access_as_user")
	res, err := api.OnBehalfOf(context.Background(), incoming, []string{"User.Read"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.TokenType, res.Metadata.Source, p.TokenRequests(identitywebtest.GrantJWTBearer))
	// Output: Bearer identity_provider 1
}

// Libraries that take an oauth2.TokenSource get one backed by the cache.
func ExampleTokenAcquirer_AppTokenSource() {
	_, srv := devIdP()
	defer srv.Close()
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance: srv.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret,
	}, identityweb.Options{HTTPClient: srv.Client()})
	tok, err := acq.AppTokenSource(context.Background(), identitywebtest.WebAPIIdentifierURI+"/.default").Token()
	fmt.Println(err, tok.Type(), tok.Valid())
	// Output: <nil> Bearer true
}

// A web app: Handler serves the sign-in routes and sessions, RequireUser
// protects pages, Token gets tokens for downstream APIs, and
// Challenge sends the user through sign-in when consent or claims are
// needed.
func ExampleApp_RequireUser() {
	_, idp := devIdP()
	defer idp.Close()
	app, err := identityweb.New(identityweb.Config{
		Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, _ := identityweb.AccountFromContext(r.Context())
		res, err := app.Token(r.Context(), identityweb.AsUser, []string{identitywebtest.WebAPIIdentifierURI + "/access_as_user"})
		if err != nil {
			app.Challenge(w, r, err) // consent, claims, lost cache: back through sign-in
			return
		}
		fmt.Fprintf(w, "hello %s (%d-byte token)", acct.Name, len(res.AccessToken))
	})))
	handler := app.Handler(mux) // sessions + /signin-oidc, /signout, …

	// An anonymous visitor is sent to the identity provider.
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, httptest.NewRequest("GET", "https://app.example/reports?id=7", nil))
	loc, _ := url.Parse(w.Header().Get("Location"))
	fmt.Println(w.Code, loc.Path, loc.Query().Get("code_challenge_method"), loc.Query().Get("redirect_uri"))
	// Output: 302 /c0ffee00-0000-4000-8000-000000000001/oauth2/v2.0/authorize S256 https://app.example/signin-oidc
}

// A web API: RequireBearer validates the token and applies policies; the
// handler reads the claims and may call downstream APIs on behalf of the
// caller.
func ExampleApp_RequireBearer() {
	p, idp := devIdP()
	defer idp.Close()
	api, err := identityweb.New(identityweb.Config{
		Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		panic(err)
	}
	h := api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "todos of %s", c.Name)
	}))
	token, _ := p.MintUserToken(idp.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID,
		identitywebtest.WebAPIIdentifierURI, "access_as_user")
	for _, authz := range []string{"Bearer " + token, "Bearer forged", ""} {
		r := httptest.NewRequest("GET", "/todos", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	// Output:
	// 200
	// 401
	// 401
}

// Calling a downstream API as the app: the client adds the token.
func ExampleApp_DownstreamClient() {
	_, idp := devIdP()
	defer idp.Close()
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer downstream.Close()
	app, _ := identityweb.New(identityweb.Config{
		Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	client, err := app.DownstreamClient(identityweb.DownstreamAPI{
		BaseURL: downstream.URL, Scopes: []string{identitywebtest.WebAPIIdentifierURI + "/.default"}, As: identityweb.AsApp,
	})
	if err != nil {
		panic(err)
	}
	resp, err := client.Get(downstream.URL + "/items")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(b))
	// Output: 200 true
}
