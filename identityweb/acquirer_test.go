package identityweb_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestForAppThenCacheHit(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	a := e.daemon()
	first, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	m := first.Metadata
	if m.Source != identityweb.SourceIdentityProvider || m.CacheLevel != identityweb.CacheLevelNone || m.RefreshReason != identityweb.RefreshNoCachedToken || first.TokenType != "Bearer" {
		t.Fatalf("first metadata = %+v", m)
	}
	if !first.ExpiresOn.Equal(e.clk.Now().Add(time.Hour)) || !first.RefreshOn.IsZero() || first.ExtExpiresOn.IsZero() {
		t.Fatalf("expiry: %v refresh %v ext %v", first.ExpiresOn, first.RefreshOn, first.ExtExpiresOn)
	}
	second, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken != first.AccessToken || second.Metadata.Source != identityweb.SourceCache || second.Metadata.CacheLevel != identityweb.CacheLevelL1 || second.Metadata.RefreshReason != identityweb.RefreshNotApplicable {
		t.Fatalf("second = %+v", second.Metadata)
	}
	if n := e.idp.TokenRequests(); n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
}

// TestHitAllocations holds DESIGN §6's "0 allocations per L1 hit" (the
// hit path builds its key on the stack and shares the cached bytes; a
// caller's scopes must not escape to the heap), and the L1 hit's metadata.
func TestHitAllocations(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	a := e.daemon()
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret)
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret)
	user := web.Session("alloc-session")
	if _, err := user.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	alice, _ := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	graph, userScopes := []string{"User.Read"}, []string{apiScope}
	for name, hit := range map[string]func() (identityweb.Result, error){
		"app":  func() (identityweb.Result, error) { return a.ForApp(bg, apiDefault) },
		"obo":  func() (identityweb.Result, error) { return api.OnBehalfOf(bg, alice, graph) },
		"user": func() (identityweb.Result, error) { return user.ForUser(bg, userScopes) },
	} {
		if _, err := hit(); err != nil {
			t.Fatal(err)
		}
		var res identityweb.Result
		allocs := testing.AllocsPerRun(100, func() { res, _ = hit() })
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per hit, want 0", name, allocs)
		}
		if m := res.Metadata; m.Source != identityweb.SourceCache || m.CacheLevel != identityweb.CacheLevelL1 || m.DurationTotal != 0 || res.AccessToken == "" {
			t.Errorf("%s: hit = %+v", name, m)
		}
	}
}

func TestOnBehalfOfCached(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret)
	alice, _ := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	bob, _ := e.idp.UserToken(iwt.BobUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	for i := 0; i < 3; i++ {
		res, err := api.OnBehalfOf(bg, alice, []string{"User.Read"})
		if err != nil {
			t.Fatal(err)
		}
		if want := identityweb.SourceCache; i > 0 && res.Metadata.Source != want {
			t.Fatalf("call %d source = %v", i, res.Metadata.Source)
		}
	}
	res, err := api.OnBehalfOf(bg, bob, []string{"User.Read"})
	if err != nil || res.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("another caller shared a cache entry: %v %+v", err, res.Metadata)
	}
	if n := e.idp.TokenRequests(iwt.GrantJWTBearer); n != 2 {
		t.Fatalf("OBO requests = %d, want 2", n)
	}
}

func TestOnBehalfOfTokenExchange(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret, func(c *identityweb.Config, _ *identityweb.Options) {
		c.OnBehalfOfGrant = "token-exchange"
	})
	alice, _ := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	if _, err := api.OnBehalfOf(bg, alice, []string{"User.Read"}); err != nil {
		t.Fatal(err)
	}
	if n := e.idp.TokenRequests(iwt.GrantTokenExchange); n != 1 {
		t.Fatalf("token-exchange requests = %d", n)
	}
}

func TestStandardsProviderByDiscovery(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	a := e.daemon(func(c *identityweb.Config, _ *identityweb.Options) {
		c.Instance, c.TenantID, c.Authority = "", "", e.idp.Issuer(tenant)
	})
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ForApp(bg, apiDefault, identityweb.WithTenant("other")); err == nil {
		t.Fatal("tenant override accepted without an Entra authority")
	}
}

