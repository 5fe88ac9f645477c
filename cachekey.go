package identityweb

import (
	"crypto/sha256"
	"encoding/base64"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
)

// Key kinds. Every parameter that changes the answer is in the key: the
// authority and client (the prefix), the kind, the tenant, the normalized
// scopes and the partition (a digest of the incoming token for OBO, of the
// session key for users).
const (
	kindApp         = 'A'
	kindOBO         = 'O'
	kindUser        = 'U'
	kindLongRunning = 'L'
	kindRefresh     = 'R' // a partition's refresh token and account
)

// oidcScopes change no access token; they are left out of keys and added to
// user requests by the engine.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// normalizeScopes returns scopes sorted, without duplicates or OIDC scopes.
// It returns the input itself when it is already normal (no allocation), so
// callers must not modify the result.
func normalizeScopes(scopes []string) []string {
	normal := true
	for i, s := range scopes {
		if oidcScopes[s] || s == "" || (i > 0 && scopes[i-1] >= s) {
			normal = false
			break
		}
	}
	if normal {
		return scopes
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "" && !oidcScopes[s] {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// tokenKey builds an access token's cache key with one allocation.
func (a *TokenAcquirer) tokenKey(kind byte, tenant string, scopes []string, partition string) string {
	var buf [512]byte
	return string(a.appendTokenKey(buf[:0], kind, tenant, scopes, partition))
}

// appendTokenKey appends an access token's cache key to b: the hit path
// builds it on the stack and looks it up without allocating.
func (a *TokenAcquirer) appendTokenKey(b []byte, kind byte, tenant string, scopes []string, partition string) []byte {
	b = append(b, a.keyPrefix...)
	b = append(b, kind, '|')
	b = append(b, tenant...)
	b = append(b, '|')
	for i, s := range scopes {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	b = append(b, '|')
	return append(b, partition...)
}

// refreshKey is the key of a partition's refresh token and account.
func (a *TokenAcquirer) refreshKey(kind byte, partition string) string {
	return a.keyPrefix + string(kindRefresh) + string(kind) + "|" + partition
}

// digest is the partition form of a secret (an incoming token, a session
// key): SHA-256, base64url. It is what keys hold, so caches never see the
// secret itself.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// digestMemo remembers digests of recently seen secrets: an OBO cache hit
// then costs a map lookup instead of hashing a 1.5 KB token (~1.5 µs).
// The map is keyed by the secret itself, so there are no collisions; it is
// bounded, and a full shard is cleared (the digest is recomputed on demand).
type digestMemo struct {
	seed   maphash.Seed
	max    int
	shards [16]struct {
		mu sync.RWMutex
		m  map[string]string
	}
}

func newDigestMemo(max int) *digestMemo {
	d := &digestMemo{seed: maphash.MakeSeed(), max: max/16 + 1}
	for i := range d.shards {
		d.shards[i].m = map[string]string{}
	}
	return d
}

func (d *digestMemo) get(secret string) string {
	sh := &d.shards[maphash.String(d.seed, secret)%16]
	sh.mu.RLock()
	v, ok := sh.m[secret]
	sh.mu.RUnlock()
	if ok {
		return v
	}
	v = digest(secret)
	sh.mu.Lock()
	if len(sh.m) >= d.max {
		clear(sh.m)
	}
	sh.m[strings.Clone(secret)] = v
	sh.mu.Unlock()
	return v
}
