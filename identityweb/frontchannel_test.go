package identityweb_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// Front-channel logout as Entra does it: the provider's sign-out page loads
// the app's front-channel logout URL in an iframe with iss and sid, and the
// app's sessions of that provider session end — including a second browser
// session on another instance that signed in silently through it. The page
// is empty, never cached, and only the provider may frame it.
func TestFrontchannelLogout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appURL := "http://" + ln.Addr().String()
	cfg := iwt.DefaultConfig()
	for i, c := range cfg.Tenants[0].Clients {
		if c.ClientID == iwt.WebAppClientID {
			cfg.Tenants[0].Clients[i].FrontChannelLogoutURL = appURL + "/frontchannel-logout"
		}
	}
	idp := iwt.NewServer(t, iwt.Options{Config: cfg})
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}, InsecureAllowHTTPCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	})))}}
	hs.Start()
	t.Cleanup(hs.Close)
	pb := idp.NewBrowser()
	signIn := func(base string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		u := base + "/"
		for range 6 {
			resp, err := c.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				if resp.StatusCode != 200 {
					t.Fatalf("sign-in ended with %d", resp.StatusCode)
				}
				return c
			}
			if strings.HasPrefix(loc.String(), idp.URL) {
				if loc, err = pb.SignIn(loc.String(), iwt.AliceUsername, "", true); err != nil {
					t.Fatal(err)
				}
			}
			u = loc.String()
		}
		t.Fatal("too many redirects")
		return nil
	}
	first := signIn(appURL)
	served := func(c *http.Client, base string) bool {
		resp, err := c.Get(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	if !served(first, appURL) {
		t.Fatal("not signed in")
	}

	// The endpoint's own answers.
	h := app.Handler(http.NotFoundHandler())
	fc := func(q string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/frontchannel-logout"+q, nil))
		return w
	}
	for name, q := range map[string]string{
		"another issuer":  "?" + url.Values{"iss": {"https://evil.example/" + tenant + "/v2.0"}, "sid": {"x"}}.Encode(),
		"sid without iss": "?sid=x",
		"iss without sid": "?" + url.Values{"iss": {idp.Issuer(tenant)}}.Encode(),
	} {
		if w := fc(q); w.Code != http.StatusBadRequest || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
	if !served(first, appURL) {
		t.Fatal("a refused front-channel request ended the session")
	}
	w := fc("?" + url.Values{"iss": {idp.Issuer(tenant)}, "sid": {"unknown-session"}}.Encode())
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" ||
		w.Header().Get("Content-Security-Policy") != "frame-ancestors "+idp.URL || !strings.Contains(w.Body.String(), "<title>") {
		t.Fatalf("front-channel page: %d %v %q", w.Code, w.Header(), w.Body)
	}

	// A second browser session, signed in through the same provider
	// session, ends with it.
	second := signIn(appURL)
	if !served(second, appURL) {
		t.Fatal("second browser session not signed in")
	}
	next, err := pb.SignOut(idp.URL + "/" + tenant + "/oauth2/v2.0/logout?" + url.Values{
		"post_logout_redirect_uri": {appURL + "/signout-callback-oidc"}, "client_id": {iwt.WebAppClientID}, "state": {"st"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.FrontChannelStatus) != 1 || pb.FrontChannelStatus[0] != 200 {
		t.Fatalf("front-channel frames answered %v", pb.FrontChannelStatus)
	}
	if !strings.HasPrefix(next.String(), appURL+"/signout-callback-oidc") || next.Query().Get("state") != "st" {
		t.Fatalf("after the sign-out page: %s", next)
	}
	if served(first, appURL) || served(second, appURL) {
		t.Fatal("a session of the ended provider session is still served")
	}
}

// Anyone can send front-channel requests: for provider sessions the app
// does not know they leave nothing behind.
func TestFrontchannelLogoutLeavesNothingForUnknownSessions(t *testing.T) {
	op := newFakeOP(t)
	clk := newClock()
	mem := cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk})
	app, h := logoutInstance(t, op, clk, mem)
	identityweb.StartSessionForTest(app, "browser-1", op.srv.URL, "sid-1", "sub-1")
	before := mem.Len()
	for i := range 100 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/frontchannel-logout?"+url.Values{"iss": {op.srv.URL}, "sid": {fmt.Sprint("random-", i)}}.Encode(), nil))
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n := mem.Len(); n != before {
		t.Fatalf("100 front-channel requests for unknown sessions left %d entries", n-before)
	}
	if !identityweb.SessionLiveForTest(app, "browser-1") {
		t.Fatal("an unrelated session ended")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/frontchannel-logout?"+url.Values{"iss": {op.srv.URL}, "sid": {"sid-1"}}.Encode(), nil))
	if w.Code != 200 || identityweb.SessionLiveForTest(app, "browser-1") {
		t.Fatalf("the known session did not end: %d", w.Code)
	}
}
