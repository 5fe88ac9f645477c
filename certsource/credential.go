package certsource

import (
	"context"
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
}

// AuthParams authenticate a client at the token endpoint: exactly one of
// ClientSecret (client_secret_post) and ClientAssertion (private_key_jwt or a
// federated assertion, client_assertion_type jwt-bearer) is set.
type AuthParams struct {
	ClientSecret    string
	ClientAssertion string
}

// Credential is a source of client authentication. Implementations are safe
// for concurrent use and cheap to call on every token request: they cache
// what is costly (a signed assertion is reused while it has minutes to live).
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
