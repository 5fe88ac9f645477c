package identityweb_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/internal/oidcprovidertest"
	"github.com/identityweb/go-identityweb/internal/redistest"
	"github.com/identityweb/go-identityweb/session"
)

// logoutBound is the generous deadline for a provider logout to reach
// every instance; the measured time is printed.
const logoutBound = 10 * time.Second

// logoutNode is one instance of the web app: its L1 and its handler.
type logoutNode struct {
	app *identityweb.App
	l1  *cachestore.Memory
	url string
}

// The acceptance test of back-channel logout: three instances of a web app
// share an encrypted Redis L2 (and their sessions: scs in Redis, or
// gorilla cookies); one provider session signs a user in to each, in three
// browser sessions; ending the provider session at oidc-provider's
// end-session endpoint posts one logout token to the first instance, and
// within the bound every instance sends every one of those browsers to sign
// in, and the user's tokens are gone from every L1 and from L2.
func TestBackchannelLogoutReachesEveryInstance(t *testing.T) {
	srv := redistest.Start(t)
	for _, kind := range []string{"scs in Redis", "gorilla cookies"} {
		t.Run(kind, func(t *testing.T) {
			var lns []net.Listener
			var urls, redirects, postOut []string
			for range 3 {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				lns = append(lns, ln)
				u := "http://" + ln.Addr().String()
				urls, redirects, postOut = append(urls, u), append(redirects, u+"/signin-oidc"), append(postOut, u+"/signout-callback-oidc")
			}
			op := oidcprovidertest.Start(t, oidcprovidertest.Options{RedirectURIs: redirects, PostLogoutRedirectURIs: postOut,
				BackchannelLogoutURI: urls[0] + "/backchannel-logout"})
			client := op.Clients().SecretPost
			ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
			l2 := sharedL2(t, srv.Addr, ring, nil)
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { rdb.Close() })
			cookies := sessions.NewCookieStore(randomBytes(32), randomBytes(32))
			sids := make(chan string, 3)
			var nodes []*logoutNode
			for i, ln := range lns {
				var mgr session.Manager
				if kind == "gorilla cookies" {
					mgr, _ = session.NewGorilla(cookies, session.GorillaOptions{InsecureAllowHTTPCookies: true})
				} else {
					sm := scs.New()
					sm.Store = goredisstore.New(rdb)
					mgr, _ = session.NewSCS(sm, session.SCSOptions{})
				}
				l1 := cachestore.NewMemory(cachestore.MemoryOptions{})
				tr := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{CircuitBreak: 500 * time.Millisecond, Logger: quiet()})
				t.Cleanup(func() { tr.Close() })
				cfg := identityweb.Config{Authority: op.Issuer(), ClientID: client.ID, ClientSecret: client.Secret,
					Scopes: []string{"todo.read"}, Resources: []string{oidcprovidertest.ResourceTodo}}
				app, err := identityweb.New(cfg, identityweb.AppOptions{Options: identityweb.Options{Cache: tr, Logger: quiet()},
					Sessions: mgr, InsecureAllowHTTPCookies: true,
					OnSignedIn: func(r *http.Request, acct identityweb.Account, id *identityweb.Claims) error {
						var c struct{ Sid string }
						id.Decode(&c)
						sids <- c.Sid
						return nil
					}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { app.Close() })
				mux := http.NewServeMux()
				mux.Handle("/me", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					acct, _ := identityweb.AccountFromContext(r.Context())
					fmt.Fprintf(w, "hello %s from %d", acct.Name, i)
				})))
				mux.Handle("/token", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if _, err := app.Token(r.Context(), identityweb.AsUser, []string{"todo.read"}, identityweb.WithResource(oidcprovidertest.ResourceTodo)); err != nil {
						app.Challenge(w, r, err)
						return
					}
					fmt.Fprint(w, "token")
				})))
				hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Handler(mux)}}
				hs.Start()
				t.Cleanup(hs.Close)
				nodes = append(nodes, &logoutNode{app: app, l1: l1, url: urls[i]})
			}

			// One provider session (one provider browser) signs the user in
			// to each instance, in three browser sessions.
			pb := op.NewBrowser()
			var jars []*http.Client
			for i, n := range nodes {
				jar, _ := cookiejar.New(nil)
				c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				jars = append(jars, c)
				if code, body := visitSigningIn(t, c, pb, n.url+"/me"); code != 200 || !strings.HasPrefix(body, "hello Alice") {
					t.Fatalf("sign-in at instance %d: %d %q", i, code, body)
				}
			}
			sid := <-sids
			for range 2 {
				if other := <-sids; other != sid {
					t.Fatalf("the sign-ins went through different provider sessions (%q, %q)", sid, other)
				}
			}
			if sid == "" {
				t.Fatal("oidc-provider's ID tokens carry no sid")
			}
			for i, c := range jars {
				for j, n := range nodes {
					if code, body := get(t, c, n.url+"/me"); code != 200 {
						t.Fatalf("browser %d at instance %d before the logout: %d %q", i, j, code, body)
					}
					if code, body := get(t, c, n.url+"/token"); code != 200 {
						t.Fatalf("browser %d's token at instance %d: %d %q", i, j, code, body)
					}
				}
			}
			partitions := identityweb.IndexedForTest(nodes[1].app, op.Issuer(), sid)
			if len(partitions) != 3 {
				t.Fatalf("the provider session indexes %d app sessions, want 3", len(partitions))
			}
			var keys []string
			for _, p := range partitions {
				keys = append(keys, identityweb.TokenKeysForTest(nodes[2].app, p)...)
			}
			for _, k := range keys {
				if _, ok, _ := l2.Get(context.Background(), k); !ok {
					t.Fatalf("a token is not in L2 before the logout")
				}
			}

			// Each browser's signed-in cookies, replayed as they are after
			// the logout: a refusal must come from each instance itself
			// (the first refusal deletes the browser's cookie, and a gorilla
			// cookie is the whole session).
			var signedIn [][]*http.Cookie
			for _, c := range jars {
				u, _ := url.Parse(nodes[0].url)
				signedIn = append(signedIn, c.Jar.Cookies(u))
			}
			replay := func(i int, n *logoutNode) *http.Response {
				req, _ := http.NewRequest(http.MethodGet, n.url+"/me", nil)
				for _, k := range signedIn[i] {
					req.AddCookie(k)
				}
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}

			// The provider's end-session endpoint, confirmed as a person
			// would; oidc-provider posts the logout token to instance 0.
			start := time.Now()
			if _, err := pb.SignOut(op.Metadata().EndSessionEndpoint); err != nil {
				t.Fatal(err)
			}
			delivered := time.Since(start)
			for {
				served := 0
				for i := range jars {
					for _, n := range nodes {
						if replay(i, n).StatusCode == 200 {
							served++
						}
					}
				}
				held := 0
				for _, k := range keys {
					if _, ok, _ := l2.Get(context.Background(), k); ok {
						held++
					}
					for _, n := range nodes {
						if _, ok := n.l1.Lookup(k); ok {
							held++
						}
					}
				}
				if served == 0 && held == 0 {
					break
				}
				if time.Since(start) > logoutBound {
					t.Fatalf("%v after the provider logout: %d of 9 browser×instance pairs still served, %d token copies held", logoutBound, served, held)
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%s: the provider logout reached all 3 instances (9 browser×instance pairs sent to sign-in, %d token entries gone from every L1 and L2) %v after the end-session request (logout token delivered and acknowledged within %v)",
				kind, len(keys), time.Since(start).Round(time.Millisecond), delivered.Round(time.Millisecond))
			// Sent to the provider, not served, on every instance.
			for i := range jars {
				for _, n := range nodes {
					resp := replay(i, n)
					if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, op.Issuer()) {
						t.Fatalf("after the logout: %d to %q, want a redirect to sign in", resp.StatusCode, loc)
					}
				}
			}
			redistest.CheckTTLs(t, srv.Addr)
		})
	}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// visitSigningIn opens u with c, follows the app's redirects and signs in
// at oidc-provider (consenting) when sent there.
func visitSigningIn(t *testing.T, c *http.Client, pb *oidcprovidertest.Browser, u string) (int, string) {
	t.Helper()
	for range 10 {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return resp.StatusCode, string(body)
		}
		if loc.Query().Get("client_id") != "" && (loc.Query().Get("code_challenge") != "" || loc.Query().Get("request_uri") != "") { // the authorize endpoint (PAR: request_uri)
			back, err := pb.SignIn(loc.String(), oidcprovidertest.Alice, true)
			if err != nil {
				t.Fatal(err)
			}
			loc = back
		}
		u = loc.String()
	}
	t.Fatal("too many redirects")
	return 0, ""
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
