package identityweb_test

import (
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"golang.org/x/oauth2"
)

// benchSizes are the numbers of tokens in the cache besides the one hit.
var benchSizes = []int{1, 10_000, 1_000_000}

type hitFunc func() (identityweb.Result, error)

var (
	setupMu    sync.Mutex
	setupCache = map[string]hitFunc{}
)

// benchSetup returns, for kind, a call that hits the L1 cache among n cached
// tokens of the same kind. Setups are kept for the whole run: the testing
// package calls a benchmark function several times while it sizes b.N, and
// filling a million entries each time would dominate the run. (Hits never
// reach the provider, which the first invocation's cleanup closes.)
func benchSetup(b *testing.B, kind string, n int) hitFunc {
	b.Helper()
	setupMu.Lock()
	defer setupMu.Unlock()
	id := kind + "/" + strconv.Itoa(n)
	if f, ok := setupCache[id]; ok {
		return f
	}
	f := newBenchSetup(b, kind, n)
	setupCache[id] = f
	// Filling up to a million entries leaves a collection of a heap of
	// gigabytes running after ResetTimer (a hit allocates nothing; the
	// collector's workers and write barriers slowed the first runs of the
	// largest sizes): finish it before measuring.
	runtime.GC()
	return f
}

func newBenchSetup(b *testing.B, kind string, n int) hitFunc {
	idp := iwt.NewServer(b, iwt.Options{AutoSignIn: iwt.AliceUsername})
	newAcq := func(clientID, secret string) *identityweb.TokenAcquirer {
		a, err := identityweb.NewTokenAcquirer(
			identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: clientID, ClientSecret: secret},
			identityweb.Options{HTTPClient: idp.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Cache: cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 4 << 30})})
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	var call hitFunc
	switch kind {
	case "app":
		a := newAcq(iwt.DaemonClientID, iwt.DaemonSecret)
		identityweb.FillForTest(a, 'A', n)
		call = func() (identityweb.Result, error) { return a.ForApp(bg, apiDefault) }
	case "obo":
		a := newAcq(iwt.WebAPIClientID, iwt.WebAPISecret)
		identityweb.FillForTest(a, 'O', n)
		incoming, err := idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
		if err != nil {
			b.Fatal(err)
		}
		call = func() (identityweb.Result, error) { return a.OnBehalfOf(bg, incoming, []string{"User.Read"}) }
	case "user":
		a := newAcq(iwt.WebAppClientID, iwt.WebAppSecret)
		identityweb.FillForTest(a, 'U', n)
		s := a.Session("bench-session")
		e := &env{t: nil, idp: idp}
		code := benchCode(b, e)
		if _, err := s.RedeemCode(bg, code, []string{apiScope}); err != nil {
			b.Fatal(err)
		}
		call = func() (identityweb.Result, error) { return s.ForUser(bg, []string{apiScope}) }
	}
	// Warm: the first call may reach the provider.
	if _, err := call(); err != nil {
		b.Fatal(err)
	}
	if r, err := call(); err != nil || r.Metadata.Source != identityweb.SourceCache {
		b.Fatalf("not a cache hit: %v", err)
	}
	return call
}

func BenchmarkHit(b *testing.B) {
	for _, kind := range []string{"app", "obo", "user"} {
		for _, n := range benchSizes {
			b.Run(kind+"/"+strconv.Itoa(n), func(b *testing.B) {
				call := benchSetup(b, kind, n)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := call(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkHitParallel(b *testing.B) {
	for _, kind := range []string{"app", "obo", "user"} {
		b.Run(kind, func(b *testing.B) {
			call := benchSetup(b, kind, 10_000)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBaseline is the floor a hit is compared with: building a key of
// the same length, one map lookup among 10,000 entries and two clock reads.
func BenchmarkBaseline(b *testing.B) {
	m := map[string][]byte{}
	for i := 0; i < 10_000; i++ {
		m["idw1|https://login.example|"+strconv.Itoa(i)+"|A|tenant|api://x/.default|"] = []byte("v")
	}
	prefix, suffix := "idw1|https://login.example|", "|A|tenant|api://x/.default|"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, ok := m[prefix+"42"+suffix]; !ok {
			b.Fatal("miss")
		}
		_ = time.Since(start)
	}
}

// BenchmarkMixed: a mixed workload over 100,000 cached app tokens — 95 %
// hits, 4 % writes (a token replaced, as a refresh does), 1 % invalidations
// (a token removed, as another instance's change does) — from GOMAXPROCS
// goroutines, next to x/oauth2's map of ReuseTokenSource under a mutex
// (writes replace a source, invalidations delete it).
func BenchmarkMixed(b *testing.B) {
	const n = 100_000
	scopes := make([]string, n)
	for i := range scopes {
		scopes[i] = "api://filler-" + strconv.Itoa(i) + "/.default"
	}
	op := func(i uint64) int { // 0 hit, 1 write, 2 invalidation
		switch r := i % 100; {
		case r < 95:
			return 0
		case r < 99:
			return 1
		}
		return 2
	}
	b.Run("lib=identityweb", func(b *testing.B) {
		idp := iwt.NewServer(b, iwt.Options{})
		mem := cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 4 << 30})
		a, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret},
			identityweb.Options{HTTPClient: idp.Client(), Logger: quiet(), Cache: mem})
		if err != nil {
			b.Fatal(err)
		}
		identityweb.FillForTest(a, 'A', n)
		keys := make([]string, n)
		for i, s := range scopes {
			keys[i] = identityweb.CacheKeysForTest(b, a, s)[0]
		}
		value, _, _ := mem.Get(bg, keys[0])
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				k := int(i*2654435761) % n
				switch op(i) {
				case 0:
					if _, err := a.ForApp(bg, scopes[k]); err != nil {
						b.Error(err)
						return
					}
				case 1:
					mem.Set(bg, keys[k], value, 24*time.Hour)
				default:
					mem.Delete(bg, keys[k])
					mem.Set(bg, keys[k], value, 24*time.Hour) // refilled, as the next miss would
				}
			}
		})
	})
	b.Run("lib=x-oauth2", func(b *testing.B) {
		tok := &oauth2.Token{AccessToken: "filler-token-of-64-bytes.................................", Expiry: time.Now().Add(24 * time.Hour)}
		var mu sync.RWMutex
		m := make(map[string]oauth2.TokenSource, n)
		for _, s := range scopes {
			m[s] = oauth2.ReuseTokenSource(tok, nil)
		}
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1)
				s := scopes[int(i*2654435761)%n]
				switch op(i) {
				case 0:
					mu.RLock()
					ts := m[s]
					mu.RUnlock()
					if _, err := ts.Token(); err != nil {
						b.Error(err)
						return
					}
				default:
					mu.Lock()
					m[s] = oauth2.ReuseTokenSource(tok, nil)
					mu.Unlock()
				}
			}
		})
	})
}
