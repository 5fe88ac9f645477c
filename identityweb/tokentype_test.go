package identityweb_test

import (
	"crypto/rsa"
	"errors"
	"net/http"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/jws"
)

// An app that both signs users in and exposes an API accepted its own ID
// token as a bearer token: the default audiences include the client id, and
// nothing asked for scopes or roles. By default a bearer token must carry
// scp or roles (Identity Web's IDW10201), and a typ header, when present,
// must say it is an access token.
func TestIDTokenIsNotAnAccessToken(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret)
	res, err := web.Session("alice").RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope})
	if err != nil || res.IDToken == "" {
		t.Fatalf("sign-in: %v", err)
	}
	newApp := func(allow bool) (*identityweb.App, http.Handler) {
		app, err := identityweb.New(identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Logger: quiet()},
				AllowWebAPIToBeAuthorizedByACL: allow})
		if err != nil {
			t.Fatal(err)
		}
		return app, app.RequireBearer()(okHandler)
	}
	app, h := newApp(false)
	if w := call(h, "Bearer "+res.IDToken); w.Code != http.StatusUnauthorized {
		t.Errorf("the app's own ID token as a bearer token: %d, want 401", w.Code)
	}
	if _, err := app.ValidateToken(bg, res.IDToken); !errors.Is(err, identityweb.ErrInvalidToken) {
		t.Errorf("ValidateToken of an ID token: %v, want ErrInvalidToken", err)
	}
	// The documented opt-out, for APIs that authorize by their own ACL.
	if _, h := newApp(true); call(h, "Bearer "+res.IDToken).Code != http.StatusNoContent {
		t.Fatal("AllowWebAPIToBeAuthorizedByACL did not accept a token without scopes or roles")
	}

	op := newFakeOP(t)
	clk := newClock()
	now := clk.Now()
	_, api := apiOn(t, op, clk)
	sign := func(typ string, mutate func(map[string]any)) string {
		c := op.claims(now)
		if mutate != nil {
			mutate(c)
		}
		tok, err := jws.Sign(opKeysFor("k1"), jws.Header{Alg: jws.RS256, Typ: typ, Kid: "k1"}, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	noScopes := func(c map[string]any) { delete(c, "scp") }
	rolesOnly := func(c map[string]any) { delete(c, "scp"); c["roles"] = []string{"Todo.Read.All"} }
	for _, tc := range []struct {
		name string
		tok  string
		want int
	}{
		{"typ JWT (Entra)", sign("JWT", nil), 200},
		{"no typ", sign("", nil), 200},
		{"typ at+jwt (RFC 9068)", sign("at+jwt", nil), 200},
		{"typ application/at+JWT", sign("application/at+JWT", nil), 200},
		{"roles without scopes (app token)", sign("JWT", rolesOnly), 200},
		{"neither scopes nor roles", sign("JWT", noScopes), 401},
		{"empty scopes and roles", sign("JWT", func(c map[string]any) { c["scp"] = " "; c["roles"] = []string{} }), 401},
		{"typ id_token+jwt", sign("id_token+jwt", nil), 401},
		{"typ logout+jwt", sign("logout+jwt", nil), 401},
		{"typ dpop+jwt", sign("dpop+jwt", nil), 401},
	} {
		if w := call(api, "Bearer "+tc.tok); w.Code != tc.want && !(tc.want == 200 && w.Code == 200) {
			t.Errorf("%s: %d, want %d", tc.name, w.Code, tc.want)
		}
	}
}

// opKeysFor returns the fake provider's private key of kid.
func opKeysFor(kid string) *rsa.PrivateKey {
	if kid == "k2" {
		return opKeys[1]
	}
	return opKeys[0]
}
