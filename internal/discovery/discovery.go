package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

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
// OpenID discovery. The document is fetched once for all waiters (callers
// wait for the one request, or for their context); a failure is remembered
// for a back-off (2 s doubling to 1 min) so callers fail fast instead of
// queueing; a document older than RefreshEvery is served while one
// background request renews it.
type Endpoints struct {
	auth   Authority
	client *http.Client
	clock  Clock

	mu       sync.Mutex
	meta     *Metadata
	fetched  time.Time
	err      error     // the last failure
	retryAt  time.Time // no new request before, after a failure
	backoff  time.Duration
	inflight chan struct{} // closed when the request in flight ends
}

// Clock is the time source of the refresh schedule and back-off.
type Clock interface{ Now() time.Time }

// RefreshEvery is how long a discovery document is used before it is
// fetched again (Microsoft.Identity.Web's default).
const RefreshEvery = 24 * time.Hour

const (
	minBackoff   = 2 * time.Second
	maxBackoff   = time.Minute
	fetchTimeout = 30 * time.Second
)

// Metadata is what the library reads of a discovery document (OpenID
// Connect Discovery 1.0, RFC 8414).
type Metadata struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	EndSession    string `json:"end_session_endpoint"`
	JWKS          string `json:"jwks_uri"`
	Introspection string `json:"introspection_endpoint"`
	Revocation    string `json:"revocation_endpoint"`
	// AuthMethods is token_endpoint_auth_methods_supported.
	AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	// AuthSigningAlgs is token_endpoint_auth_signing_alg_values_supported.
	AuthSigningAlgs []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	// GrantTypes is grant_types_supported.
	GrantTypes []string `json:"grant_types_supported"`
	// CodeChallengeMethods is code_challenge_methods_supported.
	CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
	// PAR is pushed_authorization_request_endpoint (RFC 9126), and
	// RequirePAR require_pushed_authorization_requests.
	PAR        string `json:"pushed_authorization_request_endpoint"`
	RequirePAR bool   `json:"require_pushed_authorization_requests"`
	// IssParameter is authorization_response_iss_parameter_supported (RFC
	// 9207): the provider names itself in every authorization response.
	IssParameter bool `json:"authorization_response_iss_parameter_supported"`
	// DPoPAlgs is dpop_signing_alg_values_supported (RFC 9449).
	DPoPAlgs []string `json:"dpop_signing_alg_values_supported"`
}

// SupportsGrant reports whether the provider lists grant (RFC 8414: a
// document without grant_types_supported means authorization_code and
// implicit only).
func (m *Metadata) SupportsGrant(grant string) bool {
	if len(m.GrantTypes) == 0 {
		return grant == "authorization_code" || grant == "implicit"
	}
	return slices.Contains(m.GrantTypes, grant)
}

// New returns the endpoints of an authority, fetched through client.
func New(auth Authority, client *http.Client, clock Clock) *Endpoints {
	return &Endpoints{auth: auth, client: client, clock: clock}
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
	now := e.clock.Now()
	if m := e.meta; m != nil {
		if now.Sub(e.fetched) >= RefreshEvery && e.inflight == nil && !now.Before(e.retryAt) {
			e.start()
		}
		e.mu.Unlock()
		return m, nil
	}
	if now.Before(e.retryAt) {
		err := e.err
		e.mu.Unlock()
		return nil, err
	}
	if e.inflight == nil {
		e.start()
	}
	done := e.inflight
	e.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta != nil {
		return e.meta, nil
	}
	return nil, e.err
}

// start begins the one request in flight; e.mu is held.
func (e *Endpoints) start() {
	done := make(chan struct{})
	e.inflight = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		m, err := e.fetch(ctx)
		e.mu.Lock()
		now := e.clock.Now()
		if err == nil {
			e.meta, e.fetched, e.err, e.backoff, e.retryAt = m, now, nil, 0, time.Time{}
		} else {
			e.err = err
			e.backoff = min(max(e.backoff*2, minBackoff), maxBackoff)
			e.retryAt = now.Add(e.backoff)
		}
		e.inflight = nil
		e.mu.Unlock()
		close(done)
	}()
}

func (e *Endpoints) fetch(ctx context.Context) (*Metadata, error) {
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
	return &m, nil
}
