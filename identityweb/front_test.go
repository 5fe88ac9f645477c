package identityweb_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// The fronts (hot tokens kept decoded: app tokens by scope, OBO tokens by
// incoming token, users' by session) never serve what the L1 would not: a
// removed or replaced entry, a token past its expiry margin, a user's token
// after the account is gone. One table over the three kinds.
func TestFrontFollowsTheCache(t *testing.T) {
	for _, kind := range []string{"app", "obo", "user"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour, AutoSignIn: iwt.AliceUsername})
			mem := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
			useMem := func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = mem }
			var call func(opts ...identityweb.CallOption) (identityweb.Result, error)
			var key string
			var user identityweb.UserSession
			var a *identityweb.TokenAcquirer
			switch kind {
			case "app":
				a := e.daemon(useMem)
				call = func(opts ...identityweb.CallOption) (identityweb.Result, error) {
					return a.ForApp(bg, apiDefault, opts...)
				}
				key = identityweb.TokenKeyForTest(a, 'A', []string{apiDefault}, "")
			case "obo":
				a := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret, useMem)
				alice, _ := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
				graph := []string{"User.Read"}
				call = func(opts ...identityweb.CallOption) (identityweb.Result, error) {
					return a.OnBehalfOf(bg, alice, graph, opts...)
				}
				key = identityweb.TokenKeyForTest(a, 'O', graph, alice)
			case "user":
				a = e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, useMem)
				user = a.Session("front-session")
				if _, err := user.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
					t.Fatal(err)
				}
				scopes := []string{apiScope}
				call = func(opts ...identityweb.CallOption) (identityweb.Result, error) {
					return user.ForUser(bg, scopes, opts...)
				}
				key = identityweb.TokenKeyForTest(a, 'U', scopes, "front-session")
			}
			first, err := call()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := mem.Get(bg, key); !ok {
				t.Fatal("the token's cache key is not the one the test computes")
			}
			for range 3 { // the first hit fills the front, the next ones are served by it
				if r, err := call(); err != nil || r.AccessToken != first.AccessToken || r.Metadata.Source != identityweb.SourceCache || r.Metadata.CacheLevel != identityweb.CacheLevelL1 {
					t.Fatalf("hit: %v %+v", err, r.Metadata)
				}
			}
			// Removed from the cache (sign-out, invalidation by another
			// instance, eviction): the front does not serve it.
			mem.Delete(bg, key)
			before := e.idp.TokenRequests()
			second, err := call()
			if err != nil || second.Metadata.Source != identityweb.SourceIdentityProvider || e.idp.TokenRequests() != before+1 {
				t.Fatalf("after removal: %v %+v", err, second.Metadata)
			}
			call() // fills the front again
			// Past the expiry margin (5 minutes before exp): the full path refreshes.
			e.clk.Advance(56 * time.Minute)
			third, err := call()
			if err != nil || third.AccessToken == second.AccessToken || third.Metadata.Source != identityweb.SourceIdentityProvider {
				t.Fatalf("past the margin: %v %+v", err, third.Metadata)
			}
			// Replaced in the cache: the front follows the new value.
			call()
			fourth, _ := call(identityweb.WithForceRefresh())
			if r, _ := call(); r.AccessToken != fourth.AccessToken {
				t.Fatal("the front served a replaced token")
			}
			if kind != "user" {
				return
			}
			// The account gone (signed out on another instance, whose
			// invalidation removed it here) while the token entry stays:
			// the user's token is not served.
			if r, err := call(); err != nil || r.AccessToken != fourth.AccessToken {
				t.Fatalf("hit before sign-out: %v", err)
			}
			mem.Delete(bg, identityweb.AccountKeyForTest(a, "front-session"))
			if _, ok, _ := mem.Get(bg, key); !ok {
				t.Fatal("the token entry went with the account")
			}
			if _, err := call(); !errors.Is(err, identityweb.ErrInteractionRequired) {
				t.Fatalf("after sign-out: %v, want ErrInteractionRequired", err)
			}
			// And RemoveAccount (sign-out here) on a fresh sign-in.
			if _, err := user.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
				t.Fatal(err)
			}
			call()
			call()
			if err := user.RemoveAccount(bg); err != nil {
				t.Fatal(err)
			}
			if _, err := call(); !errors.Is(err, identityweb.ErrInteractionRequired) {
				t.Fatalf("after RemoveAccount: %v, want ErrInteractionRequired", err)
			}
		})
	}
}

// With the system clock the fronts read the monotonic clock, and still
// stop serving a token at its expiry margin.
func TestFrontOnTheSystemClock(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{AccessTokenLifetime: 2 * time.Second})
	a, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.DaemonClientID, ClientSecret: iwt.DaemonSecret},
		identityweb.Options{HTTPClient: idp.Client(), ExpiryBuffer: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	first, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	deadline := first.ExpiresOn.Add(-time.Second)
	served := 0
	for time.Now().Before(deadline.Add(-100 * time.Millisecond)) {
		if r, err := a.ForApp(bg, apiDefault); err != nil || r.AccessToken != first.AccessToken {
			t.Fatalf("before the margin: %v", err)
		}
		served++
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Until(deadline) + 10*time.Millisecond)
	if r, err := a.ForApp(bg, apiDefault); err != nil || r.AccessToken == first.AccessToken || r.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("past the margin: %v %+v (served %d hits before)", err, r.Metadata, served)
	}
}

// The OBO front finds an incoming token by a hash of its signature and then
// compares the whole token: a token forged with another caller's signature
// (or any two tokens ending alike) is never served the other's OBO token.
func TestFrontComparesTheWholeIncomingToken(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret)
	alice, _ := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	bob, _ := e.idp.UserToken(iwt.BobUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	graph := []string{"User.Read"}
	var aliceOBO identityweb.Result
	for range 3 { // cached, then in the front
		r, err := api.OnBehalfOf(bg, alice, graph)
		if err != nil {
			t.Fatal(err)
		}
		aliceOBO = r
	}
	forged := bob[:strings.LastIndexByte(bob, '.')] + alice[strings.LastIndexByte(alice, '.'):]
	if len(forged) >= 64 && forged[len(forged)-64:] != alice[len(alice)-64:] {
		t.Fatal("the forged token does not end as alice's")
	}
	r, err := api.OnBehalfOf(bg, forged, graph)
	if err == nil && r.AccessToken == aliceOBO.AccessToken {
		t.Fatal("a token ending like alice's was served alice's OBO token")
	}
	if r, err := api.OnBehalfOf(bg, alice, graph); err != nil || r.AccessToken != aliceOBO.AccessToken || r.Metadata.Source != identityweb.SourceCache {
		t.Fatalf("alice after the forgery: %v %+v", err, r.Metadata)
	}
}
