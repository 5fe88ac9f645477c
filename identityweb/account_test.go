package identityweb_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// App.Account read only the session: with sessions kept in the cookie
// (gorilla CookieStore), a copy of the cookie taken before sign-out still
// named the signed-out user. It must check the token cache, as RequireUser
// does.
func TestAccountIgnoresAReplayedCookieAfterSignOut(t *testing.T) {
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	app, err := identityweb.New(identityweb.Config{Instance: e.idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Logger: quiet(),
			Cache: cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})}, Sessions: cookieSessions(t), InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/me", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "<input name=csrf value=%q>", app.CSRFToken(r))
	})))
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) {
		if acct, ok := app.Account(r); ok {
			fmt.Fprint(w, acct.Name)
			return
		}
		fmt.Fprint(w, "anonymous")
	})
	srv := httptest.NewServer(app.Handler(mux))
	t.Cleanup(srv.Close)
	in := &webInstance{app: app, srv: srv}

	_, csrf, cookie := in.signIn(t, e.idp)
	if _, name := in.replay(t, "/account", cookie); name != "Alice Example" {
		t.Fatalf("signed in: Account = %q", name)
	}
	if resp, _ := in.signOut(t, cookie, csrf); resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if _, name := in.replay(t, "/account", cookie); name != "anonymous" {
		t.Fatalf("App.Account of a cookie copied before sign-out = %q, want not signed in", name)
	}
	if code, _ := in.replay(t, "/me", cookie); code != http.StatusFound {
		t.Fatalf("RequireUser with the copied cookie: %d", code)
	}
}

// Session("") was a real partition, shared by every caller with an empty
// key (a session middleware that lost its key): one caller's tokens were
// another's. An empty key is now a calling mistake on every method.
func TestEmptySessionKeySharesNothing(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	cache := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = cache })
	first, second := web.Session(""), web.Session("")
	if _, err := first.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); !errors.Is(err, identityweb.ErrConfig) {
		t.Fatalf("RedeemCode with an empty session key: %v, want ErrConfig", err)
	}
	if n := cache.Len(); n != 0 {
		t.Fatalf("an empty session key stored %d entries", n)
	}
	if _, err := second.ForUser(bg, []string{apiScope}); !errors.Is(err, identityweb.ErrConfig) {
		t.Fatalf("ForUser with an empty session key: %v, want ErrConfig", err)
	}
	if _, ok := second.Account(bg); ok {
		t.Fatal("an empty session key has an account")
	}
	if err := second.RemoveAccount(bg); !errors.Is(err, identityweb.ErrConfig) {
		t.Fatalf("RemoveAccount with an empty session key: %v, want ErrConfig", err)
	}
	// The error names the mistake, never a token.
	_, err := second.ForUser(bg, []string{apiScope})
	if msg := err.Error(); !strings.Contains(msg, "session key") {
		t.Fatalf("error %q does not say what is wrong", msg)
	}
	// A real key next to it is unaffected.
	if _, err := web.Session("alice").RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	if _, err := second.ForUser(bg, []string{apiScope}); !errors.Is(err, identityweb.ErrConfig) {
		t.Fatalf("after another session signed in, the empty key: %v", err)
	}
}
