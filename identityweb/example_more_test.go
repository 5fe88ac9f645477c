package identityweb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// LoadConfig reads the "AzureAd" section of an appsettings.json file; the
// environment overrides it (AzureAd__ClientId, AZURE_CLIENT_ID, …).
func ExampleLoadConfig() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "appsettings.json")
	os.WriteFile(path, []byte(`{"AzureAd": {
		"Instance": "https://login.microsoftonline.com/",
		"TenantId": "contoso.onmicrosoft.com",
		"ClientId": "11111111-0000-4000-8000-000000000001",
		"Scopes": ["api://todo/Todo.Read"]
	}}`), 0o600)
	os.Setenv("AzureAd__CallbackPath", "/auth/callback")
	defer os.Unsetenv("AzureAd__CallbackPath")

	cfg, err := identityweb.LoadConfig(path, "AzureAd")
	fmt.Println(err, cfg.TenantID, cfg.ClientID, cfg.Scopes, cfg.CallbackPath)

	_, err = identityweb.LoadConfig(filepath.Join(dir, "missing.json"), "AzureAd")
	fmt.Println(errors.Is(err, identityweb.ErrConfig))
	// Output:
	// <nil> contoso.onmicrosoft.com 11111111-0000-4000-8000-000000000001 [api://todo/Todo.Read] /auth/callback
	// true
}

// Challenge answers a token error: here a visitor who is not signed in is
// sent through sign-in, asking for the downstream scope, and comes back to
// the same page.
func ExampleApp_Challenge() {
	_, idp := devIdP()
	defer idp.Close()
	app, err := identityweb.New(identityweb.Config{
		Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		panic(err)
	}
	scope := identitywebtest.WebAPIIdentifierURI + "/Todo.ReadWrite"
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := app.Token(r.Context(), identityweb.AsUser, []string{scope}); err != nil {
			var ce *identityweb.ChallengeError
			fmt.Println(errors.As(err, &ce), errors.Is(err, identityweb.ErrInteractionRequired))
			app.Challenge(w, r, err)
			return
		}
		fmt.Fprint(w, "todos saved")
	})
	w := httptest.NewRecorder()
	app.Handler(page).ServeHTTP(w, httptest.NewRequest("POST", "https://app.example/todos", nil))
	loc, _ := url.Parse(w.Header().Get("Location"))
	fmt.Println(w.Code, loc.Query().Get("scope"))
	// Output:
	// true true
	// 302 openid profile offline_access api://22222222-0000-4000-8000-000000000002/Todo.ReadWrite
}

// A background job goes on calling a downstream API on behalf of a user
// after the request that started it (and its token) is gone.
func ExampleTokenAcquirer_StartLongRunning() {
	p, srv := devIdP()
	defer srv.Close()
	api, err := identityweb.NewTokenAcquirer(identityweb.Config{
		Instance: srv.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret,
	}, identityweb.Options{HTTPClient: srv.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	incoming, _ := p.MintUserToken(srv.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID,
		identitywebtest.WebAPIIdentifierURI, "access_as_user")
	key, _, err := api.StartLongRunning(ctx, incoming, []string{"User.Read"}) // in the request
	if err != nil {
		panic(err)
	}
	res, err := api.ContinueLongRunning(ctx, key, []string{"User.Read"}) // later, in the job
	fmt.Println(err, res.Metadata.Source)
	api.EndLongRunning(ctx, key) // when the job is done
	_, err = api.ContinueLongRunning(ctx, key, []string{"User.Read"})
	fmt.Println(errors.Is(err, identityweb.ErrInteractionRequired))
	// Output:
	// <nil> cache
	// true
}

// A gRPC or WebSocket server validates the token itself; the returned
// context carries the claims (and the token, for on-behalf-of calls).
func ExampleApp_ValidateToken() {
	p, idp := devIdP()
	defer idp.Close()
	api, err := identityweb.New(identityweb.Config{
		Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAPIClientID, ClientSecret: identitywebtest.WebAPISecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		panic(err)
	}
	token, _ := p.MintUserToken(idp.URL, identitywebtest.AliceUsername, identitywebtest.WebAppClientID,
		identitywebtest.WebAPIIdentifierURI, "access_as_user")
	ctx, err := api.ValidateToken(context.Background(), token, identityweb.RequireScopes("access_as_user"))
	c, _ := identityweb.ClaimsFromContext(ctx)
	fmt.Println(err, c.Username)
	_, err = api.ValidateToken(context.Background(), token, identityweb.RequireRoles("Todo.Read.All"))
	fmt.Println(errors.Is(err, identityweb.ErrForbidden))
	// Output:
	// <nil> alice@contoso.onmicrosoft.com
	// true
}

// Token returns a token as the signed-in user, as the app, or on behalf of
// an API's caller; here as the app.
func ExampleApp_Token() {
	_, idp := devIdP()
	defer idp.Close()
	app, err := identityweb.New(identityweb.Config{
		Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.DaemonClientID, ClientSecret: identitywebtest.DaemonSecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		panic(err)
	}
	res, err := app.Token(context.Background(), identityweb.AsApp, []string{identitywebtest.WebAPIIdentifierURI + "/.default"})
	fmt.Println(err, res.TokenType, res.Metadata.Source)
	// Output: <nil> Bearer identity_provider
}
