package identityweb_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// BenchmarkDownstream measures DownstreamClient's overhead: a GET to a
// loopback API with a cached app token, next to a bare http.Client whose
// transport adds one fixed header (the floor: the HTTP round trip).
func BenchmarkDownstream(b *testing.B) {
	idp := iwt.NewServer(b, iwt.Options{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer api.Close()
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet()}})
	if err != nil {
		b.Fatal(err)
	}
	dc, err := app.DownstreamClient(identityweb.DownstreamAPI{BaseURL: api.URL, Scopes: []string{apiDefault}, As: identityweb.AsApp})
	if err != nil {
		b.Fatal(err)
	}
	// The bare client adds the very token DownstreamClient sends (a real
	// ~1 KB JWT, which the API parses too), not a short stand-in.
	tok, err := app.Token(bg, identityweb.AsApp, []string{apiDefault})
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Client{Timeout: 30 * time.Second, Transport: headerTransport{http.DefaultTransport, "Bearer " + tok.AccessToken}}
	for name, c := range map[string]*http.Client{"bare-client-fixed-header": bare, "downstream-client": dc} {
		b.Run(name, func(b *testing.B) {
			get := func() {
				resp, err := c.Get(api.URL + "/items")
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			get() // warm: connection and token
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				get()
			}
		})
	}
}

type headerTransport struct {
	rt     http.RoundTripper
	header string
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.Header.Set("Authorization", t.header)
	return t.rt.RoundTrip(out)
}

// BenchmarkCallback measures the sign-in callback without the provider's
// time: the /signin-oidc request's duration (state check, ID token
// verification, session write) less the code redemption's time in HTTP,
// reported as ns/callback-excl-redemption. Each iteration is a full sign-in
// of a new browser through the development provider.
func BenchmarkCallback(b *testing.B) {
	idp := iwt.NewServer(b, iwt.Options{AutoSignIn: iwt.AliceUsername})
	var inHTTP, inCallback atomic.Int64
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet(),
			Cache: cachestore.NewMemory(cachestore.MemoryOptions{MaxBytes: 1 << 30}),
			OnToken: func(_ context.Context, e identityweb.TokenEvent) {
				if e.Metadata.RefreshReason == identityweb.RefreshNoCachedToken && e.Kind == "user" {
					inHTTP.Add(int64(e.Metadata.DurationInHTTP))
				}
			}}, InsecureAllowHTTPCookies: true})
	if err != nil {
		b.Fatal(err)
	}
	h := app.Handler(app.RequireUser(okHandler))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/signin-oidc" {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		h.ServeHTTP(w, r)
		inCallback.Add(int64(time.Since(start)))
	}))
	defer srv.Close()
	s := &site{idp: idp, srv: srv}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := s.browser().Get(srv.URL + "/me?i=" + strconv.Itoa(i))
		if err != nil || resp.StatusCode != 204 {
			b.Fatalf("sign-in %d: %v", i, err)
		}
		resp.Body.Close()
	}
	b.ReportMetric(float64(inCallback.Load()-inHTTP.Load())/float64(b.N), "ns/callback-excl-redemption")
}
