// Package load drives apps protected by identityweb with many users for a
// fixed time while a scenario breaks something — the identity provider,
// Redis, the certificate, the clock — and reports throughput, latency
// percentiles, identity-provider requests per 1,000 calls and errors, with
// a pass/fail verdict per scenario. Two apps are driven, both in the shape
// of the samples: a web API that validates bearer tokens and calls a
// downstream API on behalf of each caller (samples/webapi), and a web app
// whose signed-in users' pages call a downstream API as the user
// (samples/webapp), on one instance or several sharing Redis behind a
// round-robin balancer. Everything runs on loopback and stops by itself.
package load

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// The apps a scenario can drive.
const (
	WebAPI = "webapi" // bearer tokens in, OBO out (the default)
	WebApp = "webapp" // signed-in users, tokens for the user
)

// Scenario is one run.
type Scenario struct {
	Name      string
	App       string        // WebAPI (default) or WebApp
	Instances int           // app instances behind a round-robin balancer (default 1)
	Users     int           // callers warmed up before the run (their tokens cached)
	ColdUsers int           // callers that first appear during the run (WebAPI only)
	Workers   int           // concurrent clients
	Burst     int           // concurrent requests per call of one user (a page's parallel fetches; default 1)
	Duration  time.Duration // of the measured run
	UseRedis  bool          // L1/L2 cache on a private Redis, shared by the instances
	// RedisPersistent runs that Redis with an append-only file, so that a
	// kill and restart is an outage, not a flush (WebAppLogout).
	RedisPersistent bool
	Break           func(e *Env) // at Duration/3
	Repair          func(e *Env) // at 2×Duration/3, when set
	MaxErrors       int64        // failed calls tolerated
	MaxPer1000      float64      // identity-provider requests per 1,000 calls tolerated
	// MaxIdPRequests bounds identity-provider requests in all (0: no bound
	// beyond MaxPer1000).
	MaxIdPRequests int
}

// Env is what a scenario can break.
type Env struct {
	calls     sync.RWMutex // held shared by every call in flight
	IdP       *iwt.Server
	Clock     *iwt.Clock   // the provider's and the apps' clock (token lifetimes)
	Redis     RedisControl // nil without Redis
	OldCert   *iwt.Certificate
	NewCert   *iwt.Certificate
	WriteCert func(*iwt.Certificate)
	// Verify, when a target sets it, judges what the calls alone cannot,
	// after the run: a note for the report, or why the run fails.
	Verify func() (string, error)

	redisDown atomic.Bool  // between Break's KillRedis and Repair's RestartRedis
	redisBack atomic.Int64 // when Redis came back (Unix ns), 0 before
	failMu    sync.Mutex
	failed    string
}

// KillRedis kills the run's Redis, noting that it is down.
func (e *Env) KillRedis() {
	e.redisDown.Store(true)
	e.Redis.Kill()
}

// RestartRedis restarts it and notes when it came back.
func (e *Env) RestartRedis() {
	e.Redis.Restart()
	e.redisBack.Store(time.Now().UnixNano())
	e.redisDown.Store(false)
}

func (e *Env) noteFailure(s string) {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	if e.failed == "" {
		e.failed = s
	}
}

func (e *Env) failure() string {
	e.failMu.Lock()
	defer e.failMu.Unlock()
	return e.failed
}

// Between runs f while no call is in flight. A jump of Clock goes through
// it: a real clock moves continuously, so no request straddles an hour
// (the engine's expiry buffer covers the seconds a request takes).
func (e *Env) Between(f func()) {
	e.calls.Lock()
	defer e.calls.Unlock()
	f()
}

// RedisControl kills and restarts the Redis of a run.
type RedisControl interface {
	Kill()
	Restart() error
}

// Report is the outcome of a run.
type Report struct {
	Scenario    string
	Calls       int64
	Errors      int64
	Throughput  float64 // calls per second
	P50, P99    time.Duration
	IdPRequests int
	Per1000     float64
	// RefreshReuses counts refresh tokens presented to the provider more
	// than once: always a failure (each is spent once, across instances).
	RefreshReuses int
	FirstError    string // what the first failed call saw
	Note          string // what Env.Verify found
	Pass          bool
	Why           string
}

func (r Report) String() string {
	v := "PASS"
	if !r.Pass {
		v = "FAIL (" + r.Why + ")"
	}
	line := fmt.Sprintf("%-17s %s calls=%d errors=%d rps=%.0f p50=%s p99=%s idp_requests=%d per_1000_calls=%.2f refresh_reuses=%d",
		r.Scenario, v, r.Calls, r.Errors, r.Throughput, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.IdPRequests, r.Per1000, r.RefreshReuses)
	if r.Note != "" {
		line += " " + r.Note
	}
	return line
}

