package identityweb_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// BenchmarkRequireUserSharedCache is BenchmarkRequireUser with the token
// cache of a production instance — an L1 over an encrypted Redis L2 — and
// an idle timeout: the session checks (its times, its record, its account)
// are L1 hits, so no request waits for Redis.
func BenchmarkRequireUserSharedCache(b *testing.B) {
	srv := redistest.Start(b)
	idp := iwt.NewServer(b, iwt.Options{AutoSignIn: iwt.AliceUsername})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), sharedL2(b, srv.Addr, ring, nil), cachestore.TieredOptions{Logger: quiet()})
	b.Cleanup(func() { tr.Close() })
	app, err := identityweb.New(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant,
		ClientID: iwt.WebAppClientID, ClientSecret: iwt.WebAppSecret},
		identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet(), Cache: tr},
			InsecureAllowHTTPCookies: true, SessionIdleTimeout: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	h := app.Handler(app.RequireUser(okHandler))
	hs := httptest.NewServer(h)
	defer hs.Close()
	s := &site{idp: idp, srv: hs}
	br := s.browser()
	resp, err := br.Get(hs.URL + "/me")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req.AddCookie(&http.Cookie{Name: "idw_session", Value: sessionCookie(br, hs.URL)})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 204 {
		b.Fatalf("signed-in request: %d", w.Code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(discardWriter{}, req)
	}
}
