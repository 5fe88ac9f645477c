package identityweb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/internal/oauth"
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
// style file, then applies the environment: "{section}__{Field}" variables
// as .NET names them (AzureAd__ClientId, AzureAd__Scopes as a
// space-separated list), then the Azure SDK's AZURE_TENANT_ID,
// AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_CLIENT_CERTIFICATE_PATH
// where the field is still empty. An empty path reads the environment
// only. Errors match ErrConfig.
func LoadConfig(path, section string) (Config, error) {
	var cfg Config
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, &configError{path, "cannot be read: " + oauth.Sanitize(err)}
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			return cfg, &configError{path, "is not valid JSON: " + err.Error()}
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
			return cfg, &configError{path, fmt.Sprintf("has no %q section", section)}
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		if err := dec.Decode(&cfg); err != nil {
			return cfg, &configError{section, err.Error()}
		}
	}
	applyEnv(&cfg, section)
	return cfg, nil
}

// applyEnv overrides cfg from the environment (see LoadConfig).
func applyEnv(cfg *Config, section string) {
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

// errNoCredential: the configuration names no credential. Not an error
// until a token is acquired (a web API may only validate tokens).
var errNoCredential = errors.New("identityweb: no client credential configured")

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
	return nil, errNoCredential
}
