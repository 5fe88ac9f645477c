package identityweb_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func TestLoadConfigFileAndEnvironment(t *testing.T) {
	e := newEnv(t, iwt.Options{})
	cert, err := iwt.NewCertificate("daemon", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.idp.AddCertificate(iwt.DaemonClientID, cert)
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "daemon.pem")
	os.WriteFile(pemPath, []byte(cert.CertificatePEM()+cert.KeyPEM()), 0o600)
	settings := `{
	  "Logging": {"LogLevel": {"Default": "Information"}},
	  "AzureAd": {
	    "Instance": "` + e.idp.URL + `/",
	    "TenantId": "from-file",
	    "ClientId": "from-file",
	    "CallbackPath": "/signin-oidc",
	    "ClientCredentials": [
	      {"SourceType": "Path", "CertificateDiskPath": "` + filepath.Join(dir, "missing.pem") + `"},
	      {"SourceType": "Path", "CertificateDiskPath": "` + pemPath + `"}
	    ]
	  }
	}`
	path := filepath.Join(dir, "appsettings.json")
	os.WriteFile(path, []byte(settings), 0o600)
	t.Setenv("AzureAd__ClientId", iwt.DaemonClientID) // .NET-style override
	t.Setenv("AZURE_TENANT_ID", "ignored: the file sets TenantId")
	cfg, err := identityweb.LoadConfig(path, "AzureAd")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != iwt.DaemonClientID || cfg.TenantID != "from-file" || len(cfg.ClientCredentials) != 2 {
		t.Fatalf("cfg = %+v", cfg)
	}
	cfg.TenantID = tenant
	a, err := identityweb.NewTokenAcquirer(cfg, identityweb.Options{HTTPClient: e.idp.Client(), Clock: e.clk, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ForApp(bg, apiDefault); err != nil {
		t.Fatalf("with the certificate from the file: %v", err)
	}
	if e.idp.Requests()[0].ClientID != iwt.DaemonClientID {
		t.Fatal("request not from the daemon")
	}
}

func TestConfigFromAzureSDKEnvironment(t *testing.T) {
	t.Setenv("AZURE_TENANT_ID", "t-env")
	t.Setenv("AZURE_CLIENT_ID", "c-env")
	t.Setenv("AZURE_CLIENT_SECRET", "s-env")
	cfg, err := identityweb.LoadConfig("", "AzureAd")
	if err != nil || cfg.TenantID != "t-env" || cfg.ClientID != "c-env" || cfg.ClientSecret != "s-env" {
		t.Fatalf("%+v %v", cfg, err)
	}
	t.Setenv("AZURE_CLIENT_SECRET", "")
	t.Setenv("AZURE_CLIENT_CERTIFICATE_PATH", "/nowhere/cert.pem")
	cfg, _ = identityweb.LoadConfig("", "AzureAd")
	_, err = identityweb.NewTokenAcquirer(cfg, identityweb.Options{})
	if !errors.Is(err, identityweb.ErrConfig) || !strings.Contains(err.Error(), "ClientCredentials") {
		t.Fatalf("unloadable certificate: %v", err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{nope"), 0o600)
	noSection := filepath.Join(dir, "nosection.json")
	os.WriteFile(noSection, []byte(`{"Other":{}}`), 0o600)
	for _, p := range []string{filepath.Join(dir, "missing.json"), bad, noSection} {
		if _, err := identityweb.LoadConfig(p, "AzureAd"); err == nil {
			t.Fatalf("LoadConfig(%s) succeeded", p)
		}
	}
}
