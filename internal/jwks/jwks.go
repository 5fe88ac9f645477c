package jwks

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
	"github.com/identityweb/go-identityweb/internal/oauth"
)

// Set is the provider's JWKS, implementing go-oidc's KeySet. An unknown
// kid triggers at most one refetch per minRefresh, so a flood of tokens with
// random kids cannot turn into a flood of JWKS requests.
type Set struct {
	url        func(context.Context) (string, error)
	client     *http.Client
	clock      Clock
	minRefresh time.Duration

	mu      sync.RWMutex
	keys    map[string]*rsa.PublicKey
	loaded  bool
	refetch time.Time // last refetch caused by an unknown kid
	fetchMu sync.Mutex
}

// Clock is the time source the set reads to rate-limit refetches.
type Clock interface{ Now() time.Time }

// New returns a key set read from the URL url returns, through client. An
// unknown kid causes at most one refetch per minRefresh.
func New(url func(context.Context) (string, error), client *http.Client, clock Clock, minRefresh time.Duration) *Set {
	return &Set{url: url, client: client, clock: clock, minRefresh: minRefresh}
}

// Ready loads the key set once; it reports why it cannot (provider
// unreachable), so callers answer 503 rather than "invalid token".
func (k *Set) Ready(ctx context.Context) error {
	k.mu.RLock()
	loaded := k.loaded
	k.mu.RUnlock()
	if loaded {
		return nil
	}
	return k.fetch(ctx, false)
}

// ErrUnknownKey: no key of the set has the token's kid, even after a refetch.
var ErrUnknownKey = errors.New("identityweb: token signed by an unknown key")

// VerifySignature checks jwt's RS256/PS256 signature and returns its payload.
func (k *Set) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	tok, err := jws.Parse(jwt, jws.RS256, jws.PS256)
	if err != nil {
		return nil, err
	}
	key := k.key(tok.Header.Kid)
	if key == nil {
		if err := k.fetch(ctx, true); err != nil {
			return nil, err
		}
		if key = k.key(tok.Header.Kid); key == nil {
			return nil, ErrUnknownKey
		}
	}
	if err := tok.Verify(key); err != nil {
		return nil, err
	}
	return tok.Payload, nil
}

func (k *Set) key(kid string) *rsa.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[kid]
}

// fetch loads the key set. For an unknown kid (miss) it refetches at most
// once per minRefresh; the first load is always allowed.
func (k *Set) fetch(ctx context.Context, miss bool) error {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	now := k.clock.Now()
	k.mu.RLock()
	skip := (!miss && k.loaded) || (miss && k.loaded && !k.refetch.IsZero() && now.Sub(k.refetch) < k.minRefresh)
	k.mu.RUnlock()
	if skip {
		return nil
	}
	u, err := k.url(ctx)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return &oauth.TransportError{Err: err}
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kty, Use, Kid, N, E string
		} `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK {
		return &oauth.TransportError{Err: fmt.Errorf("the key set answered %d", resp.StatusCode)}
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set) != nil {
		return &oauth.TransportError{Err: errors.New("the provider's key set is not valid JSON")}
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	k.mu.Lock()
	k.keys, k.loaded = keys, true
	if miss {
		k.refetch = now
	}
	k.mu.Unlock()
	return nil
}
