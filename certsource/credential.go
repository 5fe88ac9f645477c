package certsource

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// AuthRequest says what a client authentication is for.
type AuthRequest struct {
	// ClientID is the application (client) id.
	ClientID string
	// TokenEndpoint is the token endpoint URL: a client assertion's audience.
	TokenEndpoint string
	// Now is the current time by the caller's clock.
	Now time.Time
	// SigningAlgs are the JWS algorithms the provider accepts for client
	// assertions: its discovery document's
	// token_endpoint_auth_signing_alg_values_supported. A certificate or key
	// credential signs with the first algorithm of its own order of
	// preference that is listed — for an RSA key PS256 then RS256 (RS256
	// first with CertificateOptions.RS256), for an EC P-256 key ES256 — and
	// fails with an *AlgorithmError when none is. Default (empty): the
	// credential's first choice, PS256 for RSA as Entra ID expects (RS256
	// with CertificateOptions.RS256), ES256 for EC. Federated credentials
	// (managed identity, token files) ignore it: their issuer signed.
	SigningAlgs []string
	// FreshAssertion asks for a newly signed assertion, with its own jti, on
	// every call: standards providers (RFC 7523 §3; oidc-provider, Keycloak)
	// accept each jti once. Default false: an assertion is reused while it
	// has more than CertificateOptions.ReuseMargin to live, which Entra ID
	// allows and which saves a signature per request. Federated credentials
	// ignore it.
	FreshAssertion bool
}

// AuthParams authenticate a client at the token endpoint: exactly one of
// ClientSecret and ClientAssertion is set.
//
// How a secret travels is the caller's choice, made from the provider's
// token_endpoint_auth_methods_supported (SecretMethodFor helps):
// client_secret_basic (an Authorization: Basic header) or client_secret_post
// (form fields). An assertion always travels in the form (private_key_jwt,
// or a federated assertion; client_assertion_type jwt-bearer). Apply does
// either.
type AuthParams struct {
	// ClientSecret is the client secret (client_secret_basic or
	// client_secret_post).
	ClientSecret string
	// ClientAssertion is a signed JWT (RFC 7523 client authentication).
	ClientAssertion string
	// AssertionAlg is the JWS algorithm ClientAssertion was signed with when
	// this package signed it ("PS256", "RS256" or "ES256"); empty for a
	// secret or a federated assertion.
	AssertionAlg string
}

// ClientAssertionType is the client_assertion_type of RFC 7523 client
// authentication.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// SecretMethod says how a client secret travels to the token endpoint.
type SecretMethod int

const (
	// SecretPost sends client_id and client_secret as form fields
	// (client_secret_post). The zero value: what the library always did,
	// and what Entra ID accepts.
	SecretPost SecretMethod = iota
	// SecretBasic sends them in an Authorization: Basic header, each
	// form-urlencoded first (client_secret_basic, RFC 6749 §2.3.1).
	SecretBasic
)

// String returns the method's registered name.
func (m SecretMethod) String() string {
	if m == SecretBasic {
		return "client_secret_basic"
	}
	return "client_secret_post"
}

// SecretMethodFor chooses how to send a secret to a provider whose discovery
// document lists supported as token_endpoint_auth_methods_supported:
// SecretPost when it lists client_secret_post (Entra ID does), SecretBasic
// when it lists only client_secret_basic or nothing at all (RFC 8414 §2:
// the default is client_secret_basic). ok is false when the provider lists
// methods but neither of these: it takes no client secret.
func SecretMethodFor(supported []string) (m SecretMethod, ok bool) {
	switch {
	case len(supported) == 0:
		return SecretBasic, true
	case slices.Contains(supported, "client_secret_post"):
		return SecretPost, true
	case slices.Contains(supported, "client_secret_basic"):
		return SecretBasic, true
	}
	return SecretPost, false
}

// Apply adds the client authentication to a token-endpoint request: for a
// secret sent with SecretBasic, the Authorization header in h (and no
// client_id in form); for a secret sent with SecretPost, client_id and
// client_secret in form; for an assertion, client_id, client_assertion_type
// and client_assertion in form (m does not matter). With neither set (a
// public client) it sets client_id only. h and form must not be nil.
func (p AuthParams) Apply(h http.Header, form url.Values, clientID string, m SecretMethod) {
	switch {
	case p.ClientAssertion != "":
		form.Set("client_id", clientID)
		form.Set("client_assertion_type", ClientAssertionType)
		form.Set("client_assertion", p.ClientAssertion)
	case p.ClientSecret != "" && m == SecretBasic:
		userinfo := url.QueryEscape(clientID) + ":" + url.QueryEscape(p.ClientSecret)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(userinfo)))
		form.Del("client_id")
	case p.ClientSecret != "":
		form.Set("client_id", clientID)
		form.Set("client_secret", p.ClientSecret)
	default:
		form.Set("client_id", clientID)
	}
}

// Credential is a source of client authentication. Implementations are safe
// for concurrent use and cheap to call on every token request: they cache
// what is costly (a signed assertion is reused while it has minutes to live,
// unless AuthRequest.FreshAssertion asks otherwise).
type Credential interface {
	// ClientAuth returns the parameters for one token request.
	ClientAuth(ctx context.Context, req AuthRequest) (AuthParams, error)
	// Reload drops what is cached and loads the credential again from its
	// source. The token engine calls it once when the identity provider
	// rejects the credential with a certificate-class error (for Entra:
	// AADSTS700027, 700024, 7000214, 1000502, 7000274, 7000277), then retries.
	Reload(ctx context.Context) error
	// Description names the credential for logs: its kind and, for a
	// certificate, its SHA-256 thumbprint. It never holds secret material.
	Description() string
}
