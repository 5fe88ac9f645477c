package identityweb

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/identityweb/go-identityweb/internal/discovery"
)

// Config identifies the application and its identity provider. Its fields
// mirror Microsoft.Identity.Web's "AzureAd" configuration section.
//
// For Microsoft Entra ID set Instance (default
// "https://login.microsoftonline.com/"), TenantID and ClientID. For any other
// OpenID Provider set Authority to its issuer URL (discovery is used) and
// ClientID.
type Config struct {
	// Instance is the Entra cloud instance. Default:
	// "https://login.microsoftonline.com/".
	Instance string `json:"Instance"`
	// TenantID is a tenant id or domain, or "common" / "organizations" for
	// multi-tenant apps.
	TenantID string `json:"TenantId"`
	// ClientID is the application (client) id.
	ClientID string `json:"ClientId"`
	// Authority is the issuer URL of a non-Entra OpenID Provider. When set,
	// Instance and TenantID are not used.
	Authority string `json:"Authority"`
	// ClientSecret is a client secret (development only: prefer
	// certificates or managed identity). Options.Credential overrides it.
	ClientSecret string `json:"ClientSecret"`
	// OnBehalfOfGrant selects the on-behalf-of grant: "jwt-bearer" (Entra's,
	// the default with Instance/TenantID) or "token-exchange" (RFC 8693, the
	// default with Authority).
	OnBehalfOfGrant string `json:"OnBehalfOfGrant"`

	// Domain is the tenant's primary domain (informational, as in Identity Web).
	Domain string `json:"Domain"`
	// CallbackPath is where the provider sends the browser back with the
	// authorization code. Default: "/signin-oidc".
	CallbackPath string `json:"CallbackPath"`
	// SignedOutCallbackPath is where the provider returns after sign-out.
	// Default: "/signout-callback-oidc".
	SignedOutCallbackPath string `json:"SignedOutCallbackPath"`
	// SignInPath starts a sign-in (GET, ?returnUrl=/local/path). Default: "/signin".
	SignInPath string `json:"SignInPath"`
	// SignOutPath signs out (POST with the CSRF token). Default: "/signout".
	SignOutPath string `json:"SignOutPath"`
	// BackchannelLogoutPath receives the provider's logout tokens (OpenID
	// Connect Back-Channel Logout 1.0: POST logout_token); register
	// PublicURL + this path as the app's back-channel logout URI.
	// Default: "/backchannel-logout".
	BackchannelLogoutPath string `json:"BackchannelLogoutPath"`
	// FrontchannelLogoutPath is loaded by the provider in an iframe at
	// sign-out (OpenID Connect Front-Channel Logout 1.0: GET ?iss=…&sid=…;
	// Entra's "Front-channel logout URL"). Default: "/frontchannel-logout".
	FrontchannelLogoutPath string `json:"FrontchannelLogoutPath"`
	// Scopes are asked for at sign-in, so that the first user token for them
	// needs no extra consent step.
	Scopes []string `json:"Scopes"`
	// RedirectURI overrides the reply URL built from the request
	// (scheme://host + CallbackPath), for apps behind proxies.
	RedirectURI string `json:"RedirectUri"`
	// Audiences a web API accepts in "aud". Default: ClientID and
	// "api://" + ClientID.
	Audiences []string `json:"Audiences"`
	// ClientCredentials are tried in order at start; the first that loads
	// authenticates the app. Options.Credential, when set, wins.
	ClientCredentials []CredentialDescription `json:"ClientCredentials"`

	// TokenEndpointAuthMethod forces how the app authenticates at the token
	// endpoint: "client_secret_basic", "client_secret_post" or
	// "private_key_jwt" (RFC 7591 names). Default: chosen from the
	// provider's token_endpoint_auth_methods_supported and the credential
	// (a secret: post when listed, else basic; a certificate or key:
	// private_key_jwt, signed with an algorithm the provider lists). Entra
	// ID: post, and PS256 assertions.
	TokenEndpointAuthMethod string `json:"TokenEndpointAuthMethod"`
	// Resources are RFC 8707 resource indicators asked for at sign-in, so
	// that the user's refresh token can later get tokens for them
	// (DownstreamAPI.Resource, WithResource). Not used with Entra ID, where
	// scopes name the resource ("api://…/scope").
	Resources []string `json:"Resources"`
	// RoleClaim names the claim holding roles in access tokens: "roles" by
	// default, or a dotted path into nested objects such as Keycloak's
	// "realm_access.roles" (Microsoft.Identity.Web's RoleClaimType).
	RoleClaim string `json:"RoleClaim"`
	// ScopeClaim names the claim holding scopes: by default "scp" (Entra;
	// a space-separated string or an array) and then "scope" (RFC 9068).
	ScopeClaim string `json:"ScopeClaim"`
}

