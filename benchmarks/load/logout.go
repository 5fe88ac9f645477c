package load

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// WebAppLogout drives the web app's signed-in users while the provider's
// back-channel logouts arrive for some of them (see logoutTarget).
const WebAppLogout = "webapp-logout"

// How long a logout may take to reach every instance: while Redis is up
// (the invalidation's pub/sub delivery), and after Redis came back from an
// outage — a restart, or a failover to a replica — during which logouts
// were kept (the cache's circuit pause, the logout retries, then the
// invalidations).
const (
	PropagationGrace = 500 * time.Millisecond
	RecoveryGrace    = 2 * time.Second
	// FailoverGrace is RecoveryGrace after a Sentinel or Cluster failover,
	// counted from the first write the promoted master took: an instance
	// whose circuit opened waits out its pause (CircuitBreak, 2 s) before it
	// delivers the deletes it kept, and every instance's subscription
	// follows the new master before the invalidations reach it. Measured:
	// all refused 1.4–1.7 s after the writes resumed; over 2 s once under
	// -race with the whole suite running beside it.
	FailoverGrace = 5 * time.Second
)

// logoutTarget builds three instances of the web app sharing Redis (tokens,
// session records and indexes in the encrypted L2; sessions in gorilla
// cookies) behind a round-robin balancer, signs s.Users users in, and
// returns a target whose every request presents the user's signed-in
// cookie as it was at sign-in — as a stolen or replayed cookie would, so a
// refusal must come from the instance itself. During the run, one user in
// four receives a back-channel logout, spread over the run: before Redis is
// killed, while it is down, and after it is back (see signOuts for what is
// judged, during the run and after it).
func logoutTarget(tb testing.TB, s Scenario, env *Env, redisAddr string) target {
	f := newWebAppFleet(tb, env, s.Name, s.Instances, s.Users, s.Workers, sharedCaches(tb, redisAddr, env.Clock))
	cookies := make([]string, s.Users)
	for i := range cookies {
		_, cookies[i] = f.signIn(tb, s.Name, i)
	}
	so := newSignOuts(env, f, cookies, spread(max(1, s.Users/4), s.Duration), RecoveryGrace)
	env.Verify = so.verify
	return func(user int) (time.Duration, error) {
		so.start()
		start := time.Now()
		code, body, err := f.get(f.lb.URL, "/", cookies[user])
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		return d, so.judge(user, start, code, body, "page of User ")
	}
}

// signOuts sends back-channel logouts to the fleet for its first users (a
// token the provider signs, posted to the balancer: any instance), user k's
// at[k] after the run's first call, and judges what the fleet serves them
// with their sign-in cookie replayed as is.
//
// A signed-out user's page served (200) is a failure once the logout had
// time to propagate: PropagationGrace after its acknowledgement with Redis
// up, grace (RecoveryGrace, FailoverGrace) after Redis came back for a
// logout that arrived during or just before the outage. While Redis is
// down, instances keep serving from their L1 what they cannot know has
// ended: availability first, as for tokens. After the run (verify), every
// signed-out user's cookie is replayed to every instance until all refuse
// it: the time from Redis's return is reported, and over grace fails the
// run.
type signOuts struct {
	env     *Env
	f       *webAppFleet
	cookies []string
	at      []time.Duration
	grace   time.Duration

	mu   sync.Mutex
	out  map[int]*loggedOut
	once sync.Once
	done chan struct{}
}

// loggedOut is a user whose logout token was sent.
type loggedOut struct {
	ack        time.Time // when the 200 came back (zero: in flight)
	whileDown  bool      // Redis was down when it was sent
	violations atomic.Int64
}

func newSignOuts(env *Env, f *webAppFleet, cookies []string, at []time.Duration, grace time.Duration) *signOuts {
	return &signOuts{env: env, f: f, cookies: cookies, at: at, grace: grace, out: map[int]*loggedOut{}, done: make(chan struct{})}
}

// spread is n logouts evenly spread over a run of d.
func spread(n int, d time.Duration) []time.Duration {
	at := make([]time.Duration, n)
	for k := range at {
		at[k] = time.Duration(k+1) * d / time.Duration(n+2)
	}
	return at
}

// start sends the logouts in the background, once.
func (so *signOuts) start() { so.once.Do(func() { go so.send() }) }

func (so *signOuts) send() {
	defer close(so.done)
	begin := time.Now()
	for k, at := range so.at {
		time.Sleep(time.Until(begin.Add(at)))
		so.logout(k)
	}
}

