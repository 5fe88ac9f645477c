package keyvault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/certsource/keyvault"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func clientOptions(v *vault) *azsecrets.ClientOptions {
	return &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: v.srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableChallengeResourceVerification: true, // the emulator is not *.vault.azure.net
	}
}

func pfxOf(t *testing.T, c *iwt.Certificate) string {
	b, err := pkcs12.Modern.Encode(c.Key, c.Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestKeyVaultCertificate(t *testing.T) {
	v := newVault(t)
	a, _ := iwt.NewCertificate("a", 0)
	v.put("app-cert", pfxOf(t, a), "application/x-pkcs12")
	cred := &staticCredential{}
	src, err := keyvault.New(v.srv.URL, "app-cert", cred, keyvault.Options{ClientOptions: clientOptions(v)})
	if err != nil {
		t.Fatal(err)
	}
	if v.challenges == 0 || cred.calls == 0 {
		t.Fatalf("no challenge authentication (challenges %d, token requests %d)", v.challenges, cred.calls)
	}
	if !strings.Contains(src.Description(), "app-cert") {
		t.Fatal(src.Description())
	}
	idp := iwt.NewServer(t, iwt.Options{})
	idp.AddCertificate(iwt.DaemonClientID, a)
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: iwt.DaemonClientID},
		identityweb.Options{HTTPClient: idp.Client(), Credential: src})
	if _, err := acq.ForApp(context.Background(), iwt.WebAPIIdentifierURI+"/.default"); err != nil {
		t.Fatal(err)
	}
	// A PEM secret works too.
	v.put("pem-cert", a.CertificatePEM()+a.KeyPEM(), "application/x-pem-file")
	if _, err := keyvault.New(v.srv.URL, "pem-cert", cred, keyvault.Options{ClientOptions: clientOptions(v)}); err != nil {
		t.Fatalf("PEM secret: %v", err)
	}
}

func TestKeyVaultBadInputsKeepLastGood(t *testing.T) {
	v := newVault(t)
	a, _ := iwt.NewCertificate("a", 0)
	v.put("c", pfxOf(t, a), "application/x-pkcs12")
	logs := &logBuf{}
	src, err := keyvault.New(v.srv.URL, "c", &staticCredential{}, keyvault.Options{ClientOptions: clientOptions(v),
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	good := src.Description()
	ctx := context.Background()
	cases := map[string]func(){
		"wrong content type": func() { v.put("c", "hunter2", "text/plain") },
		"corrupt PFX":        func() { v.put("c", base64.StdEncoding.EncodeToString([]byte("not a pfx")), "application/x-pkcs12") },
		"403":                func() { v.setFail(403) },
		"404":                func() { v.setFail(404) },
		"500":                func() { v.setFail(500) },
	}
	for name, breakIt := range cases {
		breakIt()
		err := src.Reload(ctx)
		v.setFail(0)
		if err == nil || !strings.Contains(err.Error(), "/secrets/c") {
			t.Fatalf("%s: Reload = %v, want an error naming the secret", name, err)
		}
		if src.Description() != good {
			t.Fatalf("%s replaced the certificate", name)
		}
	}
	if _, err := keyvault.New(v.srv.URL, "missing", &staticCredential{}, keyvault.Options{ClientOptions: clientOptions(v)}); err == nil {
		t.Fatal("a missing secret loaded")
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Fatal("a secret value reached the logs")
	}
}

// TestKeyVaultRotationUnderLoad: 20 goroutines acquire app tokens (force
// refresh) while a new certificate version is put in the vault and the old
// certificate revoked at the provider: no acquisition fails.
func TestKeyVaultRotationUnderLoad(t *testing.T) {
	v := newVault(t)
	oldCert, _ := iwt.NewCertificate("old", 0)
	newCert, _ := iwt.NewCertificate("new", 0)
	v.put("c", pfxOf(t, oldCert), "application/x-pkcs12")
	src, err := keyvault.New(v.srv.URL, "c", &staticCredential{}, keyvault.Options{ClientOptions: clientOptions(v), RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	idp := iwt.NewServer(t, iwt.Options{})
	idp.AddCertificate(iwt.DaemonClientID, oldCert)
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: iwt.DaemonClientID},
		identityweb.Options{HTTPClient: idp.Client(), Credential: src, Logger: slog.New(slog.NewTextHandler(&logBuf{}, nil))})
	var failed, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := acq.ForApp(context.Background(), iwt.WebAPIIdentifierURI+"/.default", identityweb.WithForceRefresh()); err != nil {
					failed.Add(1)
					t.Log(err)
				} else {
					ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	idp.AddCertificate(iwt.DaemonClientID, newCert)
	v.put("c", pfxOf(t, newCert), "application/x-pkcs12") // the new version
	idp.RevokeCertificate(iwt.DaemonClientID, oldCert)    // the old one removed
	time.Sleep(400 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d failed, %d succeeded", failed.Load(), ok.Load())
	}
	recs := idp.Requests()
	if last := recs[len(recs)-1].Credential; !strings.HasPrefix(last, "certificate sha256:") || strings.Contains(src.Description(), last[len("certificate "):]) == false {
		t.Fatalf("the provider's last request used %q; the source holds %q", last, src.Description())
	}
	t.Logf("%d acquisitions, 0 failed across the vault rotation", ok.Load())
}

// The vault reached with the app's managed identity (IMDS emulator).
func TestKeyVaultWithManagedIdentity(t *testing.T) {
	v := newVault(t)
	v.acceptJWT = true
	a, _ := iwt.NewCertificate("a", 0)
	v.put("c", pfxOf(t, a), "application/x-pkcs12")
	mi := iwt.NewManagedIdentityServer(t)
	cred := keyvault.ManagedIdentityCredential(certsource.ManagedIdentityOptions{Endpoint: mi.URL})
	if _, err := keyvault.New(v.srv.URL, "c", cred, keyvault.Options{ClientOptions: clientOptions(v)}); err != nil {
		t.Fatalf("vault through managed identity: %v", err)
	}
	if mi.Calls() != 1 {
		t.Fatalf("IMDS calls = %d", mi.Calls())
	}
}