// defaultInstance is Entra ID's public cloud instance.
const defaultInstance = "https://login.microsoftonline.com/"

// Client authentication methods (Config.TokenEndpointAuthMethod).
const (
	authBasic         = "client_secret_basic"
	authPost          = "client_secret_post"
	authPrivateKeyJWT = "private_key_jwt"
)

// On-behalf-of grant names for Config.OnBehalfOfGrant.
const (
	grantJWTBearer     = "jwt-bearer"
	grantTokenExchange = "token-exchange"
)

// ErrConfig is matched (errors.Is) by every configuration error.
var ErrConfig = errors.New("identityweb: invalid configuration")

type configError struct{ field, msg string }

func (e *configError) Error() string   { return "identityweb: config " + e.field + ": " + e.msg }
func (e *configError) Is(t error) bool { return t == ErrConfig }

// validate fills defaults and checks c; it names the field that is wrong
// and what to put there.
func (c *Config) validate() error {
	if c.ClientID == "" {
		return &configError{"ClientId", "is required: the application (client) id of the app registration"}
	}
	if c.Authority != "" {
		u, err := url.Parse(c.Authority)
		if err != nil || u.Scheme != "https" && !isLoopbackHost(u.Hostname()) || u.Host == "" {
			return &configError{"Authority", "must be the provider's issuer URL, https://… (http only on loopback)"}
		}
		c.Authority = strings.TrimRight(c.Authority, "/")
		if c.OnBehalfOfGrant == "" {
			c.OnBehalfOfGrant = grantTokenExchange
		}
	} else {
		if c.Instance == "" {
			c.Instance = defaultInstance
		}
		u, err := url.Parse(c.Instance)
		if err != nil || u.Host == "" || u.Scheme != "https" && !isLoopbackHost(u.Hostname()) {
			return &configError{"Instance", fmt.Sprintf("must be an https URL such as %q", defaultInstance)}
		}
		if !strings.HasSuffix(c.Instance, "/") {
			c.Instance += "/"
		}
		if c.TenantID == "" {
			return &configError{"TenantId", `is required: the tenant id or domain, or "organizations"/"common" for multi-tenant apps`}
		}
		if !validTenant(c.TenantID) {
			return &configError{"TenantId", "must be a tenant id (GUID), a domain name, \"organizations\" or \"common\""}
		}
		if c.OnBehalfOfGrant == "" {
			c.OnBehalfOfGrant = grantJWTBearer
		}
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.CallbackPath, "/signin-oidc")
	def(&c.SignedOutCallbackPath, "/signout-callback-oidc")
	def(&c.SignInPath, "/signin")
	def(&c.SignOutPath, "/signout")
	def(&c.BackchannelLogoutPath, "/backchannel-logout")
	def(&c.FrontchannelLogoutPath, "/frontchannel-logout")
	for name, p := range map[string]string{"CallbackPath": c.CallbackPath, "SignedOutCallbackPath": c.SignedOutCallbackPath, "SignInPath": c.SignInPath, "SignOutPath": c.SignOutPath,
		"BackchannelLogoutPath": c.BackchannelLogoutPath, "FrontchannelLogoutPath": c.FrontchannelLogoutPath} {
		if !strings.HasPrefix(p, "/") {
			return &configError{name, "must be a path starting with '/'"}
		}
	}
	if len(c.Audiences) == 0 {
		c.Audiences = []string{c.ClientID, "api://" + c.ClientID}
	}
	switch c.TokenEndpointAuthMethod {
	case "", authBasic, authPost, authPrivateKeyJWT:
	default:
		return &configError{"TokenEndpointAuthMethod", `must be "client_secret_basic", "client_secret_post" or "private_key_jwt"`}
	}
	for _, r := range c.Resources {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
			return &configError{"Resources", "each must be an absolute URI without a fragment (RFC 8707)"}
		}
	}
	if c.OnBehalfOfGrant != grantJWTBearer && c.OnBehalfOfGrant != grantTokenExchange {
		return &configError{"OnBehalfOfGrant", `must be "jwt-bearer" or "token-exchange"`}
	}
	return nil
}

func (c *Config) isEntra() bool { return c.Authority == "" }

// authority is where discovery finds the provider.
func (c *Config) authority() discovery.Authority {
	return discovery.Authority{Entra: c.isEntra(), Instance: c.Instance, TenantID: c.TenantID, Authority: c.Authority}
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}