// logout sends user k's logout token. It holds the run's clock still (a
// token minted before a jump of the clock and checked after it would have
// expired on the way).
func (so *signOuts) logout(k int) {
	so.env.calls.RLock()
	defer so.env.calls.RUnlock()
	lo := &loggedOut{}
	so.mu.Lock()
	so.out[k] = lo // from now on the user may be refused
	so.mu.Unlock()
	down := so.env.redisDown.Load()
	tok, err := so.f.idp.BackchannelLogoutToken(iwt.WebAppClientID, so.f.users[k], "")
	if err != nil {
		so.env.noteFailure("minting a logout token: " + err.Error())
		return
	}
	resp, err := http.PostForm(so.f.lb.URL+"/backchannel-logout", url.Values{"logout_token": {tok}})
	if err != nil {
		so.env.noteFailure(fmt.Sprintf("the logout of user %d was refused: %v", k, err))
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		so.env.noteFailure(fmt.Sprintf("the logout of user %d was refused: %s", k, resp.Status))
		return
	}
	so.mu.Lock()
	lo.ack, lo.whileDown = time.Now(), down || so.env.redisDown.Load()
	so.mu.Unlock()
}

func (so *signOuts) signedOut(user int) *loggedOut {
	so.mu.Lock()
	defer so.mu.Unlock()
	return so.out[user]
}

// deadline is when a served page of lo becomes a failure (zero: not yet).
func (so *signOuts) deadline(lo *loggedOut) time.Time {
	so.mu.Lock()
	ack, whileDown := lo.ack, lo.whileDown
	so.mu.Unlock()
	if ack.IsZero() {
		return time.Time{}
	}
	back := so.env.redisBack.Load()
	if !whileDown && (back == 0 || ack.After(time.Unix(0, back).Add(so.grace))) {
		return ack.Add(PropagationGrace)
	}
	if back == 0 || so.env.redisDown.Load() {
		return time.Time{}
	}
	return time.Unix(0, back).Add(so.grace)
}

// judge checks the answer to a request of user started at start: a
// signed-in user's page starts with want; a signed-out user is sent to
// sign in (302), told to retry later (503: an instance that holds the
// session's record but, its circuit to Redis still open, cannot read the
// account the logout removed), or served while the logout may still be
// propagating.
func (so *signOuts) judge(user int, start time.Time, code int, body []byte, want string) error {
	if lo := so.signedOut(user); lo != nil {
		if code == http.StatusOK {
			if dl := so.deadline(lo); !dl.IsZero() && start.After(dl) && !so.env.redisDown.Load() {
				lo.violations.Add(1)
				return fmt.Errorf("user %d's page served %v after the logout was acknowledged", user, start.Sub(lo.ack).Round(time.Millisecond))
			}
			return nil // still propagating, or Redis is down: availability first
		}
		if code == http.StatusServiceUnavailable && strings.Contains(string(body), "temporarily unavailable") {
			return nil // refused for now
		}
		if code != http.StatusFound {
			return fmt.Errorf("signed-out user %d: %w", user, statusError(code, body))
		}
		return nil
	}
	if code != http.StatusOK || !strings.HasPrefix(string(body), want) {
		return fmt.Errorf("signed-in user %d: %w", user, statusError(code, body))
	}
	return nil
}

// verify waits for the logouts, then replays every signed-out user's
// cookie to every instance until all refuse it.
func (so *signOuts) verify() (string, error) {
	so.start()
	<-so.done
	so.mu.Lock()
	n, duringOutage := len(so.out), 0
	var violations int64
	for _, lo := range so.out {
		if lo.whileDown {
			duringOutage++
		}
		violations += lo.violations.Load()
	}
	so.mu.Unlock()
	if f := so.env.failure(); f != "" {
		return "", fmt.Errorf("%s", f)
	}
	if n < len(so.at) || duringOutage == 0 {
		return "", fmt.Errorf("%d of %d logouts were sent, %d while Redis was down (want at least one)", n, len(so.at), duringOutage)
	}
	if violations > 0 {
		return "", fmt.Errorf("%d pages of signed-out users served after the logout had propagated", violations)
	}
	start := time.Now()
	for {
		served := 0
		for user := range so.out {
			for _, node := range so.f.nodes {
				if code, _, err := so.f.get(node.URL, "/", so.cookies[user]); err != nil || code == http.StatusOK {
					served++
				}
			}
		}
		back := time.Duration(0)
		if b := so.env.redisBack.Load(); b != 0 {
			back = time.Since(time.Unix(0, b))
		}
		if served == 0 {
			return fmt.Sprintf("logouts=%d (%d while Redis was down) held: none served past its grace during the run, all refused by the %d instances when checked, %v after Redis came back",
				n, duringOutage, len(so.f.nodes), back.Round(time.Millisecond)), nil
		}
		if time.Since(start) > 10*time.Second || back > so.grace {
			return "", fmt.Errorf("%d instance×user pairs still serve signed-out users %v after Redis came back", served, back.Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
