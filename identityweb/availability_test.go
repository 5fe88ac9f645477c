package identityweb_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestProactiveRefresh(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: 4 * time.Hour}) // refresh_in = 2h
	a := e.daemon()
	first, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	if !first.RefreshOn.Equal(e.clk.Now().Add(2 * time.Hour)) {
		t.Fatalf("RefreshOn = %v, want now+2h from refresh_in", first.RefreshOn)
	}
	e.clk.Advance(2*time.Hour + time.Minute)
	for i := 0; i < 20; i++ { // every hit returns at once with the cached token
		r, err := a.ForApp(bg, apiDefault)
		if err != nil || r.AccessToken != first.AccessToken || r.Metadata.Source != identityweb.SourceCache {
			t.Fatalf("hit past refresh_on: %v %+v", err, r.Metadata)
		}
	}
	identityweb.WaitForBackground(a) // wait for the background refresh
	if n := e.idp.TokenRequests(); n != 2 {
		t.Fatalf("requests = %d, want 1 + exactly 1 background refresh", n)
	}
	r, _ := a.ForApp(bg, apiDefault)
	if r.AccessToken == first.AccessToken || r.Metadata.Source != identityweb.SourceCache {
		t.Fatal("the background refresh did not replace the cached token")
	}
}

func TestRefreshOnWithoutRefreshIn(t *testing.T) {
	// A provider that sends no refresh_in: tokens living 2 hours or more are
	// refreshed at half their life; shorter ones only near expiry.
	e := newEnv(t, iwt.Options{AccessTokenLifetime: time.Hour})
	if r, _ := e.daemon().ForApp(bg, apiDefault); !r.RefreshOn.IsZero() {
		t.Fatalf("1h token has RefreshOn %v", r.RefreshOn)
	}
}

// rotatingCredential stands for a certificate kept in a vault: Reload
// fetches whatever the vault holds now.
type rotatingCredential struct {
	mu      sync.Mutex
	vault   *certsource.Certificate
	current *certsource.Certificate
	reloads int
}

func (r *rotatingCredential) ClientAuth(ctx context.Context, req certsource.AuthRequest) (certsource.AuthParams, error) {
	r.mu.Lock()
	c := r.current
	r.mu.Unlock()
	return c.ClientAuth(ctx, req)
}

func (r *rotatingCredential) Reload(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = r.vault
	r.reloads++
	return nil
}

func (r *rotatingCredential) Description() string { return "test vault certificate" }

func certCred(t *testing.T) (*certsource.Certificate, *iwt.Certificate) {
	c, err := iwt.NewCertificate("daemon", 0)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := certsource.NewCertificate([]*x509.Certificate{c.Cert}, c.Key, certsource.CertificateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cred, c
}

func TestCertificateRotationReloadsOnce(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	oldCred, oldCert := certCred(t)
	newCred, newCert := certCred(t)
	e.idp.AddCertificate(iwt.DaemonClientID, oldCert)
	rc := &rotatingCredential{vault: oldCred, current: oldCred}
	a := e.daemon(func(c *identityweb.Config, o *identityweb.Options) { c.ClientSecret = ""; o.Credential = rc })
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	// The certificate is rotated in the vault and the old one revoked at the IdP.
	rc.mu.Lock()
	rc.vault = newCred
	rc.mu.Unlock()
	e.idp.AddCertificate(iwt.DaemonClientID, newCert)
	e.idp.RevokeCertificate(iwt.DaemonClientID, oldCert)
	e.idp.ResetRequests()
	if _, err := a.ForApp(bg, apiDefault, identityweb.WithForceRefresh()); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if rc.reloads != 1 || e.idp.TokenRequests() != 2 {
		t.Fatalf("reloads = %d, requests = %d; want 1 and 2", rc.reloads, e.idp.TokenRequests())
	}
	// A credential that stays bad is reloaded once and the error returned.
	e.idp.RevokeCertificate(iwt.DaemonClientID, newCert)
	e.idp.ResetRequests()
	_, err := a.ForApp(bg, apiDefault, identityweb.WithForceRefresh())
	var oe *identityweb.OAuthError
	if !errors.As(err, &oe) || oe.AADSTS() != iwt.CodeUnknownCertificate || !errors.Is(err, identityweb.ErrInvalidClient) || e.idp.TokenRequests() != 2 {
		t.Fatalf("revoked for good: %v after %d requests", err, e.idp.TokenRequests())
	}
}

func TestIdPDownForHours(t *testing.T) {
	e := newEnv(t, iwt.Options{AccessTokenLifetime: 24 * time.Hour}) // refresh_in 12h
	a := e.daemon()
	tok, err := a.ForApp(bg, apiDefault)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(11 * time.Hour)
	e.idp.SetOutage(true)
	// Four hours of outage across refresh_on: every call succeeds.
	for step := 0; step < 4*60/5; step++ {
		e.clk.Advance(5 * time.Minute)
		r, err := a.ForApp(bg, apiDefault)
		if err != nil || r.AccessToken != tok.AccessToken {
			t.Fatalf("at +%v: %v", 11*time.Hour+time.Duration(step+1)*5*time.Minute, err)
		}
		identityweb.WaitForBackground(a) // let the background attempt finish before moving the clock
	}
	attempts := 0
	for _, r := range e.idp.Requests() {
		if r.Endpoint == "outage" {
			attempts++
		}
	}
	// Background attempts back off (30 s doubling to 5 min): with one try
	// and one retry per attempt, at most 2 per 5-minute step.
	if attempts == 0 || attempts > 2*4*60/5 {
		t.Fatalf("background attempts during the outage = %d", attempts)
	}
	// Inside the expiry buffer but before exp the provider still fails: the
	// valid token is served, marked stale.
	e.clk.Advance(24*time.Hour - 15*time.Hour - 2*time.Minute)
	r, err := a.ForApp(bg, apiDefault)
	if err != nil || !r.Metadata.Stale || r.AccessToken != tok.AccessToken {
		t.Fatalf("2 minutes before exp: %v %+v", err, r.Metadata)
	}
	// Once it has truly expired, the outage reaches the caller.
	e.clk.Advance(3 * time.Minute)
	if _, err := a.ForApp(bg, apiDefault); err == nil {
		t.Fatal("an expired token was served")
	}
	e.idp.SetOutage(false)
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestCorruptCacheEntryIsAMiss(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	mem := cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})
	a := e.daemon(func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = mem })
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	// Overwrite every entry with garbage.
	for _, key := range cacheKeys(t, a) {
		mem.Set(bg, key, []byte{1, 'T', 0xff}, time.Hour)
	}
	r, err := a.ForApp(bg, apiDefault)
	if err != nil || r.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("corrupt entry: %v %+v", err, r.Metadata)
	}
	if !strings.Contains(e.logs.String(), "corrupt") {
		t.Fatal("no warning for the corrupt entry")
	}
}

func TestTenantOverride(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	a := e.daemon()
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	r, err := a.ForApp(bg, apiDefault, identityweb.WithTenant(iwt.DefaultTenantDomain))
	if err != nil || r.Metadata.Source != identityweb.SourceIdentityProvider {
		t.Fatalf("tenant override shared the default tenant's entry: %v %+v", err, r.Metadata)
	}
	if recs := e.idp.Requests(); recs[len(recs)-1].Tenant != iwt.DefaultTenantDomain {
		t.Fatalf("request went to tenant %q", recs[len(recs)-1].Tenant)
	}
}
