package load

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
)

// failoverTarget is the web app and the web API of a failover scenario on
// one provider and one Redis deployment. Users below s.WebUsers are
// signed-in users of the web app (s.WebInstances instances, gorilla cookie
// sessions): each request presents the user's sign-in cookie as is and
// fetches "/todos", whose handler calls the Todo API as the user, so when
// the scenario makes access tokens expire each user's refresh token is
// spent; ten of them (one in four of 40) receive a back-channel logout
// around the break (signOuts judges them, during the run and after it). The other users are
// callers of the web API (s.Instances instances, OBO). Every instance has
// its own client of the deployment and its own L1 over the shared
// encrypted L2 (one key ring, so that every invalidation opens
// everywhere). Every user and caller is warmed up on every instance, so at
// the break every token and session the run needs is in every instance's
// L1.
func failoverTarget(tb testing.TB, s ChaosScenario, env *Env, r *ChaosRedis) target {
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	web := newWebAppFleet(tb, env, s.Name, s.WebInstances, s.WebUsers, s.Workers, r.caches(tb, ring, env.Clock))
	cookies := make([]string, s.WebUsers)
	for i := range cookies {
		_, cookies[i] = web.signIn(tb, s.Name, i)
	}
	at := aroundBreak(s.Duration)
	so := newSignOuts(env, web, cookies, at[:min(len(at), s.WebUsers)], FailoverGrace)
	var webErrs, apiErrs, deferred, sessionsDeferred atomic.Int64 // during the run
	env.Verify = func() (string, error) {
		note, err := so.verify()
		return fmt.Sprintf("errors web_users=%d obo_callers=%d; refreshes_deferred=%d sessions_deferred=%d; %s", webErrs.Load(), apiErrs.Load(), deferred.Load(), sessionsDeferred.Load(), note), err
	}
	// The web API runs on the system clock: its callers' tokens and their
	// OBO tokens stay valid across the jump of the provider's clock.
	api := chaosAPI(tb, s.Scenario, web.idp, s.Users-s.WebUsers, r.caches(tb, ring, nil))

	page := func(user int) (time.Duration, error) {
		start := time.Now()
		code, body, err := web.get(web.lb.URL, "/todos", cookies[user])
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		if code == http.StatusServiceUnavailable && inFailover(env, start) {
			// The user's access token expired with the clock's jump and the
			// shared cache could not lock the refresh yet (a lock no replica
			// acknowledged): the library answers "retry later" rather than
			// spend the refresh token unlocked. Not a token in L1; counted,
			// not failed, within the failover window only.
			if bytes.Contains(body, []byte("<h1>")) { // RequireUser's page: the account could not be confirmed
				sessionsDeferred.Add(1)
			} else {
				deferred.Add(1)
			}
			return d, nil
		}
		return d, so.judge(user, start, code, body, "todos of User ")
	}
	for user := 0; user < s.Users; user++ { // warm-up, on every instance (round robin)
		call, n := page, s.WebInstances
		if user >= s.WebUsers {
			call, n = func(u int) (time.Duration, error) { return api(u - s.WebUsers) }, s.Instances
		}
		for j := 0; j < n; j++ {
			if _, err := call(user); err != nil {
				tb.Fatalf("%s: warm-up call failed: %v", s.Name, err)
			}
		}
	}
	return func(user int) (time.Duration, error) {
		call, errs := page, &webErrs
		if user >= s.WebUsers {
			user, call, errs = user-s.WebUsers, api, &apiErrs
		} else {
			so.start()
		}
		d, err := call(user)
		if err != nil {
			errs.Add(1)
		}
		return d, err
	}
}

// inFailover reports whether a request started between the kill and
// lockOutageWait (10 s, the library's bound on waiting for the refresh
// lock) after the promoted master took its first write.
func inFailover(env *Env, start time.Time) bool {
	if env.redisDown.Load() {
		return true
	}
	back := env.redisBack.Load()
	return back != 0 && start.Before(time.Unix(0, back).Add(10*time.Second))
}

// aroundBreak is when the failover scenarios sign users out, for a run of
// d whose Break (the kill) comes at d/3 and whose failover takes about 2 s
// (never under the sentinels' down-after or the cluster's node timeout,
// 1 s): three spread before the kill and one just before it, four during
// the failover, two after it.
func aroundBreak(d time.Duration) []time.Duration {
	b := d / 3
	ms := time.Millisecond
	return []time.Duration{b / 4, b / 2, 3 * b / 4, b - 150*ms,
		b + 150*ms, b + 500*ms, b + 900*ms, b + 1400*ms,
		d - time.Second, d - 500*ms}
}
