package frameworks

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func apps(t *testing.T, idp *iwt.Server) (*identityweb.App, *identityweb.App) {
	web, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret, Scopes: []string{APIScope}},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}, InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	webAPI, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret}, identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client()}})
	if err != nil {
		t.Fatal(err)
	}
	return web, webAPI
}

var reCSRF = regexp.MustCompile(`csrf=([^;]+);`)

func TestFrameworks(t *testing.T) {
	for name, wire := range map[string]func(web, webAPI *identityweb.App) http.Handler{
		"chi": Chi, "echo": Echo, "gin": GinEngine,
	} {
		t.Run(name, func(t *testing.T) {
			idp := iwt.NewServer(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
			web, webAPI := apps(t, idp)
			srv := httptest.NewServer(wire(web, webAPI))
			defer srv.Close()
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, Transport: idp.Client().Transport, Timeout: 30 * time.Second}
			get := func(c *http.Client, path, authz string) (int, string) {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
				if authz != "" {
					req.Header.Set("Authorization", authz)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, body := get(browser, "/", ""); code != 200 || body != "public" {
				t.Fatalf("/ = %d %q", code, body)
			}
			code, body := get(browser, "/me", "")
			if code != 200 || !strings.HasPrefix(body, "hello Alice Example, token from cache") {
				t.Fatalf("/me after sign-in = %d %q", code, body)
			}
			// The web API: bearer protection and OBO.
			tok, _ := idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
			if code, body := get(http.DefaultClient, "/api", "Bearer "+tok); code != 200 || body != "api caller Alice Example, obo ok" {
				t.Fatalf("/api = %d %q", code, body)
			}
			if code, _ := get(http.DefaultClient, "/api", ""); code != 401 {
				t.Fatalf("/api without a token = %d", code)
			}
			// Sign-out, then /me needs a new sign-in.
			csrf := reCSRF.FindStringSubmatch(body)[1]
			resp, err := browser.PostForm(srv.URL+"/signout", url.Values{"csrf": {csrf}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Request.URL.Path != "/" {
				t.Fatalf("after sign-out landed on %s", resp.Request.URL)
			}
			get(browser, "/me", "")
			if n := idp.TokenRequests("authorization_code"); n != 2 {
				t.Fatalf("code redemptions = %d, want 2", n)
			}
		})
	}
}
