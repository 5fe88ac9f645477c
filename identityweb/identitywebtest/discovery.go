package identitywebtest

import (
	"net/http"
)

// discoveryDoc is the OpenID Provider metadata, with Entra's members.
type discoveryDoc struct {
	TokenEndpoint                 string   `json:"token_endpoint"`
	TokenEndpointAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs  []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	JWKSURI                       string   `json:"jwks_uri"`
	ResponseModes                 []string `json:"response_modes_supported"`
	SubjectTypes                  []string `json:"subject_types_supported"`
	IDTokenSigningAlgs            []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes                 []string `json:"response_types_supported"`
	ScopesSupported               []string `json:"scopes_supported"`
	Issuer                        string   `json:"issuer"`
	RequestURIParameterSupported  bool     `json:"request_uri_parameter_supported"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	HTTPLogoutSupported           bool     `json:"http_logout_supported"`
	FrontchannelLogoutSupported   bool     `json:"frontchannel_logout_supported"`
	EndSessionEndpoint            string   `json:"end_session_endpoint"`
	ClaimsSupported               []string `json:"claims_supported"`
	GrantTypesSupported           []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	ClaimsParameterSupported      bool     `json:"claims_parameter_supported"`
	TenantRegionScope             *string  `json:"tenant_region_scope"`
	CloudInstanceName             string   `json:"cloud_instance_name"`
	CloudGraphHostName            string   `json:"cloud_graph_host_name"`
	MSGraphHost                   string   `json:"msgraph_host"`
	RbacURL                       string   `json:"rbac_url"`
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// Tenant-independent endpoints name the tenant as it was asked for, and
	// the issuer is Entra's "{tenantid}" template.
	issuer := rc.issuer("{tenantid}")
	if rc.tenant != nil {
		issuer = rc.issuer(rc.tenant.ID)
	}
	base := rc.base + "/" + rc.tenantSeg
	grants := []string{"authorization_code", "refresh_token", "client_credentials", GrantJWTBearer, GrantTokenExchange}
	if p.opts.DevelopmentPasswordGrant {
		grants = append(grants, "password")
	}
	writeJSON(w, http.StatusOK, discoveryDoc{
		TokenEndpoint:                 base + "/oauth2/v2.0/token",
		TokenEndpointAuthMethods:      []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		TokenEndpointAuthSigningAlgs:  []string{"RS256", "PS256"},
		JWKSURI:                       base + "/discovery/v2.0/keys",
		ResponseModes:                 []string{"query", "fragment", "form_post"},
		SubjectTypes:                  []string{"pairwise"},
		IDTokenSigningAlgs:            []string{"RS256"},
		ResponseTypes:                 []string{"code"},
		ScopesSupported:               []string{"openid", "profile", "email", "offline_access"},
		Issuer:                        issuer,
		AuthorizationEndpoint:         base + "/oauth2/v2.0/authorize",
		HTTPLogoutSupported:           true,
		FrontchannelLogoutSupported:   true,
		EndSessionEndpoint:            base + "/oauth2/v2.0/logout",
		ClaimsSupported:               []string{"sub", "iss", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "name", "preferred_username", "oid", "tid", "ver", "acrs"},
		GrantTypesSupported:           grants,
		CodeChallengeMethodsSupported: []string{"S256", "plain"},
		ClaimsParameterSupported:      true,
		CloudInstanceName:             "identitywebtest",
		CloudGraphHostName:            "graph.windows.net",
		MSGraphHost:                   "graph.microsoft.com",
		RbacURL:                       "https://pas.windows.net",
	})
}

func (p *Provider) serveKeys(w http.ResponseWriter, r *http.Request, rc *requestContext) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	keys := make([]jwk, 0, len(p.keys))
	for _, k := range p.keys {
		keys = append(keys, k.jwk(rc.issuer("{tenantid}")))
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// RotateSigningKey generates a new signing key, publishes it in the JWKS and
// signs every later token with it. Earlier keys stay published until
// RetireSigningKey removes them. It returns the new key's kid.
func (p *Provider) RotateSigningKey() (string, error) {
	key, err := generateRSAKey()
	if err != nil {
		return "", err
	}
	k, err := newSigningKey(key)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append([]*signingKey{k}, p.keys...)
	return k.kid, nil
}

// RetireSigningKey removes a key from the JWKS; tokens it signed no longer
// validate (here for OBO, and at any client that refreshes its key set). The
// current signing key cannot be retired.
func (p *Provider) RetireSigningKey(kid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range p.keys {
		if k.kid == kid && i > 0 {
			p.keys = append(p.keys[:i:i], p.keys[i+1:]...)
			return true
		}
	}
	return false
}

// SigningKeyIDs returns the kids in the JWKS, the current signing key first.
func (p *Provider) SigningKeyIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, len(p.keys))
	for i, k := range p.keys {
		ids[i] = k.kid
	}
	return ids
}