// target is an app under load: one request as user, its latency and what
// went wrong (nil when the app answered as expected).
type target func(user int) (time.Duration, error)

// statusError is a call answered with an unexpected status.
func statusError(code int, body []byte) error {
	if _, h1, ok := bytes.Cut(body, []byte("<h1>")); ok { // an HTML page: its heading says it
		h1, _, _ = bytes.Cut(h1, []byte("</h1>"))
		body = h1
	}
	if len(body) > 120 {
		body = body[:120]
	}
	return fmt.Errorf("status %d: %q", code, body)
}

// Run builds the scenario's app on a development provider (and a private
// Redis at redisAddr when the scenario asks), warms its users up, and
// drives it.
func Run(tb testing.TB, s Scenario, redisAddr string, redisCtl RedisControl) Report {
	tb.Helper()
	if s.Instances == 0 {
		s.Instances = 1
	}
	clk := iwt.NewClock(time.Now())
	env := &Env{Clock: clk}
	if s.UseRedis {
		env.Redis = redisCtl
	}
	var t target
	switch s.App {
	case WebApp:
		t = webAppTarget(tb, s, env, redisAddr)
	case WebAppLogout:
		t = logoutTarget(tb, s, env, redisAddr)
	default:
		t = apiTarget(tb, s, env, redisAddr)
	}
	env.IdP.ResetRequests()
	r := drive(s, env, t)
	if env.Verify != nil {
		r.judge(env.Verify())
	}
	return r
}

// judge adds a note to the report and fails it with err, when it passed
// so far (the first reason stays).
func (r *Report) judge(note string, err error) {
	if note != "" {
		if r.Note != "" {
			r.Note += "; "
		}
		r.Note += note
	}
	if err != nil && r.Pass {
		r.Pass, r.Why = false, err.Error()
	}
}

