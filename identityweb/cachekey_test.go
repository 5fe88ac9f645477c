package identityweb_test

import (
	"errors"
	"testing"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// Cache keys joined their parts with '|' and a refresh entry listed its
// access-token keys one per line: a scope holding a newline made a key that
// the list split in two, so sign-out left that token in the cache; and a
// tenant holding '|' built the key of another tenant's scopes.
func TestCacheKeysAreUnambiguous(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	cache := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = cache })
	s := web.Session("alice")
	if _, err := s.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	// The provider reads "User.Read\nopenid" as two scopes; the cache key
	// holds it as one, with its newline.
	if _, err := s.ForUser(bg, []string{"User.Read\nopenid"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAccount(bg); err != nil {
		t.Fatal(err)
	}
	if n := cache.Len(); n != 0 {
		t.Fatalf("sign-out left %d entries in the cache", n)
	}

	// Tenants are validated wherever they come from: per call and in Config.
	for _, bad := range []string{"t1|api://x", "t1|x", "t1\nx", "t1 x", "t1%7Cx", ""} {
		_, err := e.daemon().ForApp(bg, apiDefault, identityweb.WithTenant(bad))
		if bad != "" && !errors.Is(err, identityweb.ErrConfig) {
			t.Errorf("WithTenant(%q): %v, want ErrConfig", bad, err)
		}
		if bad == "" {
			continue
		}
		_, err = identityweb.NewTokenAcquirer(identityweb.Config{Instance: e.idp.URL + "/", TenantID: bad, ClientID: "c"}, identityweb.Options{})
		if !errors.Is(err, identityweb.ErrConfig) {
			t.Errorf("Config.TenantID %q: %v, want ErrConfig", bad, err)
		}
	}
	// A token parameter named like the suffix that keys DPoP-bound tokens
	// ("|dpop=<thumbprint>") would build a bound token's key for a token
	// that is not bound.
	if _, err := e.daemon().ForApp(bg, apiDefault, identityweb.WithTokenParameter("dpop", "thumbprint")); !errors.Is(err, identityweb.ErrConfig) {
		t.Errorf("WithTokenParameter(\"dpop\", …): %v, want ErrConfig", err)
	}
	for _, good := range []string{tenant, "contoso.onmicrosoft.com", "organizations", "common", "consumers"} {
		if _, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: e.idp.URL + "/", TenantID: good, ClientID: "c"}, identityweb.Options{}); err != nil {
			t.Errorf("Config.TenantID %q: %v", good, err)
		}
	}
}
