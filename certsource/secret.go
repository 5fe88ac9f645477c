package certsource

import (
	"context"
	"errors"
)

// Secret is a client secret credential. Use it for development only: secrets
// leak, expire and cannot be rotated without a deployment. Prefer managed
// identity or certificates in production.
type Secret struct {
	value string
}

// NewSecret returns a Secret credential; the secret must not be empty.
func NewSecret(secret string) (*Secret, error) {
	if secret == "" {
		return nil, errors.New("certsource: the client secret is empty")
	}
	return &Secret{value: secret}, nil
}

// ClientAuth returns the secret.
func (s *Secret) ClientAuth(context.Context, AuthRequest) (AuthParams, error) {
	return AuthParams{ClientSecret: s.value}, nil
}

// Reload does nothing: a secret has no source to reload from.
func (s *Secret) Reload(context.Context) error { return nil }

// Description names the credential without revealing it.
func (s *Secret) Description() string { return "client secret" }

// String hides the secret from %v.
func (s *Secret) String() string { return "certsource.Secret(redacted)" }
