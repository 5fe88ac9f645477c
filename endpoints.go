package identityweb

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
)

// endpoints resolves the provider's endpoints: by Entra's URL template from
// Instance and the tenant, or by OpenID discovery of Authority (fetched
// once; a failure is retried on the next call).
type endpoints struct {
	cfg    *Config
	client *http.Client

	mu            sync.Mutex
	discovered    bool
	tokenURL      string
	authorizeURL  string
	endSessionURL string
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
	if err := e.discover(ctx); err != nil {
		return "", err
	}
	return e.tokenURL, nil
}

func (e *endpoints) discover(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.discovered {
		return nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, e.client), e.cfg.Authority)
	if err != nil {
		return &transportError{err}
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&meta)
	e.tokenURL, e.authorizeURL, e.endSessionURL = p.Endpoint().TokenURL, p.Endpoint().AuthURL, meta.EndSession
	if e.tokenURL == "" {
		return errors.New("identityweb: the provider's discovery document has no token_endpoint")
	}
	e.discovered = true
	return nil
}
