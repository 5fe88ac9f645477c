package load

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// TestRefreshAcrossFailover isolates what the failover scenarios need from
// the refresh lock: three web-app instances on one Sentinel deployment,
// every user's tokens in every instance's L1, then every access token
// expires and each user's page is requested from the three instances at
// once. With the master up, the distributed lock makes the three share one
// refresh (the control round). With the master just killed, each refresh
// token must still be spent once: the provider revokes the family on reuse,
// which signs the user out everywhere.
func TestRefreshAcrossFailover(t *testing.T) {
	const users, instances = 4, 3
	r := sentinelRedis(t)
	env := &Env{Clock: iwt.NewClock(time.Now()), Redis: r}
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	f := newWebAppFleet(t, env, t.Name(), instances, users, 4, r.caches(t, ring, env.Clock))
	cookies := make([]string, users)
	for i := range cookies {
		_, cookies[i] = f.signIn(t, t.Name(), i)
		for _, n := range f.nodes { // the user's tokens in every instance's L1
			if code, body, err := f.get(n.URL, "/todos", cookies[i]); err != nil || code != http.StatusOK {
				t.Fatalf("warm-up: %v %v", err, statusError(code, body))
			}
		}
	}
	// round makes every access token expire, kills the master when asked,
	// and requests each user's page from every instance at once.
	var deferred atomic.Int64 // 503s (retry later) while the deployment fails over
	round := func(kill bool) (failed []string) {
		env.Clock.Advance(2 * time.Hour)
		if kill {
			r.Kill()
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range cookies {
			for j, n := range f.nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body, err := f.get(n.URL, "/todos", cookies[i])
					if kill && err == nil && code == http.StatusServiceUnavailable {
						// The shared cache could not lock or read the refresh
						// yet: "retry later", the refresh token not spent.
						deferred.Add(1)
						return
					}
					if err != nil || code != http.StatusOK || !strings.HasPrefix(string(body), "todos of User ") {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("user %d on instance %d: %v %v", i, j, err, statusError(code, body)))
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		return failed
	}

	f.idp.ResetRequests()
	if failed := round(false); len(failed) > 0 || f.idp.RefreshTokenReuses() > 0 {
		t.Fatalf("master up: %d refresh tokens spent twice; %d failed requests %q", f.idp.RefreshTokenReuses(), len(failed), failed)
	}
	t.Logf("master up: %d users refreshed on %d instances at once, %d provider requests, no refresh token spent twice",
		users, instances, len(f.idp.Requests()))

	failed := round(true)
	reuses := f.idp.RefreshTokenReuses()
	if err := r.Restart(); err != nil { // the deployment settles before cleanup
		t.Log(err)
	}
	t.Logf("master killed: %d refresh tokens spent twice, %d failed requests, %d answered retry-later", reuses, len(failed), deferred.Load())
	if reuses > 0 || len(failed) > 0 {
		t.Errorf("master killed: %d refresh tokens spent twice (of %d users on %d instances); %d failed requests, first: %q",
			reuses, users, instances, len(failed), append(failed, "")[0])
	}
}
