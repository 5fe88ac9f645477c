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
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/identityweb/go-identityweb/internal/jws"
	"github.com/identityweb/go-identityweb/internal/oauth"
)

// Set is the provider's signing keys (JWKS), implementing go-oidc's KeySet.
//
// The keys are fetched on first use and read again on a schedule (Every,
// each period shortened by a random 0–10 %), so a key the provider removed
// stops validating at the next refresh; OnRemoved is told which. A token
// with an unknown kid refetches them at most once per MinRefresh, so a flood
// of tokens with random kids cannot become a flood of requests. There is
// one request at a time, for all waiters; a failed one is remembered for a
// back-off (2 s doubling to 1 min), during which callers fail fast with the
// error (it matches oauth.ErrUnavailable) instead of asking again. Keys
// already known keep validating while the provider fails.
type Set struct {
	url    func(context.Context) (string, error)
	client *http.Client
	clock  Clock
	opts   Options

	keys atomic.Pointer[map[string]*rsa.PublicKey] // nil until loaded; replaced, never modified
	due  atomic.Int64                              // unix nanoseconds of the next scheduled refresh

	mu       sync.Mutex
	missAt   time.Time     // last successful refetch caused by an unknown kid
	err      error         // the last failure, until a success
	retryAt  time.Time     // no request before, after a failure
	backoff  time.Duration // the current back-off
	inflight chan struct{} // closed when the request in flight ends
}

// Options configure a Set.
type Options struct {
	// MinRefresh bounds refetches for unknown kids. Default: 5 minutes.
	MinRefresh time.Duration
	// Every is the refresh schedule. Default: 24 hours.
	Every time.Duration
	// OnRemoved is called with the kids a refresh removed, after the new
	// set is in use and before waiters resume.
	OnRemoved func(kids []string)
}

// Clock is the time source of the schedule, the rate limit and the back-off.
type Clock interface{ Now() time.Time }

const (
	minBackoff   = 2 * time.Second
	maxBackoff   = time.Minute
	fetchTimeout = 30 * time.Second
)

// New returns a key set read from the URL url returns, through client.
func New(url func(context.Context) (string, error), client *http.Client, clock Clock, opts Options) *Set {
	if opts.MinRefresh <= 0 {
		opts.MinRefresh = 5 * time.Minute
	}
	if opts.Every <= 0 {
		opts.Every = 24 * time.Hour
	}
	return &Set{url: url, client: client, clock: clock, opts: opts}
}

// ErrUnknownKey: no key of the set has the token's kid, even after a refetch.
var ErrUnknownKey = errors.New("identityweb: token signed by an unknown key")

// Due reports whether the scheduled refresh is due at now: a cheap check
// for every validation, cached ones included.
func (k *Set) Due(now time.Time) bool { return k.DueUnixNano(now.UnixNano()) }

// DueUnixNano is Due for a time given in Unix nanoseconds.
func (k *Set) DueUnixNano(now int64) bool {
	return k.keys.Load() == nil || now >= k.due.Load()
}

// Ready loads the key set on first use, and refreshes it when the schedule
// says so. It fails only when no key set was ever loaded (the provider is
// unreachable: callers answer 503, not "invalid token"); a failed scheduled
// refresh keeps the keys in use.
func (k *Set) Ready(ctx context.Context) error {
	if !k.Due(k.clock.Now()) {
		return nil
	}
	err := k.refresh(ctx, false)
	if k.keys.Load() != nil {
		return nil
	}
	return err
}

// Has reports whether the set holds kid.
func (k *Set) Has(kid string) bool {
	m := k.keys.Load()
	return m != nil && (*m)[kid] != nil
}

// Verify checks jwt's RS256/PS256 signature with the key its kid names and
// returns the token (header and payload).
func (k *Set) Verify(ctx context.Context, jwt string) (*jws.Token, error) {
	tok, err := jws.Parse(jwt, jws.RS256, jws.PS256)
	if err != nil {
		return nil, err
	}
	key, err := k.key(ctx, tok.Header.Kid)
	if err != nil {
		return nil, err
	}
	if err := tok.Verify(key); err != nil {
		return nil, err
	}
	return tok, nil
}

// VerifySignature checks jwt's signature and returns its payload (go-oidc's
// KeySet).
func (k *Set) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	tok, err := k.Verify(ctx, jwt)
	if err != nil {
		return nil, err
	}
	return tok.Payload, nil
}

// key returns the key of kid, refetching the set for an unknown kid when
// the rate limit allows. While the provider fails, an unknown kid is the
// provider's failure (the token may be signed by a new key), not the
// token's.
func (k *Set) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if err := k.Ready(ctx); err != nil {
		return nil, err
	}
	if m := k.keys.Load(); (*m)[kid] != nil {
		return (*m)[kid], nil
	}
	k.mu.Lock()
	limited := !k.missAt.IsZero() && k.clock.Now().Sub(k.missAt) < k.opts.MinRefresh
	failing := k.err
	k.mu.Unlock()
	if limited && failing == nil {
		return nil, ErrUnknownKey
	}
	if err := k.refresh(ctx, true); err != nil {
		return nil, err
	}
	if m := k.keys.Load(); (*m)[kid] != nil {
		return (*m)[kid], nil
	}
	return nil, ErrUnknownKey
}

// refresh fetches the set once for every caller, unless a failure's
// back-off is running: then it returns that failure at once. The caller
// that starts the request waits for it, and so do callers that need it: no
// keys loaded yet, or an unknown kid. Others, while a scheduled refresh is
// in flight, go on with the keys in use (a slow key set endpoint then holds
// up one request, not every request).
func (k *Set) refresh(ctx context.Context, miss bool) error {
	k.mu.Lock()
	switch {
	case k.inflight == nil:
		if k.clock.Now().Before(k.retryAt) {
			err := k.err
			k.mu.Unlock()
			return err
		}
		k.start(miss)
	case !miss && k.keys.Load() != nil:
		k.mu.Unlock()
		return nil
	}
	done := k.inflight
	k.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

// start begins the one request in flight; k.mu is held. The request
// outlives the callers' contexts (fetchTimeout bounds it).
func (k *Set) start(miss bool) {
	done := make(chan struct{})
	k.inflight = done
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		keys, err := k.fetch(ctx)
		var removed []string
		k.mu.Lock()
		now := k.clock.Now()
		if err == nil {
			if old := k.keys.Load(); old != nil {
				for kid := range *old {
					if keys[kid] == nil {
						removed = append(removed, kid)
					}
				}
			}
			k.keys.Store(&keys)
			period := k.opts.Every - time.Duration(mrand.Int64N(int64(k.opts.Every/10)+1))
			k.due.Store(now.Add(period).UnixNano())
			k.err, k.backoff, k.retryAt = nil, 0, time.Time{}
			if miss {
				k.missAt = now
			}
		} else {
			k.err = err
			k.backoff = min(max(k.backoff*2, minBackoff), maxBackoff)
			k.retryAt = now.Add(k.backoff)
		}
		k.mu.Unlock()
		if len(removed) > 0 && k.opts.OnRemoved != nil {
			k.opts.OnRemoved(removed)
		}
		k.mu.Lock()
		k.inflight = nil
		k.mu.Unlock()
		close(done)
	}()
}

func (k *Set) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	u, err := k.url(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, &oauth.TransportError{Err: err}
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kty, Use, Kid, N, E string
		} `json:"keys"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &oauth.TransportError{Err: fmt.Errorf("the key set answered %d", resp.StatusCode)}
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set) != nil {
		return nil, &oauth.TransportError{Err: errors.New("the provider's key set is not valid JSON")}
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
	return keys, nil
}
