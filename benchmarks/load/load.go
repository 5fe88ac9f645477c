// Package load drives a web API protected by identityweb — it validates
// bearer tokens and calls a downstream API on behalf of each caller (OBO) —
// with many users for a fixed time while a scenario breaks something: the
// identity provider, Redis, or the certificate. It reports throughput,
// latency percentiles, identity-provider requests per 1,000 API calls and
// errors, with a pass/fail verdict per scenario. Everything runs on
// loopback and stops by itself.
package load

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-identityweb/identityweb"
	"github.com/go-identityweb/identityweb/cachestore"
	"github.com/go-identityweb/identityweb/cachestore/redisstore"
	"github.com/go-identityweb/identityweb/certsource"
	iwt "github.com/go-identityweb/identityweb/identitywebtest"
)

// Scenario is one run.
type Scenario struct {
	Name       string
	Users      int           // callers warmed up before the run (their tokens cached)
	ColdUsers  int           // callers that first appear during the run (cache misses)
	Workers    int           // concurrent clients
	Duration   time.Duration // of the measured run
	UseRedis   bool          // L1/L2 cache on a private Redis
	Break      func(e *Env)  // at Duration/3
	Repair     func(e *Env)  // at 2×Duration/3, when set
	MaxErrors  int64         // failed calls tolerated
	MaxPer1000 float64       // identity-provider requests per 1,000 calls tolerated
	// MaxIdPRequests bounds identity-provider requests in all (0: no bound
	// beyond MaxPer1000).
	MaxIdPRequests int
}

// Env is what a scenario can break.
type Env struct {
	IdP       *iwt.Server
	Redis     RedisControl // nil without Redis
	OldCert   *iwt.Certificate
	NewCert   *iwt.Certificate
	WriteCert func(*iwt.Certificate)
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
	Pass        bool
	Why         string
}

func (r Report) String() string {
	v := "PASS"
	if !r.Pass {
		v = "FAIL (" + r.Why + ")"
	}
	return fmt.Sprintf("%-13s %s calls=%d errors=%d rps=%.0f p50=%s p99=%s idp_requests=%d per_1000_calls=%.2f",
		r.Scenario, v, r.Calls, r.Errors, r.Throughput, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.IdPRequests, r.Per1000)
}

// Run builds the API (certificate-file credential; L1/L2 on the given Redis
// when the scenario asks) on a development provider and drives it.
func Run(tb testing.TB, s Scenario, redisAddr string, redisCtl RedisControl) Report {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	idp := iwt.NewServer(tb, iwt.Options{})
	oldCert, _ := iwt.NewCertificate("api old", 0)
	newCert, _ := iwt.NewCertificate("api new", 0)
	idp.AddCertificate(iwt.WebAPIClientID, oldCert)
	path := filepath.Join(tb.TempDir(), "api.pem")
	write := func(c *iwt.Certificate) {
		os.WriteFile(path+".tmp", []byte(c.CertificatePEM()+c.KeyPEM()), 0o600)
		os.Rename(path+".tmp", path)
	}
	write(oldCert)
	cred, err := certsource.NewFile(path, certsource.FileOptions{PollInterval: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	opts := identityweb.Options{HTTPClient: idp.Client(), Credential: cred, Logger: quiet}
	env := &Env{IdP: idp, OldCert: oldCert, NewCert: newCert, WriteCert: write}
	if s.UseRedis {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr, ContextTimeoutEnabled: true, MaxRetries: -1,
			DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
		tb.Cleanup(func() { rdb.Close() })
		ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
		tiered := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}),
			cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: "load:"}), ring, cachestore.EncryptedOptions{Logger: quiet}),
			cachestore.TieredOptions{Logger: quiet, CircuitBreak: 500 * time.Millisecond})
		tb.Cleanup(func() { tiered.Close() })
		opts.Cache = tiered
		env.Redis = redisCtl
	}
	api, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: iwt.WebAPIClientID}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "profile") }))
	tb.Cleanup(downstream.Close)
	graph := api.DownstreamClient(identityweb.DownstreamAPI{BaseURL: downstream.URL, Scopes: []string{"User.Read"}, As: identityweb.OnBehalfOf})
	srv := httptest.NewServer(api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, downstream.URL+"/me", nil)
		resp, err := graph.Do(req)
		if err != nil {
			api.Challenge(w, r, err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	})))
	tb.Cleanup(srv.Close)

	tokens := make([]string, s.Users+s.ColdUsers)
	for i := range tokens {
		if tokens[i], err = idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user"); err != nil {
			tb.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: s.Workers * 2}}
	call := func(tok string) (time.Duration, bool) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		d := time.Since(start)
		if err != nil {
			return d, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return d, resp.StatusCode == http.StatusOK
	}
	for _, tok := range tokens[:s.Users] { // warm-up: every warm user's OBO token cached
		if _, ok := call(tok); !ok {
			tb.Fatalf("%s: warm-up call failed", s.Name)
		}
	}
	idp.ResetRequests()

	ctx, cancel := context.WithTimeout(context.Background(), s.Duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < s.Workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			var bad int64
			for i := w; ctx.Err() == nil; i += s.Workers {
				tok := tokens[i%s.Users]
				if s.ColdUsers > 0 && time.Since(start) > s.Duration/3 && i%4 == 0 {
					tok = tokens[s.Users+i%s.ColdUsers] // cold users arrive after the break
				}
				d, ok := call(tok)
				mine = append(mine, d)
				if !ok {
					bad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
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
	go func() { timer(s.Duration/3, s.Break); timer(s.Duration/3, s.Repair) }()
	wg.Wait()
	elapsed := time.Since(start)
	api.Close()

	r := Report{Scenario: s.Name, Calls: int64(len(lat)), Errors: errs, Throughput: float64(len(lat)) / elapsed.Seconds()}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for _, rec := range idp.Requests() { // what reached the provider, or tried to
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
	case r.Errors > s.MaxErrors:
		r.Why = fmt.Sprintf("%d errors > %d", r.Errors, s.MaxErrors)
	case s.MaxPer1000 > 0 && r.Per1000 > s.MaxPer1000:
		r.Why = fmt.Sprintf("%.2f identity-provider requests per 1,000 calls > %.2f", r.Per1000, s.MaxPer1000)
	case s.MaxIdPRequests > 0 && r.IdPRequests > s.MaxIdPRequests:
		r.Why = fmt.Sprintf("%d identity-provider requests > %d (retry storm)", r.IdPRequests, s.MaxIdPRequests)
	default:
		r.Pass = true
	}
	return r
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
	return []Scenario{steady, outage, faults, redisKill, rotation}
}
