package load

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/session"
)

// WebAppLogout drives the web app's signed-in users while the provider's
// back-channel logouts arrive for some of them (see logoutTarget).
const WebAppLogout = "webapp-logout"

// How long a logout may take to reach every instance: while Redis is up
// (the invalidation's pub/sub delivery), and after Redis came back from an
// outage during which logouts were kept (the cache's circuit pause, the
// logout retries, then the invalidations).
const (
	PropagationGrace = 500 * time.Millisecond
	RecoveryGrace    = 2 * time.Second
)

// loggedOut is a user whose logout token was sent.
type loggedOut struct {
	ack        time.Time // when the 200 came back (zero: in flight)
	whileDown  bool      // Redis was down when it was sent
	violations atomic.Int64
}

// logoutTarget builds three instances of the web app sharing Redis (tokens,
// session records and indexes in the encrypted L2; sessions in gorilla
// cookies) behind a round-robin balancer, signs s.Users users in, and
// returns a target whose every request presents the user's signed-in
// cookie as it was at sign-in — as a stolen or replayed cookie would, so a
// refusal must come from the instance itself. During the run, one user in
// four receives a back-channel logout (a token the provider signs, posted
// to the balancer: any instance), spread over the run: before Redis is
// killed, while it is down, and after it is back.
//
// A signed-out user's page served (200) is a failure once the logout had
// time to propagate: PropagationGrace after its acknowledgement with Redis
// up, RecoveryGrace after Redis came back for a logout that arrived during
// or just before the outage. While Redis is down, instances keep serving
// from their L1 what they cannot know has ended: availability first, as
// for tokens. After the run, every signed-out user's cookie is replayed to
// every instance until all refuse it (Env.Verify): the time from Redis's
// return is reported, and over RecoveryGrace fails the run.
func logoutTarget(tb testing.TB, s Scenario, env *Env, redisAddr string) target {
	cfg := iwt.DefaultConfig()
	users := make([]string, s.Users)
	for i := range users {
		users[i] = fmt.Sprintf("user%04d@%s", i, iwt.DefaultTenantDomain)
		cfg.Tenants[0].Users = append(cfg.Tenants[0].Users, iwt.User{
			ObjectID: fmt.Sprintf("66666666-%04d-4000-8000-000000000000", i), Username: users[i], Name: fmt.Sprintf("User %d", i)})
	}
	idp := iwt.NewServer(tb, iwt.Options{Config: cfg, Now: env.Clock.Now, AccessTokenLifetime: time.Hour})
	env.IdP = idp
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(tb, redisAddr, ring, env.Clock)
	shared := sessions.NewCookieStore(randomKey(), randomKey())
	var handlers []http.Handler
	for i := 0; i < s.Instances; i++ {
		gs, err := session.NewGorilla(shared, session.GorillaOptions{InsecureAllowHTTPCookies: true})
		if err != nil {
			tb.Fatal(err)
		}
		app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
			ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
			identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Clock: env.Clock, Logger: quiet,
				Cache: instanceCache(tb, l2, env.Clock)}, Sessions: gs, InsecureAllowHTTPCookies: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { app.Close() })
		handlers = append(handlers, app.Handler(app.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			acct, _ := identityweb.AccountFromContext(r.Context())
			io.WriteString(w, "page of "+acct.Name)
		}))))
	}
	var nodes []*httptest.Server
	for _, h := range handlers {
		n := httptest.NewServer(h)
		tb.Cleanup(n.Close)
		nodes = append(nodes, n)
	}
	lb := httptest.NewServer(roundRobin(handlers))
	tb.Cleanup(lb.Close)
	transport := idp.Client().Transport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = s.Workers * 2
	tb.Cleanup(transport.CloseIdleConnections)

	// Sign every user in, and keep the session cookie they got.
	cookies := make([]string, s.Users)
	for i, u := range users {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: transport, Timeout: 30 * time.Second}
		idp.SetAutoSignIn(u)
		resp, err := c.Get(lb.URL + "/")
		if err != nil {
			tb.Fatalf("%s: signing %s in: %v", s.Name, u, err)
		}
		resp.Body.Close()
		lbURL, _ := url.Parse(lb.URL)
		for _, k := range jar.Cookies(lbURL) {
			if k.Name == "idw_session" {
				cookies[i] = k.Name + "=" + k.Value
			}
		}
		if resp.StatusCode != 200 || cookies[i] == "" {
			tb.Fatalf("%s: %s is not signed in after warm-up: %d", s.Name, u, resp.StatusCode)
		}
	}
	idp.SetAutoSignIn("")

	page := func(base string, user int) (int, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Header.Set("Cookie", cookies[user])
		resp, err := transport.RoundTrip(req)
		if err != nil {
			return 0, nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, b, nil
	}
	var mu sync.Mutex
	out := map[int]*loggedOut{}
	signedOut := func(user int) *loggedOut {
		mu.Lock()
		defer mu.Unlock()
		return out[user]
	}
	// deadline is when a served page of lo becomes a failure (zero: not yet).
	deadline := func(lo *loggedOut) time.Time {
		mu.Lock()
		ack, whileDown := lo.ack, lo.whileDown
		mu.Unlock()
		if ack.IsZero() {
			return time.Time{}
		}
		back := env.redisBack.Load()
		if !whileDown && (back == 0 || ack.After(time.Unix(0, back).Add(RecoveryGrace))) {
			return ack.Add(PropagationGrace)
		}
		if back == 0 || env.redisDown.Load() {
			return time.Time{}
		}
		return time.Unix(0, back).Add(RecoveryGrace)
	}

	// The logouts, one user in four, spread over the run.
	var once sync.Once
	logoutCount := max(1, s.Users/4)
	logoutsDone := make(chan struct{})
	startLogouts := func() {
		go func() {
			defer close(logoutsDone)
			step := s.Duration / time.Duration(logoutCount+2)
			for k := 0; k < logoutCount; k++ {
				time.Sleep(step)
				lo := &loggedOut{}
				mu.Lock()
				out[k] = lo // from now on the user may be refused
				mu.Unlock()
				down := env.redisDown.Load()
				tok, err := idp.BackchannelLogoutToken(iwt.WebAppClientID, users[k], "")
				if err != nil {
					env.noteFailure("minting a logout token: " + err.Error())
					continue
				}
				resp, err := http.PostForm(lb.URL+"/backchannel-logout", url.Values{"logout_token": {tok}})
				if err != nil || resp.StatusCode != 200 {
					env.noteFailure(fmt.Sprintf("the logout of user %d was refused: %v %v", k, err, resp))
					continue
				}
				resp.Body.Close()
				mu.Lock()
				lo.ack, lo.whileDown = time.Now(), down || env.redisDown.Load()
				mu.Unlock()
			}
		}()
	}

	env.Verify = func() (string, error) {
		once.Do(startLogouts)
		<-logoutsDone
		mu.Lock()
		n, duringOutage := len(out), 0
		for _, lo := range out {
			if lo.whileDown {
				duringOutage++
			}
		}
		mu.Unlock()
		if f := env.failure(); f != "" {
			return "", fmt.Errorf("%s", f)
		}
		if n < logoutCount || duringOutage == 0 {
			return "", fmt.Errorf("%d of %d logouts were sent, %d while Redis was down (want at least one)", n, logoutCount, duringOutage)
		}
		var violations int64
		for _, lo := range out {
			violations += lo.violations.Load()
		}
		if violations > 0 {
			return "", fmt.Errorf("%d pages of signed-out users served after the logout had propagated", violations)
		}
		start := time.Now()
		for {
			served := 0
			for user := range out {
				for _, node := range nodes {
					if code, _, err := page(node.URL, user); err != nil || code == 200 {
						served++
					}
				}
			}
			back := time.Duration(0)
			if b := env.redisBack.Load(); b != 0 {
				back = time.Since(time.Unix(0, b))
			}
			if served == 0 {
				return fmt.Sprintf("logouts=%d (%d while Redis was down) refused by all %d instances at the latest %v after Redis came back",
					n, duringOutage, len(nodes), back.Round(time.Millisecond)), nil
			}
			if time.Since(start) > 10*time.Second || back > RecoveryGrace {
				return "", fmt.Errorf("%d instance×user pairs still serve signed-out users %v after Redis came back", served, back.Round(time.Millisecond))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	return func(user int) (time.Duration, error) {
		once.Do(startLogouts)
		start := time.Now()
		code, body, err := page(lb.URL, user)
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		if lo := signedOut(user); lo != nil {
			if code == 200 {
				if dl := deadline(lo); !dl.IsZero() && start.After(dl) && !env.redisDown.Load() {
					lo.violations.Add(1)
					return d, fmt.Errorf("user %d's page served %v after the logout was acknowledged", user, start.Sub(lo.ack).Round(time.Millisecond))
				}
				return d, nil // still propagating, or Redis is down: availability first
			}
			if code != http.StatusFound {
				return d, statusError(code, body)
			}
			return d, nil
		}
		if code != 200 || !strings.HasPrefix(string(body), "page of User ") {
			return d, statusError(code, body)
		}
		return d, nil
	}
}