func TestUserFlow(t *testing.T) {
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret)
	s := web.Session("browser-session-1")
	res, err := s.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope})
	if err != nil {
		t.Fatal(err)
	}
	if res.Account == nil || res.Account.ObjectID != iwt.AliceObjectID || res.Account.Username != iwt.AliceUsername || res.IDToken == "" {
		t.Fatalf("account = %+v", res.Account)
	}
	hit, err := s.ForUser(bg, []string{apiScope})
	if err != nil || hit.AccessToken != res.AccessToken || hit.Metadata.Source != identityweb.SourceCache {
		t.Fatalf("ForUser after RedeemCode: %v %+v", err, hit.Metadata)
	}
	graph, err := s.ForUser(bg, []string{"User.Read"})
	if err != nil || graph.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("ForUser for another resource: %v %+v", err, graph.Metadata)
	}
	if _, err := web.Session("browser-session-1").ForUser(bg, []string{"User.Read"}); err != nil {
		t.Fatal(err)
	}
	if n := e.idp.TokenRequests("refresh_token"); n != 1 {
		t.Fatalf("refresh requests = %d", n)
	}
	// Another session has no account: interaction required, no request.
	_, err = web.Session("browser-session-2").ForUser(bg, []string{apiScope})
	if !errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("unknown session: %v", err)
	}
	if acct, ok := s.Account(bg); !ok || acct.Name == "" {
		t.Fatalf("Account = %+v %v", acct, ok)
	}
	if err := s.RemoveAccount(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ForUser(bg, []string{apiScope}); !errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("after RemoveAccount: %v", err)
	}
	if n := e.idp.RefreshTokenReuses(); n != 0 {
		t.Fatalf("refresh token reused %d times", n)
	}
}

func TestConsentRequiredIsInteractionRequired(t *testing.T) {
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.BobUsername})
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret)
	s := web.Session("bob")
	if _, err := s.RedeemCode(bg, e.code(iwt.BobUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	_, err := s.ForUser(bg, []string{apiScope2}) // never consented
	var oe *identityweb.OAuthError
	if !errors.Is(err, identityweb.ErrInteractionRequired) || !errors.As(err, &oe) || oe.AADSTS() != iwt.CodeConsentRequired || oe.Suberror != "consent_required" {
		t.Fatalf("consent missing: %v", err)
	}
	e.idp.RevokeRefreshTokens(iwt.BobUsername)
	_, err = s.ForUser(bg, []string{"User.Read"})
	if !errors.Is(err, identityweb.ErrInteractionRequired) || errors.Is(err, identityweb.ErrInvalidClient) {
		t.Fatalf("revoked refresh token: %v", err)
	}
	// For the app flow invalid_grant is not "interaction required".
	_, err = e.daemon(func(c *identityweb.Config, _ *identityweb.Options) { c.ClientSecret = "wrong" }).ForApp(bg, apiDefault)
	if !errors.Is(err, identityweb.ErrInvalidClient) || errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("bad secret: %v", err)
	}
}

func TestLongRunningOBO(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret)
	alice, _ := e.idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user")
	key, first, err := api.StartLongRunning(bg, alice, []string{"User.Read"})
	if err != nil || key == "" {
		t.Fatal(key, err)
	}
	// Hours later the incoming token and the first OBO token have expired;
	// the job goes on with the kept refresh token and no incoming token.
	e.clk.Advance(3 * time.Hour)
	later, err := api.ContinueLongRunning(bg, key, []string{"User.Read"})
	if err != nil {
		t.Fatal(err)
	}
	if later.AccessToken == first.AccessToken || later.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("later = %+v", later.Metadata)
	}
	if e.idp.TokenRequests(iwt.GrantJWTBearer) != 1 || e.idp.TokenRequests("refresh_token") != 1 {
		t.Fatalf("requests: obo %d refresh %d", e.idp.TokenRequests(iwt.GrantJWTBearer), e.idp.TokenRequests("refresh_token"))
	}
	if _, err := api.ContinueLongRunning(bg, "unknown", []string{"User.Read"}); !errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("unknown session: %v", err)
	}
	// Ended: nothing is served any more, from the cache or the refresh token.
	if err := api.EndLongRunning(bg, key); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ContinueLongRunning(bg, key, []string{"User.Read"}); !errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("after EndLongRunning: %v", err)
	}
	for _, err := range []error{
		func() error { _, _, err := api.StartLongRunning(bg, "", []string{"User.Read"}); return err }(),
		func() error { _, err := api.ContinueLongRunning(bg, "", []string{"User.Read"}); return err }(),
		api.EndLongRunning(bg, ""),
	} {
		if !errors.Is(err, identityweb.ErrConfig) {
			t.Fatalf("misuse: %v", err)
		}
	}
}

func TestExpiryBuffer(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	a := e.daemon()
	first, _ := a.ForApp(bg, apiDefault)
	e.clk.Advance(54 * time.Minute)
	if r, _ := a.ForApp(bg, apiDefault); r.AccessToken != first.AccessToken {
		t.Fatal("token replaced 6 minutes before expiry")
	}
	e.clk.Advance(2 * time.Minute) // 4 minutes left: inside the 5-minute buffer
	r, err := a.ForApp(bg, apiDefault)
	if err != nil || r.AccessToken == first.AccessToken || r.Metadata.RefreshReason != identityweb.RefreshExpired {
		t.Fatalf("inside the buffer: %v %+v", err, r.Metadata)
	}
	// A custom buffer.
	b := e.daemon(func(_ *identityweb.Config, o *identityweb.Options) { o.ExpiryBuffer = 30 * time.Minute })
	b.ForApp(bg, apiDefault)
	e.clk.Advance(31 * time.Minute)
	if r, _ := b.ForApp(bg, apiDefault); r.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatal("ExpiryBuffer not honoured")
	}
}

