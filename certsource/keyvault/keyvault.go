// Package keyvault is a certsource credential for a certificate kept in
// Azure Key Vault: the certificate's backing secret (PFX or PEM, by content
// type), fetched with the Azure SDK for Go's azsecrets client at start,
// refreshed on an interval and when the identity provider rejects the
// certificate. The newest enabled version wins. It is a nested module so
// that the core module never requires the Azure SDK.
//
//	cred, err := keyvault.New("https://myvault.vault.azure.net", "my-app-cert",
//		azTokenCredential, keyvault.Options{}) // e.g. certsource's managed identity through azidentity
//	acq, err := identityweb.NewTokenAcquirer(cfg, identityweb.Options{Credential: cred})
package keyvault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/identityweb/go-identityweb/certsource"
)

// Options configure a Source; the zero value is usable.
type Options struct {
	// RefreshInterval: the secret is fetched again at least this often.
	// Default: 30 minutes.
	RefreshInterval time.Duration
	// Certificate options of the assertions.
	Certificate certsource.CertificateOptions
	// ClientOptions of the azsecrets client (transport, retries, …).
	ClientOptions *azsecrets.ClientOptions
	// Clock. Default: the system clock.
	Clock interface{ Now() time.Time }
	// Logger. Default: slog.Default().
	Logger *slog.Logger
}

// Source is a certificate credential backed by a Key Vault secret. A fetch
// that fails (403, 404, 5xx, a secret of another content type, material
// that does not parse) never replaces a good certificate: it is logged and
// the last good one stays.
type Source struct {
	client *azsecrets.Client
	vault  string
	name   string
	opts   Options

	cur     atomic.Pointer[certsource.Certificate]
	mu      sync.Mutex
	fetched time.Time
}

// New fetches the certificate once; the first fetch must succeed.
func New(vaultURL, name string, cred azcore.TokenCredential, opts Options) (*Source, error) {
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 30 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = sysClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client, err := azsecrets.NewClient(vaultURL, cred, opts.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("keyvault: %w", err)
	}
	s := &Source{client: client, vault: strings.TrimRight(vaultURL, "/"), name: name, opts: opts}
	if err := s.fetch(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

type sysClock struct{}

func (sysClock) Now() time.Time { return time.Now() }

const (
	contentPFX = "application/x-pkcs12"
	contentPEM = "application/x-pem-file"
)

func (s *Source) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := s.client.GetSecret(ctx, s.name, "", nil) // "": the newest enabled version
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return fmt.Errorf("keyvault: %s/secrets/%s: the vault answered %d (%s)", s.vault, s.name, re.StatusCode, re.ErrorCode)
		}
		return fmt.Errorf("keyvault: %s/secrets/%s: %w", s.vault, s.name, err)
	}
	if resp.Value == nil {
		return fmt.Errorf("keyvault: %s/secrets/%s has no value", s.vault, s.name)
	}
	ct := ""
	if resp.ContentType != nil {
		ct = *resp.ContentType
	}
	var data []byte
	switch ct {
	case contentPFX:
		if data, err = base64.StdEncoding.DecodeString(*resp.Value); err != nil {
			return fmt.Errorf("keyvault: %s/secrets/%s: the PFX value is not base64", s.vault, s.name)
		}
	case contentPEM:
		data = []byte(*resp.Value)
	default:
		return fmt.Errorf("keyvault: %s/secrets/%s has content type %q, not a certificate (%s or %s)", s.vault, s.name, ct, contentPFX, contentPEM)
	}
	c, err := certsource.ParseCertificate(data, "", s.opts.Certificate)
	if err != nil {
		return fmt.Errorf("keyvault: %s/secrets/%s: %w", s.vault, s.name, err)
	}
	old := s.cur.Swap(c)
	s.fetched = s.opts.Clock.Now()
	if old == nil || old.Description() != c.Description() {
		s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "keyvault: certificate loaded", slog.String("source", s.vault+"/secrets/"+s.name),
			slog.String("certificate", c.Description()))
	}
	if left := c.NotAfter().Sub(s.opts.Clock.Now()); left < 30*24*time.Hour {
		s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "keyvault: the certificate expires soon or has expired",
			slog.String("source", s.vault+"/secrets/"+s.name), slog.String("certificate", c.Description()), slog.Time("not_after", c.NotAfter()))
	}
	return nil
}

// ClientAuth signs an assertion with the current certificate, fetching the
// secret again when the refresh interval has passed.
func (s *Source) ClientAuth(ctx context.Context, req certsource.AuthRequest) (certsource.AuthParams, error) {
	s.mu.Lock()
	if s.opts.Clock.Now().Sub(s.fetched) >= s.opts.RefreshInterval {
		if err := s.fetch(ctx); err != nil {
			s.fetched = s.opts.Clock.Now() // do not hammer the vault
			s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "keyvault: refresh failed; keeping the last good certificate", slog.String("error", err.Error()))
		}
	}
	s.mu.Unlock()
	return s.cur.Load().ClientAuth(ctx, req)
}

// Reload fetches the newest version now; on failure the last good
// certificate stays and the error names the vault and secret.
func (s *Source) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fetch(ctx); err != nil {
		s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "keyvault: reload failed; keeping the last good certificate", slog.String("error", err.Error()))
		return err
	}
	return nil
}

// Description names the vault, the secret and the certificate in use.
func (s *Source) Description() string {
	return "key vault " + s.vault + "/secrets/" + s.name + " " + s.cur.Load().Description()
}
