package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/identityweb/go-identityweb/internal/oauth"
)

// Authority says where the provider is: an Entra instance and tenant
// (Entra true), or a standards provider's issuer URL.
type Authority struct {
	Entra     bool
	Instance  string // Entra: "https://login.microsoftonline.com/"
	TenantID  string // Entra: a tenant id, domain, "common" or "organizations"
	Authority string // other providers: the issuer, without a trailing slash
}

// Endpoints resolves the provider's endpoints: the token endpoint by Entra's
// URL template from Instance and the tenant (no request needed), the rest by
// OpenID discovery (fetched once; a failure is retried on the next call).
type Endpoints struct {
	auth   Authority
	client *http.Client

	mu   sync.Mutex
	meta *Metadata
}

// Metadata is what the library reads of a discovery document.
type Metadata struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	EndSession    string `json:"end_session_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

// New returns the endpoints of an authority, fetched through client.
func New(auth Authority, client *http.Client) *Endpoints {
	return &Endpoints{auth: auth, client: client}
}

// ErrTenantOverride: a per-call tenant was given for a provider that has no
// tenants in its URLs.
var ErrTenantOverride = errors.New("identityweb: a tenant override needs an Entra authority (Instance and TenantId)")

// Token returns the token endpoint, for tenant when it is not empty (Entra).
func (e *Endpoints) Token(ctx context.Context, tenant string) (string, error) {
	if e.auth.Entra {
		return e.auth.Instance + tenant + "/oauth2/v2.0/token", nil
	}
	if tenant != "" {
		return "", ErrTenantOverride
	}
	m, err := e.Metadata(ctx)
	if err != nil {
		return "", err
	}
	return m.Token, nil
}

// URL is where the provider's metadata is.
func (e *Endpoints) URL() string {
	if e.auth.Entra {
		return e.auth.Instance + e.auth.TenantID + "/v2.0/.well-known/openid-configuration"
	}
	return e.auth.Authority + "/.well-known/openid-configuration"
}

// Metadata returns the provider's metadata, fetching it on first use.
func (e *Endpoints) Metadata(ctx context.Context) (*Metadata, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta != nil {
		return e.meta, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, &oauth.TransportError{Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &oauth.TransportError{Err: fmt.Errorf("discovery answered %d", resp.StatusCode)}
	}
	var m Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil || m.Issuer == "" || m.JWKS == "" || m.Authorization == "" {
		return nil, errors.New("identityweb: the provider's discovery document is not valid")
	}
	if !e.auth.Entra && strings.TrimRight(m.Issuer, "/") != e.auth.Authority {
		return nil, fmt.Errorf("identityweb: the provider's issuer %q is not the configured Authority", m.Issuer)
	}
	if e.auth.Entra {
		m.Token = e.auth.Instance + e.auth.TenantID + "/oauth2/v2.0/token"
	}
	e.meta = &m
	return e.meta, nil
}
