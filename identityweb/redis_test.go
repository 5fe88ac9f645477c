package identityweb_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// sharedL2 is the encrypted Redis L2 that instances of one app share.
func sharedL2(t testing.TB, addr string, ring *cachestore.KeyRing, clk cachestore.Clock) *cachestore.Encrypted {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	return cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: "app:"}), ring, cachestore.EncryptedOptions{Clock: clk, Logger: quiet()})
}

// instance is one app instance's cache: its own L1 over the shared L2.
func instance(t *testing.T, l2 *cachestore.Encrypted, clk cachestore.Clock) *cachestore.Tiered {
	tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2,
		// The circuit breaker runs on wall time, as Redis does; entries'
		// lifetimes follow the test's fake clock.
		cachestore.TieredOptions{CircuitBreak: 500 * time.Millisecond, Logger: quiet()})
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestRedisKilledUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External() {
		t.Skip("needs a private redis-server it can kill")
	}
	e := newEnv(t, iwt.Options{})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(t, srv.Addr, ring, e.clk)
	cache := instance(t, l2, e.clk)
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = cache })
	var incoming []string
	for i := 0; i < 50; i++ {
		tok, err := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
		if err != nil {
			t.Fatal(err)
		}
		incoming = append(incoming, tok)
		if _, err := api.OnBehalfOf(bg, tok, []string{"User.Read"}); err != nil { // now in L1 and L2
			t.Fatal(err)
		}
	}
	var failed, served atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, tok := range incoming {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := api.OnBehalfOf(bg, tok, []string{"User.Read"}); err != nil {
					failed.Add(1)
				} else {
					served.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	srv.Kill() // SIGKILL
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || served.Load() == 0 {
		t.Fatalf("with Redis killed: %d failed, %d served", failed.Load(), served.Load())
	}
	// A new token while Redis is down: the provider serves it, L1 keeps it.
	fresh, _ := e.idp.UserToken(iwt.BobUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	if _, err := api.OnBehalfOf(bg, fresh, []string{"User.Read"}); err != nil {
		t.Fatalf("acquisition with Redis down: %v", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Without restarting the app, L2 is written and read again.
	restarted := time.Now()
	other := instance(t, l2, e.clk) // a second instance with an empty L1
	otherAPI := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = other })
	for {
		tok, _ := e.idp.UserToken(iwt.BobUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
		if _, err := api.OnBehalfOf(bg, tok, []string{"User.Read"}); err != nil {
			t.Fatal(err)
		}
		r, err := otherAPI.OnBehalfOf(bg, tok, []string{"User.Read"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Metadata.CacheLevel == identityweb.CacheLevelL2 {
			break
		}
		if time.Since(restarted) > 5*time.Second {
			t.Fatalf("L2 not in use 5 s after Redis came back (failures so far: %d)", cache.L2Failures())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("L2 written and read again %v after the restart; %d acquisitions served in the load window around the kill, 0 failed", time.Since(restarted).Round(time.Millisecond), served.Load())
}

func TestThreeInstancesShareOneRefresh(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername, RevokeRefreshTokenFamilyOnReuse: true, AccessTokenLifetime: time.Hour})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(t, srv.Addr, ring, e.clk)
	var sessions []identityweb.UserSession
	for i := 0; i < 3; i++ {
		cache := instance(t, l2, e.clk)
		web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = cache })
		sessions = append(sessions, web.Session("alice-browser-session"))
	}
	first, err := sessions[0].RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sessions[1:] {
		r, err := s.ForUser(bg, []string{apiScope})
		if err != nil || r.AccessToken != first.AccessToken || r.Metadata.CacheLevel != identityweb.CacheLevelL2 {
			t.Fatalf("instance %d before expiry: %v %+v", i+2, err, r.Metadata)
		}
	}
	e.clk.Advance(2 * time.Hour) // every instance's copy has expired
	e.idp.ResetRequests()
	results := make([]identityweb.Result, 3)
	errs := make([]error, 3)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.ForUser(bg, []string{apiScope})
		}()
	}
	close(start)
	wg.Wait()
	for i := range sessions {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i+1, errs[i])
		}
		if results[i].AccessToken != results[0].AccessToken || results[i].AccessToken == first.AccessToken {
			t.Fatalf("instance %d did not get the one new token", i+1)
		}
	}
	if n, reuses := e.idp.TokenRequests("refresh_token"), e.idp.RefreshTokenReuses(); n != 1 || reuses != 0 {
		t.Fatalf("refresh requests = %d, reuses = %d; want 1 and 0", n, reuses)
	}
	// Still usable: the family was not revoked.
	if _, err := sessions[1].ForUser(bg, []string{"User.Read"}); err != nil {
		t.Fatalf("after the shared refresh: %v", err)
	}
	// Sign-out on instance 1: the others stop serving within the bound.
	if err := sessions[0].RemoveAccount(bg); err != nil {
		t.Fatal(err)
	}
	signedOut := time.Now()
	for _, s := range sessions[1:] {
		for {
			_, err := s.ForUser(bg, []string{apiScope})
			if errors.Is(err, identityweb.ErrInteractionRequired) {
				break
			}
			if time.Since(signedOut) > time.Second {
				t.Fatalf("an instance still serves the user 1 s after sign-out elsewhere (err %v)", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("sign-out seen by the other instances after %v", time.Since(signedOut).Round(time.Millisecond))
}

var (
	reJWT     = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}`)
	reRefresh = regexp.MustCompile(`rt\.[A-Za-z0-9_-]{40}`)
)

func TestRedisHoldsNothingInClear(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	key := cachestore.NewKey()
	ring, _ := cachestore.NewKeyRing(key)
	l2 := sharedL2(t, srv.Addr, ring, e.clk)
	cache := instance(t, l2, e.clk)
	use := func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = cache }
	const sessionKey = "session-id-7f3a9c2e41d8"
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, use)
	s := web.Session(sessionKey)
	user, err := s.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope})
	if err != nil {
		t.Fatal(err)
	}
	graph, _ := s.ForUser(bg, []string{"User.Read"})
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret, use)
	_, obo, _ := api.StartLongRunning(bg, user.AccessToken, []string{"User.Read"})
	app, _ := e.daemon(use).ForApp(bg, apiDefault)

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) < 6 {
		t.Fatalf("keys in Redis: %d, %v", len(keys), err)
	}
	secrets := []string{user.AccessToken, user.IDToken, graph.AccessToken, obo.AccessToken, app.AccessToken,
		sessionKey, "job-session-key", iwt.AliceObjectID, iwt.AliceUsername, "Alice Example", iwt.WebAppSecret}
	for _, k := range keys {
		v, _ := rdb.Get(context.Background(), k).Bytes()
		for _, where := range [][]byte{[]byte(k), v} {
			for _, sec := range secrets {
				if strings.Contains(string(where), sec) {
					t.Fatalf("Redis holds %.16q… in clear", sec)
				}
			}
			if reJWT.Match(where) || reRefresh.Match(where) {
				t.Fatalf("Redis holds a token in clear under %q", k)
			}
		}
	}
	// Rotating the key ring (a new key first, the old one kept) keeps what
	// Redis holds readable.
	rotated, _ := cachestore.NewKeyRing(cachestore.NewKey(), key)
	rotCache := instance(t, sharedL2(t, srv.Addr, rotated, e.clk), e.clk)
	r, err := e.daemon(func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = rotCache }).ForApp(bg, apiDefault)
	if err != nil || r.AccessToken != app.AccessToken || r.Metadata.CacheLevel != identityweb.CacheLevelL2 {
		t.Fatalf("after key rotation: %v %+v", err, r.Metadata)
	}
	// A value copied under another key does not open: a miss, not an error.
	var tokenKeys []string
	for _, k := range keys {
		if strings.HasPrefix(k, "app:k:") {
			tokenKeys = append(tokenKeys, k)
		}
	}
	// Every entry gets its neighbour's value: each now holds a value sealed
	// for another key.
	values := make([][]byte, len(tokenKeys))
	for i, k := range tokenKeys {
		values[i], _ = rdb.Get(context.Background(), k).Bytes()
	}
	for i, k := range tokenKeys {
		rdb.Set(context.Background(), k, values[(i+1)%len(values)], time.Hour)
	}
	fresh := instance(t, l2, e.clk) // empty L1: reads L2
	web2 := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = fresh })
	before := l2.DecryptFailures()
	web2.Session(sessionKey).ForUser(bg, []string{apiScope})
	if l2.DecryptFailures() == before {
		t.Fatal("a value moved to another key was accepted")
	}
}

// Redis goes away (a failover, a restart) just as three instances must
// refresh one user: no instance spends the refresh token without the
// shared lock — they wait for Redis, then one refreshes and the others use
// its token. A refresh token spent twice would end the user's session at a
// provider that detects reuse (this one does).
func TestRefreshWaitsForTheLockAcrossAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External() {
		t.Skip("needs a private redis-server behind the proxy")
	}
	proxy := redistest.StartProxy(t, srv.Addr)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername, RevokeRefreshTokenFamilyOnReuse: true, AccessTokenLifetime: time.Hour})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(t, proxy.Addr, ring, e.clk)
	var sessions []identityweb.UserSession
	for i := 0; i < 3; i++ {
		cache := instance(t, l2, e.clk)
		web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = cache })
		sessions = append(sessions, web.Session("alice-browser-session"))
	}
	if _, err := sessions[0].RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions[1:] { // every instance holds the refresh token in its L1
		if _, err := s.ForUser(bg, []string{apiScope}); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Advance(2 * time.Hour)
	e.idp.ResetRequests()
	proxy.SetMode(redistest.Reset)
	time.AfterFunc(time.Second, func() { proxy.SetMode(redistest.Pass) })
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.ForUser(bg, []string{apiScope})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i+1, err)
		}
	}
	if n, reuses := e.idp.TokenRequests("refresh_token"), e.idp.RefreshTokenReuses(); n != 1 || reuses != 0 {
		t.Fatalf("refresh requests = %d, reuses = %d; want 1 and 0", n, reuses)
	}
}

// Redis stays away longer than the lock wait: the refresh token is not
// spent and the call says "retry later" (ErrUnavailable), not "sign in".
func TestRefreshIsNotSpentWithoutTheLock(t *testing.T) {
	srv := redistest.Start(t)
	if srv.External() {
		t.Skip("needs a private redis-server behind the proxy")
	}
	proxy := redistest.StartProxy(t, srv.Addr)
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername, AccessTokenLifetime: time.Hour})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(t, proxy.Addr, ring, e.clk)
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) {
		o.Cache, o.RefreshLockWait = instance(t, l2, e.clk), 700*time.Millisecond
	})
	s := web.Session("alice-browser-session")
	if _, err := s.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Hour)
	e.idp.ResetRequests()
	proxy.SetMode(redistest.Reset)
	_, err := s.ForUser(bg, []string{apiScope})
	if !errors.Is(err, identityweb.ErrUnavailable) || errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("ForUser without the lock: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), proxy.Addr) {
		t.Fatalf("the error names Redis's address: %v", err)
	}
	if n := e.idp.TokenRequests("refresh_token"); n != 0 {
		t.Fatalf("%d refresh requests without the lock", n)
	}
	proxy.SetMode(redistest.Pass)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = s.ForUser(bg, []string{apiScope}); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("after Redis came back: %v", err)
	}
}
