package jwks

import (
	"context"
	"crypto/rsa"
)

// Key returns the provider's key with kid, refetching the set once for an
// unknown kid (rate-limited as Verify's refetch is), for callers that verify
// with a JOSE library of their own (logout tokens, through go-jose).
// ErrUnknownKey when no key has kid; a set that cannot be fetched is the
// fetch's error (ErrUnavailable).
func (k *Set) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	return k.key(ctx, kid)
}
