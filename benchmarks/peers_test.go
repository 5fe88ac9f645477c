package benchmarks

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// Side by side, in the same run, on the same development provider over
// HTTPS: one cache hit with n tokens cached, for identityweb, MSAL Go
// (confidential client, instance discovery off) and x/oauth2 (one
// ReuseTokenSource per scope in a map, what a team builds with it). The
// identityweb cache is filled by real acquisitions; MSAL's through its
// serialized cache (msal_cache_test.go); x/oauth2's sources are seeded with
// a real token. Every setup checks that the hit is a hit.

var apiScope = iwt.WebAPIIdentifierURI + "/.default"

// hitSizes are the numbers of tokens cached. 100,000 takes a few minutes
// to fill (real acquisitions): IDWEB_BENCH_LARGE=1 adds it (benchreport
// sets it).
func hitSizes() []int {
	s := []int{1, 1000, 10_000}
	if os.Getenv("IDWEB_BENCH_LARGE") != "" {
		s = append(s, 100_000)
	}
	return s
}

// manyAPIs returns a provider configuration with n extra APIs the daemon
// is granted, so that n distinct app tokens can be cached.
func manyAPIs(n int) *iwt.Config {
	cfg := iwt.DefaultConfig()
	t := &cfg.Tenants[0]
	for i := 0; i < n; i++ {
		id := "44444444-0000-4000-8000-" + pad12(i)
		t.Clients = append(t.Clients, iwt.Client{ClientID: id, Name: "api " + strconv.Itoa(i), AppRoles: []string{"Read"}})
		t.Clients[2].Permissions = append(t.Clients[2].Permissions, iwt.Permission{Resource: "api://" + id, Roles: []string{"Read"}})
	}
	return cfg
}

func pad12(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 12 {
		s = "0" + s
	}
	return s
}

// hit is one cache hit of one library.
type hit func() error

// peers holds one hit per library for a kind and size. Setups are built
// once per process: the testing package calls a benchmark function again
// for every -count, and filling 100,000 tokens each time would dominate
// the run. Hits never reach the provider (its server is closed with the
// first benchmark that made it, which makes a miss fail loudly).
type peers struct {
	identityweb, msal, oauth2 hit
}

var (
	peersMu    sync.Mutex
	peersCache = map[string]*peers{}
)

func peersFor(b *testing.B, kind string, n int, build func(*testing.B, int) *peers) *peers {
	peersMu.Lock()
	defer peersMu.Unlock()
	id := kind + "/" + strconv.Itoa(n)
	if p := peersCache[id]; p != nil {
		return p
	}
	start := time.Now()
	p := build(b, n)
	b.Logf("%s: filled %d tokens per library in %s", id, n, time.Since(start).Round(time.Millisecond))
	peersCache[id] = p
	return p
}

// parallel runs f for i in [0, n) on workers goroutines and returns the
// first error (the others stop at their next step).
func parallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				mu.Lock()
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// appPeers caches n app tokens (n-1 other APIs plus the one hit) in each
// library.
func appPeers(b *testing.B, n int) *peers {
	ctx := context.Background()
	others := make([]string, n-1)
	for i := range others {
		others[i] = "api://44444444-0000-4000-8000-" + pad12(i) + "/.default"
	}
	idp := iwt.NewServer(b, iwt.Options{Config: manyAPIs(n - 1)})
	p := &peers{}

	acq, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret},
		identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	if err := parallel(len(others), 8, func(i int) error { _, err := acq.ForApp(ctx, others[i]); return err }); err != nil {
		b.Fatal(err)
	}
	first, err := acq.ForApp(ctx, apiScope)
	if err != nil {
		b.Fatal(err)
	}
	probes := []string{apiScope}
	if len(others) > 0 {
		probes = append(probes, others[len(others)/2])
	}
	for _, s := range probes {
		if res, err := acq.ForApp(ctx, s); err != nil || res.Metadata.CacheLevel != identityweb.CacheLevelL1 {
			b.Fatalf("identityweb's cache missed %s: %v", s, err)
		}
	}
	p.identityweb = func() error {
		_, err := acq.ForApp(ctx, apiScope)
		return err
	}

	cred, _ := confidential.NewCredFromSecret(iwt.DaemonSecret)
	rec := &recorder{}
	src, err := confidential.New(idp.Authority(iwt.DefaultTenantID), iwt.DaemonClientID, cred,
		confidential.WithHTTPClient(idp.Client()), confidential.WithInstanceDiscovery(false), confidential.WithCache(rec))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := src.AcquireTokenByCredential(ctx, []string{apiScope}); err != nil {
		b.Fatal(err)
	}
	data, err := cloneAppTokens(rec.data, apiScope, others)
	if err != nil {
		b.Fatal(err)
	}
	app, err := confidential.New(idp.Authority(iwt.DefaultTenantID), iwt.DaemonClientID, cred,
		confidential.WithHTTPClient(idp.Client()), confidential.WithInstanceDiscovery(false), confidential.WithCache(&seeded{data: data}))
	if err != nil {
		b.Fatal(err)
	}
	before := idp.TokenRequests()
	for _, s := range probes {
		if res, err := app.AcquireTokenByCredential(ctx, []string{s}); err != nil || res.Metadata.TokenSource != confidential.TokenSourceCache {
			b.Fatalf("MSAL's seeded cache missed %v: %v", s, err)
		}
	}
	if idp.TokenRequests() != before {
		b.Fatal("MSAL's seeded cache went to the provider")
	}
	p.msal = func() error {
		_, err := app.AcquireTokenByCredential(ctx, []string{apiScope})
		return err
	}

	conf := clientcredentials.Config{ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret,
		TokenURL: idp.TokenEndpoint(iwt.DefaultTenantID), AuthStyle: oauth2.AuthStyleInParams}
	octx := context.WithValue(ctx, oauth2.HTTPClient, idp.Client())
	tok := &oauth2.Token{AccessToken: first.AccessToken, TokenType: "Bearer", Expiry: first.ExpiresOn}
	var mu sync.RWMutex
	sources := make(map[string]oauth2.TokenSource, n)
	for _, s := range append(others, apiScope) {
		c := conf
		c.Scopes = []string{s}
		sources[s] = oauth2.ReuseTokenSource(tok, c.TokenSource(octx))
	}
	p.oauth2 = func() error {
		mu.RLock()
		ts := sources[apiScope]
		mu.RUnlock()
		_, err := ts.Token()
		return err
	}
	return p
}

