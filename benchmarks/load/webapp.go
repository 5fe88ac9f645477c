package load

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/session"
)

var todoScope = iwt.WebAPIIdentifierURI + "/access_as_user"

// webAppFleet is the web app of samples/webapp in miniature, on several
// instances: "/" is a page for signed-in users, "/todos" a page that calls
// the Todo API as the user. Its provider knows its users and shares
// env.Clock with the apps (access tokens live an hour; a scenario advances
// the clock to make every one expire), and revokes a refresh-token family
// on reuse, so that a refresh token spent twice shows in
// RefreshTokenReuses.
type webAppFleet struct {
	idp       *iwt.Server
	users     []string
	lb        *httptest.Server   // round robin over the instances
	nodes     []*httptest.Server // each instance on its own
	transport *http.Transport    // trusts the provider; for browsers
}

// fleetCaches gives each instance its token cache (nil: the default
// in-memory cache of each instance).
type fleetCaches func() cachestore.Store

// sharedCaches is fleetCaches for instances sharing the encrypted Redis
// level at addr, each with its own L1.
func sharedCaches(tb testing.TB, addr string, clock cachestore.Clock) fleetCaches {
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(tb, addr, ring, clock)
	return func() cachestore.Store { return instanceCache(tb, l2, clock) }
}

// newWebAppFleet signs up users distinct users at a new provider (env.IdP)
// and starts instances of the web app behind a round-robin balancer. With
// caches set, instances share tokens through it and the signed-in state
// through gorilla cookie sessions; without, each keeps its own (one
// instance only).
func newWebAppFleet(tb testing.TB, env *Env, name string, instances, users, workers int, caches fleetCaches) *webAppFleet {
	if instances > 1 && caches == nil {
		tb.Fatalf("%s: instances share tokens through Redis: set UseRedis", name)
	}
	f := &webAppFleet{}
	cfg := iwt.DefaultConfig()
	for i := 0; i < users; i++ {
		f.users = append(f.users, fmt.Sprintf("user%04d@%s", i, iwt.DefaultTenantDomain))
		cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, iwt.User{
			ObjectID: fmt.Sprintf("55555555-%04d-4000-8000-000000000000", i), Username: f.users[i], Name: fmt.Sprintf("User %d", i)})
	}
	f.idp = iwt.NewServer(tb, iwt.Options{Config: cfg, Now: env.Clock.Now, AccessTokenLifetime: time.Hour,
		RevokeRefreshTokenFamilyOnReuse: true})
	env.IdP = f.idp
	apiURL := todoAPI(tb, f.idp, env.Clock)

	var shared sessions.Store
	if caches != nil {
		shared = sessions.NewCookieStore(randomKey(), randomKey())
	}
	var handlers []http.Handler
	for i := 0; i < instances; i++ {
		opts := identityweb.AppOptions{Options: identityweb.Options{HTTPClient: f.idp.Client(), Clock: env.Clock, Logger: quiet}, InsecureAllowHTTPCookies: true}
		if caches != nil {
			opts.Cache = caches()
			var err error
			if opts.Sessions, err = session.NewGorilla(shared, session.GorillaOptions{InsecureAllowHTTPCookies: true}); err != nil {
				tb.Fatal(err)
			}
		}
		h, err := webAppInstance(tb, f.idp, apiURL, opts)
		if err != nil {
			tb.Fatal(err)
		}
		handlers = append(handlers, h)
		n := httptest.NewServer(h)
		tb.Cleanup(n.Close)
		f.nodes = append(f.nodes, n)
	}
	f.lb = httptest.NewServer(roundRobin(handlers))
	tb.Cleanup(f.lb.Close)
	f.transport = f.idp.Client().Transport.(*http.Transport).Clone()
	f.transport.MaxIdleConnsPerHost = workers * 2
	tb.Cleanup(f.transport.CloseIdleConnections)
	return f
}

// todoAPI starts the Todo API: it validates the user's bearer token.
func todoAPI(tb testing.TB, idp *iwt.Server, clock *iwt.Clock) string {
	api, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Clock: clock, Logger: quiet}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { api.Close() })
	srv := httptest.NewServer(api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		io.WriteString(w, "todos of "+c.Name)
	})))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// webAppInstance is one instance of the web app.
func webAppInstance(tb testing.TB, idp *iwt.Server, apiURL string, opts identityweb.AppOptions) (http.Handler, error) {
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret, Scopes: []string{todoScope}}, opts)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { app.Close() })
	todo, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: apiURL, Scopes: []string{todoScope}})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, _ := identityweb.AccountFromContext(r.Context())
		io.WriteString(w, "page of "+acct.Name)
	})))
	mux.Handle("/todos", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, apiURL+"/", nil)
		resp, err := todo.Do(req)
		if err != nil {
			app.Challenge(w, r, err)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})))
	return app.Handler(mux), nil
}

// signIn signs user in through the balancer (following the redirects
// through the provider) and returns the browser's cookie jar and its
// session cookie as a Cookie header.
func (f *webAppFleet) signIn(tb testing.TB, name string, user int) (*cookiejar.Jar, string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: f.transport, Timeout: 30 * time.Second}
	f.idp.SetAutoSignIn(f.users[user])
	defer f.idp.SetAutoSignIn("")
	resp, err := c.Get(f.lb.URL + "/todos")
	if err != nil {
		tb.Fatalf("%s: signing %s in: %v", name, f.users[user], err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lbURL, _ := url.Parse(f.lb.URL)
	var cookie string
	for _, k := range jar.Cookies(lbURL) {
		if k.Name == "idw_session" {
			cookie = k.Name + "=" + k.Value
		}
	}
	if resp.StatusCode != http.StatusOK || cookie == "" || !strings.HasPrefix(string(b), "todos of User ") {
		tb.Fatalf("%s: %s is not signed in after warm-up: %v", name, f.users[user], statusError(resp.StatusCode, b))
	}
	return jar, cookie
}

// get requests path on base (the balancer or one instance) with cookie,
// following no redirect.
func (f *webAppFleet) get(base, path, cookie string) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Cookie", cookie)
	resp, err := f.transport.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, b, nil
}

// webAppTarget drives the fleet's "/todos" with one browser per signed-in
// user (its cookie jar); during the run a redirect (a lost sign-in) is an
// error. With Redis, instances share tokens through the encrypted Redis
// level at redisAddr.
func webAppTarget(tb testing.TB, s Scenario, env *Env, redisAddr string) target {
	var caches fleetCaches
	if s.UseRedis {
		caches = sharedCaches(tb, redisAddr, env.Clock)
	}
	f := newWebAppFleet(tb, env, s.Name, s.Instances, s.Users, s.Workers, caches)
	browsers := make([]*http.Client, s.Users)
	t := target(func(user int) (time.Duration, error) {
		start := time.Now()
		resp, err := browsers[user].Get(f.lb.URL + "/todos")
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "todos of User ") {
			return d, statusError(resp.StatusCode, b)
		}
		return d, nil
	})
	for i := range f.users {
		jar, _ := f.signIn(tb, s.Name, i)
		browsers[i] = &http.Client{Jar: jar, Transport: f.transport, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if _, err := t(i); err != nil {
			tb.Fatalf("%s: %s is not signed in after warm-up: %v", s.Name, f.users[i], err)
		}
	}
	return t
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}
