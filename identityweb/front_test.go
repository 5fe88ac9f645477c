package identityweb_test

import (
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// The front (hot app tokens kept decoded) never serves what the L1 would
// not: a removed or replaced entry, a token past its expiry margin.
func TestFrontFollowsTheCache(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	mem := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
	a := e.daemon(func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = mem })
	first, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the second call fills the front, the third is served by it
		if r, err := a.ForApp(bg, apiDefault); err != nil || r.AccessToken != first.AccessToken || r.Metadata.CacheLevel != identityweb.CacheLevelL1 {
			t.Fatalf("hit: %v %+v", err, r.Metadata)
		}
	}
	// Removed from the cache (sign-out, invalidation by another instance,
	// eviction): the front does not serve it.
	for _, k := range identityweb.CacheKeysForTest(t, a, apiDefault) {
		mem.Delete(bg, k)
	}
	before := e.idp.TokenRequests()
	second, err := a.ForApp(bg, apiDefault)
	if err != nil || second.Metadata.Source != identityweb.SourceIdentityProvider || e.idp.TokenRequests() != before+1 {
		t.Fatalf("after removal: %v %+v", err, second.Metadata)
	}
	a.ForApp(bg, apiDefault) // fills the front again
	// Past the expiry margin (5 minutes before exp): the full path refreshes.
	e.clk.Advance(56 * time.Minute)
	third, err := a.ForApp(bg, apiDefault)
	if err != nil || third.AccessToken == second.AccessToken || third.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("past the margin: %v %+v", err, third.Metadata)
	}
	// Replaced in the cache: the front follows the new value.
	a.ForApp(bg, apiDefault)
	fourth, _ := a.ForApp(bg, apiDefault, identityweb.WithForceRefresh())
	if r, _ := a.ForApp(bg, apiDefault); r.AccessToken != fourth.AccessToken {
		t.Fatal("the front served a replaced token")
	}
}