func TestForceRefreshAndClaims(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	a := e.daemon()
	first, _ := a.ForApp(bg, apiDefault)
	forced, err := a.ForApp(bg, apiDefault, identityweb.WithForceRefresh())
	if err != nil || forced.AccessToken == first.AccessToken || forced.Metadata.RefreshReason != identityweb.RefreshForced {
		t.Fatalf("force refresh: %v %+v", err, forced.Metadata)
	}
	claims := `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
	withClaims, err := a.ForApp(bg, apiDefault, identityweb.WithClaims(claims))
	if err != nil || withClaims.Metadata.RefreshReason != identityweb.RefreshClaims {
		t.Fatalf("claims: %v %+v", err, withClaims.Metadata)
	}
	// The claims-satisfying token replaced the cached one.
	if r, _ := a.ForApp(bg, apiDefault); r.AccessToken != withClaims.AccessToken {
		t.Fatal("the token acquired with claims was not cached")
	}
	if n := e.idp.TokenRequests(); n != 3 {
		t.Fatalf("requests = %d, want 3", n)
	}
}

func TestSingleFlight(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	e.idp.SetLatency(50 * time.Millisecond)
	a := e.daemon()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.ForApp(bg, apiDefault); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := e.idp.TokenRequests(); n != 1 {
		t.Fatalf("1,000 callers for one missing token sent %d requests, want 1", n)
	}
	// Two different scope sets at once never share a flight.
	b := e.daemon()
	wg.Add(2)
	for _, scope := range []string{apiDefault, iwt.GraphResource + "/.default"} {
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := b.ForApp(bg, scope); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if n := e.idp.TokenRequests(); n != 3 {
		t.Fatalf("two scope sets: %d requests in all, want 1+2", n)
	}
}

func TestRetryOn5xx(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	a := e.daemon()
	e.idp.FailNext(1, iwt.Fault{Status: 500})
	before := e.clk.Now()
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatalf("500 then success: %v", err)
	}
	if n := e.idp.TokenRequests(); n != 2 {
		t.Fatalf("requests = %d, want 2", n)
	}
	if waited := e.clk.Now().Sub(before); waited < 800*time.Millisecond || waited > 1200*time.Millisecond {
		t.Fatalf("retry delay = %v, want ~1s", waited)
	}
	e.idp.ResetRequests()
	e.idp.FailNext(10, iwt.Fault{Status: 500})
	_, err := a.ForApp(bg, iwt.GraphResource+"/.default")
	var oe *identityweb.OAuthError
	if !errors.As(err, &oe) || oe.StatusCode != 500 || oe.CorrelationID == "" {
		t.Fatalf("persistent 500: %v", err)
	}
	if n := e.idp.TokenRequests(); n != 2 {
		t.Fatalf("persistent 500: %d requests, want exactly 2", n)
	}
}

func TestThrottling(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	a := e.daemon()
	cached, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	e.idp.ResetRequests()
	e.idp.FailNext(1, iwt.Fault{Status: 429, RetryAfter: time.Minute})
	graph := iwt.GraphResource + "/.default"
	_, err = a.ForApp(bg, graph)
	var te *identityweb.ThrottledError
	if !errors.Is(err, identityweb.ErrThrottled) || !errors.As(err, &te) || !te.RetryAfter.Equal(e.clk.Now().Add(time.Minute)) {
		t.Fatalf("429: %v", err)
	}
	for i := 0; i < 5; i++ {
		if _, err := a.ForApp(bg, graph); !errors.Is(err, identityweb.ErrThrottled) {
			t.Fatalf("during Retry-After: %v", err)
		}
		if r, err := a.ForApp(bg, apiDefault); err != nil || r.AccessToken != cached.AccessToken {
			t.Fatalf("cached token not served while throttled: %v", err)
		}
	}
	if n := e.idp.TokenRequests(); n != 1 {
		t.Fatalf("requests while throttled = %d, want 1", n)
	}
	e.clk.Advance(61 * time.Second)
	if _, err := a.ForApp(bg, graph); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	// 503 with Retry-After: no immediate retry either; Retry-After is capped at 1 h.
	e.idp.ResetRequests()
	e.idp.FailNext(1, iwt.Fault{Status: 503, RetryAfter: 5 * time.Hour})
	_, err = a.ForApp(bg, apiDefault, identityweb.WithForceRefresh())
	if !errors.As(err, &te) || te.RetryAfter.After(e.clk.Now().Add(time.Hour)) || e.idp.TokenRequests() != 1 {
		t.Fatalf("503: %v after %d requests", err, e.idp.TokenRequests())
	}
}
