package identityweb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// endpoints resolves the provider's endpoints: the token endpoint by Entra's
// URL template from Instance and the tenant (no request needed), the rest by
// OpenID discovery (fetched once; a failure is retried on the next call).
type endpoints struct {
	cfg    *Config
	client *http.Client

	mu   sync.Mutex
	meta *providerMetadata
}

// providerMetadata is what the library reads of a discovery document.
type providerMetadata struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	EndSession    string `json:"end_session_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

func newEndpoints(cfg *Config, client *http.Client) *endpoints {
	return &endpoints{cfg: cfg, client: client}
}

var errTenantOverride = errors.New("identityweb: a tenant override needs an Entra authority (Instance and TenantId)")

func (e *endpoints) token(ctx context.Context, tenant string) (string, error) {
	if e.cfg.isEntra() {
		return e.cfg.Instance + tenant + "/oauth2/v2.0/token", nil
	}
	if tenant != "" {
		return "", errTenantOverride
	}
	m, err := e.metadata(ctx)
	if err != nil {
		return "", err
	}
	return m.Token, nil
}

// discoveryURL is where the provider's metadata is.
func (e *endpoints) discoveryURL() string {
	if e.cfg.isEntra() {
		return e.cfg.Instance + e.cfg.TenantID + "/v2.0/.well-known/openid-configuration"
	}
	return e.cfg.Authority + "/.well-known/openid-configuration"
}

func (e *endpoints) metadata(ctx context.Context) (*providerMetadata, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta != nil {
		return e.meta, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.discoveryURL(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, &transportError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &transportError{fmt.Errorf("discovery answered %d", resp.StatusCode)}
	}
	var m providerMetadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil || m.Issuer == "" || m.JWKS == "" || m.Authorization == "" {
		return nil, errors.New("identityweb: the provider's discovery document is not valid")
	}
	if !e.cfg.isEntra() && strings.TrimRight(m.Issuer, "/") != e.cfg.Authority {
		return nil, fmt.Errorf("identityweb: the provider's issuer %q is not the configured Authority", m.Issuer)
	}
	if e.cfg.isEntra() {
		m.Token = e.cfg.Instance + e.cfg.TenantID + "/oauth2/v2.0/token"
	}
	e.meta = &m
	return e.meta, nil
}