// drive runs the workers for the scenario's duration, breaks and repairs
// on time, and judges the run.
func drive(s Scenario, env *Env, t target) Report {
	ctx, cancel := context.WithTimeout(context.Background(), s.Duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs int64
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < s.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			var bad int64
			var first error
			for i := w; ctx.Err() == nil; i += s.Workers {
				user := i % s.Users
				if s.ColdUsers > 0 && time.Since(start) > s.Duration/3 && i%4 == 0 {
					user = s.Users + i%s.ColdUsers // cold users arrive after the break
				}
				for _, c := range burst(env, t, user, s.Burst) {
					mine = append(mine, c.d)
					if c.err != nil {
						bad++
						if first == nil {
							first = c.err
						}
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			if firstErr == nil {
				firstErr = first
			}
			mu.Unlock()
		}(w)
	}
	timer := func(at time.Duration, f func(*Env)) {
		if f == nil {
			return
		}
		select {
		case <-time.After(at):
			f(env)
		case <-ctx.Done():
		}
	}
	breaks := make(chan struct{})
	go func() {
		defer close(breaks)
		timer(s.Duration/3, s.Break)
		timer(s.Duration/3, s.Repair)
	}()
	wg.Wait()
	elapsed := time.Since(start)
	<-breaks // a Break that waits for a failover may outlast the run

	r := Report{Scenario: s.Name, Calls: int64(len(lat)), Errors: errs, Throughput: float64(len(lat)) / elapsed.Seconds(),
		RefreshReuses: env.IdP.RefreshTokenReuses()}
	if firstErr != nil {
		r.FirstError = firstErr.Error()
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for _, rec := range env.IdP.Requests() { // what reached the provider, or tried to
		if rec.Endpoint == "token" || (rec.Endpoint == "outage" && rec.Path != "" && filepath.Base(rec.Path) == "token") {
			r.IdPRequests++
		}
	}
	if r.Calls > 0 {
		r.Per1000 = float64(r.IdPRequests) * 1000 / float64(r.Calls)
	}
	switch {
	case r.Calls == 0:
		r.Why = "no calls"
	case r.RefreshReuses > 0: // first: a reuse revokes the family, failing the user's later calls
		r.Why = fmt.Sprintf("%d refresh tokens spent twice; %d errors", r.RefreshReuses, r.Errors)
	case r.Errors > s.MaxErrors:
		r.Why = fmt.Sprintf("%d errors > %d; first: %s", r.Errors, s.MaxErrors, r.FirstError)
	case s.MaxPer1000 > 0 && r.Per1000 > s.MaxPer1000:
		r.Why = fmt.Sprintf("%.2f identity-provider requests per 1,000 calls > %.2f", r.Per1000, s.MaxPer1000)
	case s.MaxIdPRequests > 0 && r.IdPRequests > s.MaxIdPRequests:
		r.Why = fmt.Sprintf("%d identity-provider requests > %d", r.IdPRequests, s.MaxIdPRequests)
	default:
		r.Pass = true
	}
	return r
}

type outcome struct {
	d   time.Duration
	err error
}

// burst makes n concurrent calls as user (one when n ≤ 1).
func burst(env *Env, t target, user, n int) []outcome {
	env.calls.RLock()
	defer env.calls.RUnlock()
	if n <= 1 {
		d, err := t(user)
		return []outcome{{d, err}}
	}
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for j := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[j].d, out[j].err = t(user)
		}()
	}
	wg.Wait()
	return out
}

// Scenarios returns the suite at a duration (CI: a few seconds each).
func Scenarios(d time.Duration) []Scenario {
	base := Scenario{Users: 50, Workers: 8, Duration: d}
	// Steady state: every call is served from the cache.
	steady := base
	steady.Name, steady.MaxPer1000 = "steady", 1
	// The provider unreachable for the rest of the run: no call fails.
	outage := base
	outage.Name, outage.MaxPer1000 = "idp-outage", 1
	outage.Break = func(e *Env) { e.IdP.SetOutage(true) }
	// 5xx bursts and a 429 with Retry-After while new callers arrive: warm
	// callers never fail; new ones may, but the provider sees at most two
	// requests per new caller (one retry, no retry after 429).
	faults := base
	faults.Name, faults.ColdUsers = "idp-5xx-429", 20
	faults.Break = func(e *Env) {
		e.IdP.FailNext(20, iwt.Fault{Status: 500})
		e.IdP.FailNext(5, iwt.Fault{Status: 429, RetryAfter: time.Hour})
	}
	faults.MaxErrors, faults.MaxIdPRequests = 1<<62, 2*faults.ColdUsers
	// Redis SIGKILLed then restarted: no call fails. When the subscription
	// comes back every instance clears its L1 (invalidations may have been
	// missed), so each caller costs a request again: at most two per caller
	// (a flight in progress across the clear may add one).
	redisKill := base
	redisKill.Name, redisKill.UseRedis, redisKill.MaxIdPRequests = "redis-kill", true, 2*base.Users
	redisKill.Break = func(e *Env) { e.Redis.Kill() }
	redisKill.Repair = func(e *Env) { e.Redis.Restart() }
	// The certificate rotated on disk and the old one revoked at the provider
	// while new callers arrive: no call fails.
	rotation := base
	rotation.Name, rotation.ColdUsers, rotation.MaxIdPRequests = "cert-rotation", 10, 4*10
	rotation.Break = func(e *Env) {
		e.IdP.AddCertificate(iwt.WebAPIClientID, e.NewCert)
		e.WriteCert(e.NewCert)
		e.IdP.RevokeCertificate(iwt.WebAPIClientID, e.OldCert)
	}

	// The web app: signed-in users' pages call the Todo API as the user.
	web := Scenario{App: WebApp, Users: 40, Workers: 8, Duration: d}
	webSteady := web
	webSteady.Name, webSteady.MaxPer1000 = "webapp-steady", 1
	webOutage := web
	webOutage.Name, webOutage.MaxPer1000 = "webapp-idp-outage", 1
	webOutage.Break = func(e *Env) { e.IdP.SetOutage(true) }
	// Three instances sharing Redis (sessions in the cookie, tokens in a
	// shared encrypted L2), every access token expiring mid-run while each
	// user's page sends three requests at once (round robin: one to each
	// instance): each user's refresh token is spent exactly once across the
	// instances, with the refresh-token family revoked on any reuse, and no
	// call fails.
	three := web
	three.Name, three.Instances, three.Burst, three.UseRedis, three.MaxIdPRequests = "webapp-3-instances", 3, 3, true, web.Users
	three.Break = func(e *Env) { e.Between(func() { e.Clock.Advance(2 * time.Hour) }) }
	// Back-channel logouts for one user in four, spread over the run, while
	// the 40 users are active on three instances and Redis (persistent) is
	// SIGKILLed and restarted: no call fails, and no signed-out session is
	// served once the logout had time to propagate — PropagationGrace with
	// Redis up, RecoveryGrace after it came back (see logoutTarget).
	logout := Scenario{App: WebAppLogout, Name: "webapp-logout-redis-kill", Users: 40, Workers: 8, Duration: d,
		Instances: 3, UseRedis: true, RedisPersistent: true}
	logout.Break = func(e *Env) { e.KillRedis() }
	logout.Repair = func(e *Env) { e.RestartRedis() }
	return []Scenario{steady, outage, faults, redisKill, rotation, webSteady, webOutage, three, logout}
}
