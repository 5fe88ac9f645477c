package identityweb_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func daemonWith(t *testing.T, idp *iwt.Server, cred certsource.Credential) *identityweb.TokenAcquirer {
	t.Helper()
	a, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.DaemonClientID},
		identityweb.Options{HTTPClient: idp.Client(), Credential: cred, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestManagedIdentityIMDS(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	mi := iwt.NewManagedIdentityServer(t)
	idp.AddFederatedCredential(iwt.DaemonClientID, iwt.FederatedCredential{Issuer: mi.URL, Subject: mi.Subject("")})
	a := daemonWith(t, idp, certsource.NewManagedIdentity(certsource.ManagedIdentityOptions{Endpoint: mi.URL}))
	for i := 0; i < 3; i++ {
		if _, err := a.ForApp(bg, apiDefault, identityweb.WithForceRefresh()); err != nil {
			t.Fatalf("acquisition %d: %v", i, err)
		}
	}
	if mi.Calls() != 1 {
		t.Fatalf("IMDS called %d times, want 1 (assertion cached until near expiry)", mi.Calls())
	}
	if c := idp.Requests()[0].Credential; !strings.HasPrefix(c, "federated "+mi.URL) {
		t.Fatalf("credential seen by the provider: %q", c)
	}
	// Another identity (not trusted by the app registration) is refused.
	b := daemonWith(t, idp, certsource.NewManagedIdentity(certsource.ManagedIdentityOptions{Endpoint: mi.URL, ClientID: "someone-else"}))
	if _, err := b.ForApp(bg, apiDefault); !errors.Is(err, identityweb.ErrInvalidClient) {
		t.Fatalf("untrusted identity: %v", err)
	}
}

func TestManagedIdentityAppService(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	mi := iwt.NewManagedIdentityServer(t)
	idp.AddFederatedCredential(iwt.DaemonClientID, iwt.FederatedCredential{Issuer: mi.URL, Subject: mi.Subject("uami-1")})
	t.Setenv("IDENTITY_ENDPOINT", mi.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", mi.IdentityHeader)
	a := daemonWith(t, idp, certsource.NewManagedIdentity(certsource.ManagedIdentityOptions{ClientID: "uami-1"}))
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatalf("App Service managed identity: %v", err)
	}
	t.Setenv("IDENTITY_HEADER", "wrong")
	c := certsource.NewManagedIdentity(certsource.ManagedIdentityOptions{ClientID: "uami-1"})
	if _, err := c.ClientAuth(bg, certsource.AuthRequest{}); err == nil || !strings.Contains(err.Error(), "managed identity") {
		t.Fatalf("wrong identity header: %v", err)
	}
}

func TestManagedIdentityTimeout(t *testing.T) {
	mi := iwt.NewManagedIdentityServer(t)
	mi.SetDelay(10 * time.Second)
	c := certsource.NewManagedIdentity(certsource.ManagedIdentityOptions{Endpoint: mi.URL, Timeout: 100 * time.Millisecond})
	_, err := c.ClientAuth(bg, certsource.AuthRequest{})
	if err == nil || !strings.Contains(err.Error(), "managed identity endpoint unreachable") || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("timeout: %v", err)
	}
}

func TestWorkloadIdentityTokenFile(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	mi := iwt.NewManagedIdentityServer(t) // plays the Kubernetes OIDC issuer
	idp.AddFederatedCredential(iwt.DaemonClientID, iwt.FederatedCredential{Issuer: mi.URL, Subject: mi.Subject("pod-sa")})
	req, _ := http.NewRequest(http.MethodGet, mi.URL+"/metadata/identity/oauth2/token?resource=api://AzureADTokenExchange&client_id=pod-sa", nil)
	req.Header.Set("Metadata", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := strings.Split(strings.Split(string(b), `"access_token":"`)[1], `"`)[0]
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte(token+"\n"), 0o600)
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", path)
	f, err := certsource.NewTokenFile("", certsource.TokenFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := daemonWith(t, idp, f)
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatalf("workload identity: %v", err)
	}
	// A truncated file keeps the last good assertion.
	os.WriteFile(path, []byte("eyJ"), 0o600)
	if err := f.Reload(bg); err == nil {
		t.Fatal("a truncated token file loaded")
	}
	if _, err := a.ForApp(bg, apiDefault, identityweb.WithForceRefresh()); err != nil {
		t.Fatalf("after a bad file: %v", err)
	}
	if _, err := certsource.NewTokenFile(filepath.Join(t.TempDir(), "missing"), certsource.TokenFileOptions{}); err == nil {
		t.Fatal("a missing file loaded")
	}
}
