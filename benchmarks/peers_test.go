package benchmarks

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/go-identityweb/identityweb"
	iwt "github.com/go-identityweb/identityweb/identitywebtest"
)

// A first side-by-side: app-token cache hits, in the same run, on the same
// development provider over HTTPS, with N other app tokens cached (other
// tenants' worth of scopes: other resources registered in the provider).
// MSAL's cache grows by real acquisitions, so sizes stay modest here; the
// 10k-100k comparison needs MSAL's serialized cache (benchmarks issue).

var apiScope = iwt.WebAPIIdentifierURI + "/.default"

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

func BenchmarkAppTokenHit(b *testing.B) {
	sizes := []int{1, 100, 1000}
	if os.Getenv("IDWEB_BENCH_LARGE") != "" { // filling 10,000 tokens takes about a minute
		sizes = append(sizes, 10_000)
	}
	for _, n := range sizes {
		idp := iwt.NewServer(b, iwt.Options{Config: manyAPIs(n)})
		ctx := context.Background()
		scopes := make([]string, n)
		for i := range scopes {
			scopes[i] = "api://44444444-0000-4000-8000-" + pad12(i) + "/.default"
		}
		b.Run("identityweb/"+strconv.Itoa(n), func(b *testing.B) {
			acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
				ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret},
				identityweb.Options{HTTPClient: idp.Client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			for _, s := range scopes {
				if _, err := acq.ForApp(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
			acq.ForApp(ctx, apiScope)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := acq.ForApp(ctx, apiScope); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("msal-go/"+strconv.Itoa(n), func(b *testing.B) {
			cred, _ := confidential.NewCredFromSecret(iwt.DaemonSecret)
			app, err := confidential.New(idp.Authority(iwt.DefaultTenantID), iwt.DaemonClientID, cred,
				confidential.WithHTTPClient(idp.Client()), confidential.WithInstanceDiscovery(false))
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range scopes {
				if _, err := app.AcquireTokenByCredential(ctx, []string{s}); err != nil {
					b.Fatal(err)
				}
			}
			app.AcquireTokenByCredential(ctx, []string{apiScope})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := app.AcquireTokenByCredential(ctx, []string{apiScope}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("x-oauth2-reuse/"+strconv.Itoa(n), func(b *testing.B) {
			conf := clientcredentials.Config{ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret,
				TokenURL: idp.TokenEndpoint(iwt.DefaultTenantID), Scopes: []string{apiScope}, AuthStyle: oauth2.AuthStyleInParams}
			ts := oauth2.ReuseTokenSource(nil, conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, idp.Client())))
			ts.Token()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := ts.Token(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestColdMissUnderConcurrency: 200 goroutines ask for one missing app
// token at once. identityweb sends one request; MSAL Go sends one per
// caller that misses its cache (it has no single-flight).
func TestColdMissUnderConcurrency(t *testing.T) {
	const n = 200
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
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID,
		ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret}, identityweb.Options{HTTPClient: idp.Client()})
	run(func() error { _, err := acq.ForApp(ctx, apiScope); return err })
	ours := idp.TokenRequests()

	idp2 := iwt.NewServer(t, iwt.Options{})
	idp2.SetLatency(20e6)
	cred, _ := confidential.NewCredFromSecret(iwt.DaemonSecret)
	app, _ := confidential.New(idp2.Authority(iwt.DefaultTenantID), iwt.DaemonClientID, cred,
		confidential.WithHTTPClient(idp2.Client()), confidential.WithInstanceDiscovery(false))
	run(func() error { _, err := app.AcquireTokenByCredential(ctx, []string{apiScope}); return err })
	msal := idp2.TokenRequests()
	t.Logf("%d concurrent callers, one missing token: identityweb %d request(s), MSAL Go %d", n, ours, msal)
	if ours != 1 {
		t.Fatalf("identityweb sent %d requests", ours)
	}
}
