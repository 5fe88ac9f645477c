package identityweb_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
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

// With the system clock the fronts read it in one atomic load (tickClock),
// and still stop serving a token at its expiry margin.
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

// l2Hook is an L2 that runs a function once, on the next read of a key:
// it replaces an entry in the L1 while a lookup is between two reads.
type l2Hook struct {
	*cachestore.Memory
	mu   sync.Mutex
	key  string
	hook func()
}

func (h *l2Hook) once(key string, f func()) {
	h.mu.Lock()
	h.key, h.hook = key, f
	h.mu.Unlock()
}

func (h *l2Hook) fire(key string) {
	h.mu.Lock()
	f := h.hook
	if key != h.key {
		f = nil
	}
	if f != nil {
		h.hook = nil
	}
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

func (h *l2Hook) Get(ctx context.Context, key string) ([]byte, bool, error) {
	h.fire(key)
	return h.Memory.Get(ctx, key)
}

func (h *l2Hook) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	h.fire(key)
	return h.Memory.GetWithTTL(ctx, key)
}

// A token replaced in the L1 between the full path's read and the front's
// (a WithClaims or forced refresh storing its new token at that moment)
// is not kept in the front beside the new entry's handle: the front served
// the old token — the one an API had just refused — until its deadline.
// (Found by an attacker's review.)
func TestFrontKeepsOnlyTheValueItsHandleNames(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	l1 := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
	l2 := &l2Hook{Memory: cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})}
	tiered := cachestore.NewTiered(l1, l2, cachestore.TieredOptions{Clock: e.clk})
	t.Cleanup(func() { tiered.Close() })
	a := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = tiered })
	user := a.Session("sess")
	if _, err := user.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	key := identityweb.TokenKeyForTest(a, 'U', []string{apiScope}, "sess")
	acct := identityweb.AccountKeyForTest(a, "sess")
	b1, ok := l1.Lookup(key)
	if !ok {
		t.Fatal("no token in L1")
	}
	e1, _ := cacheentry.DecodeToken(b1, true, false)
	e2 := e1
	e2.AccessToken = "replaced-" + e1.AccessToken[:10]
	b2 := cacheentry.EncodeToken(&e2)
	l1.Delete(bg, acct) // the account only in L2: the full path reads it there, after the token
	l2.once(acct, func() { l1.Set(bg, key, b2, time.Hour) })
	if _, err := user.ForUser(bg, []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := l1.Lookup(key); string(cur) != string(b2) {
		t.Fatal("setup: the L1 does not hold the new token")
	}
	for i := range 3 {
		r, err := user.ForUser(bg, []string{apiScope})
		if err != nil {
			t.Fatal(err)
		}
		if r.AccessToken != e2.AccessToken {
			t.Fatalf("call %d served the replaced token while the L1 holds the new one", i)
		}
	}
}

// The front serves a token no longer than its L1 entry lives: with
// TieredOptions.MaxL1TTL an instance whose L1 copy is past it reads L2
// (another instance's newer token), through the front as through the full
// path. (Found by an attacker's review.)
func TestFrontHonoursTheL1Lifetime(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	l2 := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
	instance := func() *identityweb.TokenAcquirer {
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk}), l2, cachestore.TieredOptions{Clock: e.clk, MaxL1TTL: time.Minute})
		t.Cleanup(func() { tr.Close() })
		return e.daemon(func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = tr })
	}
	a, b := instance(), instance()
	first, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	a.ForApp(bg, apiDefault)
	a.ForApp(bg, apiDefault) // served by the front
	e.clk.Advance(time.Second)
	renewed, err := b.ForApp(bg, apiDefault, identityweb.WithForceRefresh())
	if err != nil || renewed.AccessToken == first.AccessToken {
		t.Fatalf("setup: %v", err)
	}
	e.clk.Advance(2 * time.Minute) // A's L1 copy is past MaxL1TTL
	if r, _ := a.ForApp(bg, apiDefault); r.AccessToken != renewed.AccessToken {
		t.Fatal("the front served a token past its L1 entry's lifetime")
	}
	if r, _ := a.ForApp(bg, apiDefault, identityweb.WithTenant(tenant)); r.AccessToken != renewed.AccessToken {
		t.Fatal("the full path (same key) serves the old token too")
	}
}
