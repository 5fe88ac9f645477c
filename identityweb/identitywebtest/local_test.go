package identitywebtest_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// StartLocal serves plain HTTP on the loopback address it is given, with
// the issuer on that URL, so that a browser reaches it without a
// certificate warning.
func TestStartLocalHTTP(t *testing.T) {
	l, err := iwt.StartLocal("localhost:0", iwt.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.HasPrefix(l.URL, "http://localhost:") || l.CertificatePEM != nil {
		t.Fatalf("URL %q, certificate %v", l.URL, l.CertificatePEM != nil)
	}
	resp, err := l.Client().Get(l.Issuer(iwt.DefaultTenantID) + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	decodeJSON(t, resp, &doc)
	resp.Body.Close()
	if doc.Issuer != l.URL+"/"+iwt.DefaultTenantID+"/v2.0" {
		t.Fatalf("issuer %q", doc.Issuer)
	}
}

// With HTTPS the certificate is trusted by Client only.
func TestStartLocalHTTPS(t *testing.T) {
	l, err := iwt.StartLocal("127.0.0.1:0", iwt.LocalOptions{HTTPS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.HasPrefix(l.URL, "https://127.0.0.1:") || len(l.CertificatePEM) == 0 {
		t.Fatalf("URL %q", l.URL)
	}
	resp, err := l.Client().Get(l.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("index: %d", resp.StatusCode)
	}
	if _, err := (&http.Client{}).Get(l.URL + "/"); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}
}

// A port in use is reported as such, naming the address; a non-loopback
// host is refused before anything listens.
func TestStartLocalErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = iwt.StartLocal(ln.Addr().String(), iwt.LocalOptions{})
	if !errors.Is(err, iwt.ErrAddressInUse) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("port in use: %v", err)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:80", "no-port"} {
		if l, err := iwt.StartLocal(addr, iwt.LocalOptions{}); err == nil {
			l.Close()
			t.Fatalf("StartLocal(%q) listened", addr)
		}
	}
}

// The development password grant: off by default; on, it issues a user's
// token to a shell, for scopes the user consented to, with the password
// the account has (none for the one-click users).
func TestDevelopmentPasswordGrant(t *testing.T) {
	form := func(user, password, scope string) url.Values {
		return url.Values{"grant_type": {"password"}, "client_id": {iwt.WebAppClientID}, "client_secret": {iwt.WebAppSecret},
			"username": {user}, "password": {password}, "scope": {scope}}
	}
	off := iwt.NewServer(t, iwt.Options{})
	if code, m := postToken(t, off, tenant, form(iwt.AliceUsername, "", apiScope)); code != 400 || m["error"] != "unsupported_grant_type" {
		t.Fatalf("password grant off: %d %v", code, m)
	}

	cfg := iwt.DefaultConfig()
	cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, iwt.User{ObjectID: "c4a11e00-0000-4000-8000-00000000000c",
		Username: "carol@" + iwt.DefaultTenantDomain, Name: "Carol", Password: "s3cret"})
	s := iwt.NewServer(t, iwt.Options{Config: cfg, DevelopmentPasswordGrant: true})
	if code, m := postToken(t, s, tenant, form(iwt.AliceUsername, "", apiScope)); code != 400 || aadsts(m) != iwt.CodeConsentRequired {
		t.Fatalf("without consent: %d %v", code, m)
	}
	s.GrantConsent(iwt.AliceUsername, iwt.WebAppClientID, apiScope)
	code, m := postToken(t, s, tenant, form(iwt.AliceUsername, "", apiScope))
	if code != 200 {
		t.Fatalf("password grant: %d %v", code, m)
	}
	c := claimsOf(t, m["access_token"].(string))
	if c["scp"] != "access_as_user" || c["aud"] != iwt.WebAPIClientID || c["oid"] != iwt.AliceObjectID || c["azp"] != iwt.WebAppClientID {
		t.Fatalf("claims: %v", c)
	}
	if _, ok := m["refresh_token"]; ok {
		t.Fatal("a refresh token without offline_access")
	}
	if code, m := postToken(t, s, tenant, form(iwt.AliceUsername, "guess", apiScope)); code != 400 || aadsts(m) != iwt.CodeBadCredentials {
		t.Fatalf("a password for a one-click user: %d %v", code, m)
	}
	if code, m := postToken(t, s, tenant, form("carol@"+iwt.DefaultTenantDomain, "", "openid")); code != 400 || aadsts(m) != iwt.CodeBadCredentials {
		t.Fatalf("no password for a user that has one: %d %v", code, m)
	}
	if code, m := postToken(t, s, tenant, form("carol@"+iwt.DefaultTenantDomain, "s3cret", "openid offline_access")); code != 200 || m["id_token"] == nil || m["refresh_token"] == nil {
		t.Fatalf("with the password: %d %v", code, m)
	}
	bad := form(iwt.AliceUsername, "", apiScope)
	bad.Set("client_secret", "wrong")
	if code, m := postToken(t, s, tenant, bad); code != 401 || m["error"] != "invalid_client" {
		t.Fatalf("bad client secret: %d %v", code, m)
	}
	resp, err := s.Client().Get(s.Issuer(tenant) + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"password"`) {
		t.Fatalf("discovery does not list the password grant: %s", b)
	}
}

// The consent page names each permission, and a long scope may wrap after
// the API's "/" only (never inside a word: no break-all).
func TestConsentPageScopes(t *testing.T) {
	s := iwt.NewServer(t, iwt.Options{})
	c := s.NewBrowser().Client
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := read(c.Get(webApp(s, apiScope).AuthCodeURL("st")))
	tx := regexp.MustCompile(`name="tx" value="([^"]+)"`).FindStringSubmatch(page)
	if tx == nil {
		t.Fatalf("sign-in page:\n%s", page)
	}
	page = read(c.PostForm(s.URL+"/"+tenant+"/login", url.Values{"tx": {tx[1]}, "username": {iwt.AliceUsername}}))
	for _, want := range []string{
		`<li data-scope="` + apiScope + `"><strong>access_as_user</strong>`,
		`<code>` + iwt.WebAPIIdentifierURI + `/<wbr>access_as_user</code>`,
		"overflow-wrap:break-word",
	} {
		if !strings.Contains(page, want) {
			t.Fatalf("consent page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "break-all") || strings.Contains(page, "anywhere") {
		t.Fatalf("consent page breaks words anywhere:\n%s", page)
	}
}

// Browser.Get follows an app's redirect to the provider, signs in, consents
// (or cancels) and lands back on the app's page.
func TestBrowserGet(t *testing.T) {
	l, err := iwt.StartLocal("localhost:0", iwt.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conf *oauth2.Config
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/start":
			http.Redirect(w, r, conf.AuthCodeURL("st"), http.StatusFound)
		case "/signin-oidc":
			fmt.Fprintf(w, "back: code=%t error=%s", r.URL.Query().Get("code") != "", r.URL.Query().Get("error"))
		}
	}))
	defer app.Close()
	conf = &oauth2.Config{ClientID: iwt.WebAppClientID, RedirectURL: strings.Replace(app.URL, "127.0.0.1", "localhost", 1) + "/signin-oidc",
		Endpoint: oauth2.Endpoint{AuthURL: l.URL + "/" + tenant + "/oauth2/v2.0/authorize"}, Scopes: []string{"openid", apiScope}}

	b := l.NewBrowser()
	b.Username, b.DeclineConsent = iwt.AliceUsername, true
	_, body, err := b.Get(app.URL + "/start")
	if err != nil || body != "back: code=false error=access_denied" || len(b.ConsentShown) != 1 || b.ConsentShown[0] != apiScope {
		t.Fatalf("cancelled: %q %v %v", body, b.ConsentShown, err)
	}
	b.DeclineConsent = false
	if _, body, err = b.Get(app.URL + "/start"); err != nil || body != "back: code=true error=" {
		t.Fatalf("accepted: %q %v", body, err)
	}
	b2 := l.NewBrowser()
	b2.Username = "nobody@" + iwt.DefaultTenantDomain
	if _, _, err := b2.Get(app.URL + "/start"); !errors.Is(err, iwt.ErrNoRedirect) {
		t.Fatalf("unknown user: %v", err)
	}
}
