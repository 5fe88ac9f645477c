package load

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
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

// webAppTarget builds the web app of samples/webapp in miniature — a page
// for signed-in users that calls the Todo API as the user — on s.Instances
// instances behind a round-robin balancer, and signs s.Users distinct
// users in through the provider. The provider and the apps share env.Clock
// (access tokens live an hour; a scenario advances the clock to make every
// one expire) and the provider revokes a refresh-token family on reuse.
// Instances share the signed-in state through the session cookie and the
// tokens through the encrypted Redis level.
func webAppTarget(tb testing.TB, s Scenario, env *Env, redisAddr string) target {
	if s.Instances > 1 && !s.UseRedis {
		tb.Fatalf("%s: instances share tokens through Redis: set UseRedis", s.Name)
	}
	cfg := iwt.DefaultConfig()
	users := make([]string, s.Users)
	for i := range users {
		users[i] = fmt.Sprintf("user%04d@%s", i, iwt.DefaultTenantDomain)
		cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, iwt.User{
			ObjectID: fmt.Sprintf("55555555-%04d-4000-8000-000000000000", i), Username: users[i], Name: fmt.Sprintf("User %d", i)})
	}
	idp := iwt.NewServer(tb, iwt.Options{Config: cfg, Now: env.Clock.Now, AccessTokenLifetime: time.Hour,
		RevokeRefreshTokenFamilyOnReuse: true})
	env.IdP = idp

	// The Todo API: validates the user's bearer token.
	api, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Clock: env.Clock, Logger: quiet}})
	if err != nil {
		tb.Fatal(err)
	}
	apiSrv := httptest.NewServer(api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := identityweb.ClaimsFromContext(r.Context())
		io.WriteString(w, "todos of "+c.Name)
	})))
	tb.Cleanup(apiSrv.Close)

	var l2 cachestore.Store
	var shared sessions.Store
	if s.UseRedis {
		ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
		l2 = sharedL2(tb, redisAddr, ring, env.Clock)
		shared = sessions.NewCookieStore(randomKey(), randomKey())
	}
	var instances []http.Handler
	for i := 0; i < s.Instances; i++ {
		opts := identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Clock: env.Clock, Logger: quiet}, InsecureAllowHTTPCookies: true}
		if l2 != nil {
			opts.Cache = instanceCache(tb, l2, env.Clock)
			if opts.Sessions, err = session.NewGorilla(shared, session.GorillaOptions{InsecureAllowHTTPCookies: true}); err != nil {
				tb.Fatal(err)
			}
		}
		app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
			ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret, Scopes: []string{todoScope}}, opts)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { app.Close() })
		todo, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: apiSrv.URL, Scopes: []string{todoScope}})
		if err != nil {
			tb.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/todos", app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, apiSrv.URL+"/", nil)
			resp, err := todo.Do(req)
			if err != nil {
				app.Challenge(w, r, err)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		})))
		instances = append(instances, app.Handler(mux))
	}
	srv := httptest.NewServer(roundRobin(instances))
	tb.Cleanup(srv.Close)

	// One browser per user. Signing in follows redirects through the
	// provider; during the run a redirect (a lost sign-in) is an error.
	transport := idp.Client().Transport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = s.Workers * 2
	tb.Cleanup(transport.CloseIdleConnections)
	browsers := make([]*http.Client, s.Users)
	t := target(func(user int) (time.Duration, error) {
		start := time.Now()
		resp, err := browsers[user].Get(srv.URL + "/todos")
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
	for i, u := range users {
		jar, _ := cookiejar.New(nil)
		signIn := &http.Client{Jar: jar, Transport: transport, Timeout: 30 * time.Second}
		idp.SetAutoSignIn(u)
		resp, err := signIn.Get(srv.URL + "/todos")
		if err != nil {
			tb.Fatalf("%s: signing %s in: %v", s.Name, u, err)
		}
		resp.Body.Close()
		browsers[i] = &http.Client{Jar: jar, Transport: transport, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if _, err := t(i); err != nil {
			tb.Fatalf("%s: %s is not signed in after warm-up: %v", s.Name, u, err)
		}
	}
	idp.SetAutoSignIn("")
	return t
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}
