package certsource

import (
	"context"
	"errors"
	"sync"
)

// Chain is a list of credentials tried in order (Identity Web's
// ClientCredentials): the first is used; when the identity provider rejects
// it with a certificate-class error, Reload reloads it once — and when that
// brings nothing new (the same certificate, or a failure to load), moves to
// the next credential, which the engine's retry then uses.
type Chain struct {
	mu    sync.Mutex
	creds []Credential
	i     int
}

// NewChain returns a chain of creds, in order of preference.
func NewChain(creds ...Credential) (*Chain, error) {
	if len(creds) == 0 {
		return nil, errors.New("certsource: a chain needs at least one credential")
	}
	return &Chain{creds: creds}, nil
}

func (c *Chain) current() Credential {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creds[c.i]
}

// ClientAuth authenticates with the current credential.
func (c *Chain) ClientAuth(ctx context.Context, req AuthRequest) (AuthParams, error) {
	return c.current().ClientAuth(ctx, req)
}

// Reload reloads the current credential, or moves to the next when the
// reload changes nothing. After the last one it starts again at the first.
func (c *Chain) Reload(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur := c.creds[c.i]
	before := cur.Description()
	err := cur.Reload(ctx)
	if err == nil && cur.Description() != before {
		return nil // a new certificate: try it
	}
	c.i = (c.i + 1) % len(c.creds)
	return nil
}

// Description names the credential in use.
func (c *Chain) Description() string { return c.current().Description() }