// sizeName names a sub-benchmark in benchstat's key=value form, so that
// `benchstat -col /lib` puts the libraries side by side.
func sizeName(n int, lib string) string {
	return "tokens=" + strconv.Itoa(n) + "/lib=" + lib
}

func sequential(f hit) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func concurrent(f hit) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := f(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
}

// runPeers runs mode on each library's hit (x/oauth2 has none for OBO) at
// every size, named in benchstat's key=value form.
func runPeers(b *testing.B, kind string, build func(*testing.B, int) *peers, mode func(hit) func(*testing.B)) {
	for _, n := range hitSizes() {
		p := peersFor(b, kind, n, build)
		for _, l := range []struct {
			lib string
			hit hit
		}{{"identityweb", p.identityweb}, {"msal-go", p.msal}, {"x-oauth2", p.oauth2}} {
			if l.hit != nil {
				b.Run(sizeName(n, l.lib), mode(l.hit))
			}
		}
	}
}

// BenchmarkAppTokenHit: one app-token hit with n app tokens cached.
func BenchmarkAppTokenHit(b *testing.B) { runPeers(b, "app", appPeers, sequential) }

// BenchmarkAppTokenHitParallel: the same hits from GOMAXPROCS goroutines.
func BenchmarkAppTokenHitParallel(b *testing.B) { runPeers(b, "app", appPeers, concurrent) }

// TestColdMissUnderConcurrency: 1,000 goroutines ask for one missing app
// token at once. identityweb sends one request; MSAL Go sends one per
// caller that misses its cache (it has no single-flight).
func TestColdMissUnderConcurrency(t *testing.T) {
	const n = 1000
	run := func(get func() error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if err := get(); err != nil {
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	ctx := context.Background()
	idp := iwt.NewServer(t, iwt.Options{})
	idp.SetLatency(20e6) // 20 ms: callers overlap as in production
	// No client timeout: on a starved CI machine a 30 s timeout would make
	// the one request time out and be retried (correctly), counting two.
	patient := *idp.Client()
	patient.Timeout = 0
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret}, identityweb.Options{HTTPClient: &patient})
	run(func() error { _, err := acq.ForApp(ctx, apiScope); return err })
	ours := idp.TokenRequests()

	idp2 := iwt.NewServer(t, iwt.Options{})
	idp2.SetLatency(20e6)
	cred, _ := confidential.NewCredFromSecret(iwt.DaemonSecret)
	patient2 := *idp2.Client()
	patient2.Timeout = 0
	app, _ := confidential.New(idp2.Authority(iwt.DefaultTenantID), iwt.DaemonClientID, cred,
		confidential.WithHTTPClient(&patient2), confidential.WithInstanceDiscovery(false))
	run(func() error { _, err := app.AcquireTokenByCredential(ctx, []string{apiScope}); return err })
	msal := idp2.TokenRequests()
	t.Logf("%d concurrent callers, one missing token: identityweb %d request(s), MSAL Go %d", n, ours, msal)
	if ours != 1 {
		t.Fatalf("identityweb sent %d requests", ours)
	}
}
