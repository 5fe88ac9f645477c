package identityweb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/identityweb/go-identityweb/certsource"
)

// CredentialDescription is one entry of Config.ClientCredentials, named as
// in Microsoft.Identity.Web.
type CredentialDescription struct {
	// SourceType: "SignedAssertionFromManagedIdentity" (optional
	// ManagedIdentityClientId), "SignedAssertionFilePath" (workload
	// identity; SignedAssertionFileDiskPath, default
	// $AZURE_FEDERATED_TOKEN_FILE), "Path" (PEM or PFX file, reloaded when it
	// changes), "Base64Encoded" (PEM or PFX), "ClientSecret". For
	// "KeyVault" build the credential with the keyvault module and pass it
	// as Options.Credential.
	SourceType                  string `json:"SourceType"`
	ClientSecret                string `json:"ClientSecret"`
	CertificateDiskPath         string `json:"CertificateDiskPath"`
	CertificatePassword         string `json:"CertificatePassword"`
	Base64EncodedValue          string `json:"Base64EncodedValue"`
	ManagedIdentityClientID     string `json:"ManagedIdentityClientId"`
	SignedAssertionFileDiskPath string `json:"SignedAssertionFileDiskPath"`
}

// LoadConfig reads section (for example "AzureAd") of an appsettings.json
// style file, then applies the environment (see ConfigFromEnv). An empty
// path reads the environment only.
func LoadConfig(path, section string) (Config, error) {
	var cfg Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("identityweb: reading the configuration: %w", err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			return cfg, fmt.Errorf("identityweb: %s is not valid JSON: %w", path, err)
		}
		raw, ok := doc[section]
		if !ok {
			for k, v := range doc { // section names are case-insensitive, as in .NET
				if strings.EqualFold(k, section) {
					raw, ok = v, true
				}
			}
		}
		if !ok {
			return cfg, fmt.Errorf("identityweb: %s has no %q section", path, section)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("identityweb: the %q section: %w", section, err)
		}
	}
	ConfigFromEnv(&cfg, section)
	return cfg, nil
}

// ConfigFromEnv overrides cfg from the environment: "{section}__{Field}"
// variables as .NET names them (AzureAd__ClientId, AzureAd__Scopes as a
// space-separated list), then the Azure SDK's AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH
// where the field is still empty.
func ConfigFromEnv(cfg *Config, section string) {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("json")
		val, ok := lookupEnvFold(section + "__" + name)
		if !ok {
			continue
		}
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(val)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.String {
				f.Set(reflect.ValueOf(strings.Fields(val)))
			}
		}
	}
	fill := func(p *string, env string) {
		if *p == "" {
			*p = os.Getenv(env)
		}
	}
	fill(&cfg.TenantID, "AZURE_TENANT_ID")
	fill(&cfg.ClientID, "AZURE_CLIENT_ID")
	if cfg.ClientSecret == "" && len(cfg.ClientCredentials) == 0 {
		if s := os.Getenv("AZURE_CLIENT_SECRET"); s != "" {
			cfg.ClientSecret = s
		} else if p := os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"); p != "" {
			cfg.ClientCredentials = []CredentialDescription{{SourceType: "Path", CertificateDiskPath: p}}
		}
	}
}

func lookupEnvFold(name string) (string, bool) {
	if v, ok := os.LookupEnv(name); ok {
		return v, true
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// credentialFromConfig builds ClientCredentials: every entry that loads, in
// order, as a certsource.Chain (an entry that fails at start is skipped, as
// Identity Web does); or ClientSecret.
func credentialFromConfig(cfg *Config, logger *slog.Logger) (certsource.Credential, error) {
	var errs []string
	var creds []certsource.Credential
	for i, d := range cfg.ClientCredentials {
		var cred certsource.Credential
		var err error
		switch strings.ToLower(d.SourceType) {
		case "clientsecret":
			cred, err = certsource.NewSecret(d.ClientSecret)
		case "path":
			cred, err = certsource.NewFile(d.CertificateDiskPath, certsource.FileOptions{Password: d.CertificatePassword, Logger: logger})
		case "signedassertionfrommanagedidentity":
			cred = certsource.NewManagedIdentity(certsource.ManagedIdentityOptions{ClientID: d.ManagedIdentityClientID})
		case "signedassertionfilepath":
			cred, err = certsource.NewTokenFile(d.SignedAssertionFileDiskPath, certsource.TokenFileOptions{Logger: logger})
		case "keyvault":
			err = fmt.Errorf("SourceType KeyVault: build it with github.com/identityweb/go-identityweb/certsource/keyvault and pass Options.Credential")
		case "base64encoded":
			cred, err = certsource.NewBase64(d.Base64EncodedValue, d.CertificatePassword, certsource.CertificateOptions{})
		default:
			err = fmt.Errorf("SourceType %q is unknown (SignedAssertionFromManagedIdentity, SignedAssertionFilePath, Path, Base64Encoded, ClientSecret)", d.SourceType)
		}
		if err == nil {
			creds = append(creds, cred)
			continue
		}
		errs = append(errs, fmt.Sprintf("[%d] %s", i, err))
	}
	if len(creds) == 1 {
		return creds[0], nil
	}
	if len(creds) > 1 {
		return certsource.NewChain(creds...)
	}
	if len(cfg.ClientCredentials) > 0 {
		return nil, &configError{"ClientCredentials", "no entry could be loaded: " + strings.Join(errs, "; ")}
	}
	if cfg.ClientSecret != "" {
		return certsource.NewSecret(cfg.ClientSecret)
	}
	return nil, &configError{"ClientCredentials", "no credential: add a ClientCredentials entry (a certificate), set Options.Credential, or for development ClientSecret"}
}
