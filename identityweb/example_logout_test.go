package identityweb_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// Handler (and Routes) serve the provider's logout endpoints: a logout
// token posted to BackchannelLogoutPath ends the user's sessions on every
// instance sharing the token cache; the same token again is refused.
// Register PublicURL + "/backchannel-logout" (and "/frontchannel-logout")
// at the provider.
func ExampleApp_Routes_backchannelLogout() {
	p, srv := devIdP()
	defer srv.Close()
	app, err := identityweb.New(identityweb.Config{
		Instance: srv.URL + "/", TenantID: identitywebtest.DefaultTenantID,
		ClientID: identitywebtest.WebAppClientID, ClientSecret: identitywebtest.WebAppSecret,
	}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: srv.Client()}})
	if err != nil {
		panic(err)
	}
	h := app.Handler(http.NotFoundHandler())

	// What the provider posts when the user signs out there (Entra uses
	// front-channel logout instead; standards providers post this).
	token, _ := p.MintBackchannelLogoutToken(srv.URL, identitywebtest.WebAppClientID, identitywebtest.AliceUsername, "")
	for range 2 {
		r := httptest.NewRequest(http.MethodPost, "/backchannel-logout", strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("Cache-Control"))
	}
	// Output:
	// 200 no-store
	// 400 no-store
}
