package cachekey

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Kind is the kind of token a key names.
type Kind byte

// Key kinds. Every parameter that changes the answer is in the key: the
// authority, client and own tenant (the prefix), the kind, another tenant
// when a request names one, the normalized
// scopes and the partition (a digest of the incoming token for OBO, of the
// session key for users).
const (
	App         Kind = 'A'
	OBO         Kind = 'O'
	User        Kind = 'U'
	LongRunning Kind = 'L'
	refresh     Kind = 'R' // a partition's refresh token and account
)

// String names the kind as metrics and logs do: app, obo, user,
// long_running.
func (k Kind) String() string {
	switch k {
	case App:
		return "app"
	case OBO:
		return "obo"
	case User:
		return "user"
	case LongRunning:
		return "long_running"
	}
	return "unknown"
}

// IsOIDCScope reports whether s is one of the OpenID Connect scopes, which
// name no API (openid, profile, offline_access, email): they change no
// access token, so they are left out of keys and added to user requests by
// the engine. (A switch: every hit normalizes its scopes.)
func IsOIDCScope(s string) bool {
	switch s {
	case "openid", "profile", "offline_access", "email":
		return true
	}
	return false
}

// NormalizeScopes returns scopes sorted, without duplicates or OIDC scopes.
// It returns the input itself when it is already normal (no allocation), so
// callers must not modify the result.
func NormalizeScopes(scopes []string) []string {
	normal := true
	for i, s := range scopes {
		if IsOIDCScope(s) || s == "" || (i > 0 && scopes[i-1] >= s) {
			normal = false
			break
		}
	}
	if normal {
		return scopes
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "" && !IsOIDCScope(s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Builder builds the keys of one acquirer: every key starts with the
// authority and client, so acquirers sharing a store never share entries.
//
// A key is its parts joined by '|' (scopes by ' '). Each part is escaped,
// so that no two requests build the same key whatever their parts hold: the
// separators, the escape byte '%' and control characters (a line break
// would split the key lists of refresh entries) become %XX. Ordinary parts
// hold none of them and are kept as they are, so keys written before the
// escaping (in Redis) still match.
type Builder struct {
	prefix string
	tenant string // the acquirer's own tenant: left out of its keys
	scopes *scopeMemo
}

// NewBuilder returns the key builder for a client of an authority whose
// requests go to tenant unless one names another (Entra's WithTenant; ""
// for standards providers).
//
// Keys start "idw2|" and a digest of the authority, client and tenant
// (120 bits of SHA-256, base64url): a key is then ~100 bytes shorter than
// with the three spelled out ("idw1", until this version), which is most of
// what an L1 entry costs beyond its token. The scopes are a digest too
// (128 bits), remembered per scope set: a user's key is ~75 bytes. (Keys of
// the pre-release version 1 are not read.)
func NewBuilder(authority, clientID, tenant string) Builder {
	var in []byte
	in = appendPart(in, authority)
	in = append(in, '|')
	in = appendPart(in, clientID)
	in = append(in, '|')
	in = appendPart(in, tenant)
	sum := sha256.Sum256(in)
	b := []byte("idw2|")
	b = base64.RawURLEncoding.AppendEncode(b, sum[:15])
	return Builder{prefix: string(append(b, '|')), tenant: tenant, scopes: newScopeMemo()}
}

// scopeMemo remembers the digests of scope sets (an app asks for a few):
// building a key then costs a map read, not a SHA-256. Bounded: a full
// shard takes no more sets, whose digests are then computed on each use
// (never cleared, so more sets than the memo holds do not make every call
// rewrite it).
type scopeMemo struct {
	seed   maphash.Seed
	shards [16]struct {
		mu sync.RWMutex
		m  map[string]string
	}
}

const maxScopeMemoShard = 8192 // 131,072 scope sets in all (~20 MB at most)

func newScopeMemo() *scopeMemo {
	m := &scopeMemo{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = map[string]string{}
	}
	return m
}

// appendDigest appends the digest of in (the joined, escaped scopes).
func (m *scopeMemo) appendDigest(dst, in []byte) []byte {
	sh := &m.shards[maphash.Bytes(m.seed, in)%uint64(len(m.shards))]
	sh.mu.RLock()
	d, ok := sh.m[string(in)]
	sh.mu.RUnlock()
	if ok {
		return append(dst, d...)
	}
	sum := sha256.Sum256(in)
	dst = base64.RawURLEncoding.AppendEncode(dst, sum[:16])
	sh.mu.Lock()
	if len(sh.m) < maxScopeMemoShard {
		sh.m[string(in)] = string(dst[len(dst)-22:])
	}
	sh.mu.Unlock()
	return dst
}

// special marks the bytes a key part escapes.
var special = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t[0x7f], t['|'], t[' '], t['%'] = true, true, true, true
	return t
}()

// appendPart appends s to dst, escaped.
func appendPart(dst []byte, s string) []byte {
	if needsEscape(s) {
		return appendEscaped(dst, s)
	}
	return append(dst, s...)
}

// needsEscape reports whether s may hold a special byte. It reads eight
// bytes at a time (the hit path builds a key on every call) and says yes
// for a byte below 0x26 (control characters, ' ', '%', and '!'…'$', which
// appendEscaped then copies as they are), '|' or 0x7f.
func needsEscape(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	for ; len(b) >= 8; b = b[8:] {
		x := binary.LittleEndian.Uint64(b)
		bar, del := x^(ones*'|'), x^(ones*0x7f)
		if ((x-ones*0x26)&^x|(bar-ones)&^bar|(del-ones)&^del)&highs != 0 {
			return true
		}
	}
	for _, c := range b {
		if special[c] {
			return true
		}
	}
	return false
}

func appendEscaped(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		if c := s[i]; special[c] {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// Token builds an access token's cache key with one allocation.
func (b Builder) Token(kind Kind, tenant string, scopes []string, partition string) string {
	var buf [512]byte
	return string(b.AppendToken(buf[:0], kind, tenant, scopes, partition))
}

// AppendToken appends an access token's cache key to dst: the hit path
// builds it on the stack and looks it up without allocating.
func (b Builder) AppendToken(dst []byte, kind Kind, tenant string, scopes []string, partition string) []byte {
	dst = append(dst, b.prefix...)
	dst = append(dst, byte(kind), '|')
	if tenant != b.tenant { // the builder's own tenant is in the prefix
		dst = appendPart(dst, tenant)
	}
	dst = append(dst, '|')
	var buf [256]byte
	in := buf[:0]
	for i, s := range scopes {
		if i > 0 {
			in = append(in, ' ')
		}
		in = appendPart(in, s)
	}
	dst = b.scopes.appendDigest(dst, in)
	dst = append(dst, '|')
	return appendPart(dst, partition)
}

// HasAccount reports whether tokens of the kind belong to an account kept
// in the partition's refresh entry (users, long-running OBO): they are
// served only while that entry exists.
func (k Kind) HasAccount() bool { return k == User || k == LongRunning }

// Refresh is the key of a partition's refresh token and account.
func (b Builder) Refresh(kind Kind, partition string) string {
	var buf [256]byte
	return string(b.AppendRefresh(buf[:0], kind, partition))
}

// AppendRefresh appends the key of a partition's refresh token and account
// to dst.
func (b Builder) AppendRefresh(dst []byte, kind Kind, partition string) []byte {
	dst = append(dst, b.prefix...)
	dst = append(dst, byte(refresh), byte(kind), '|')
	return appendPart(dst, partition)
}

// Digest is the partition form of a secret (an incoming token, a session
// key): SHA-256 truncated to 128 bits, base64url (22 characters). It is
// what keys hold, so caches never see the secret itself; 128 bits keep two
// partitions apart (a collision needs ~2^64 secrets, reaching a given
// partition ~2^128 tries) at half the bytes in every key.
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// DigestMemo remembers digests of recently seen secrets: an OBO cache hit
// then costs a map lookup instead of hashing a 1.5 KB token (~1.5 µs).
// The map is keyed by the secret itself, so there are no collisions; it is
// bounded, and a full shard is cleared (the digest is recomputed on demand).
type DigestMemo struct {
	seed   maphash.Seed
	max    int
	shards [16]struct {
		mu sync.RWMutex
		m  map[string]string
	}
}

// NewDigestMemo returns a memo holding at most about max digests.
func NewDigestMemo(max int) *DigestMemo {
	d := &DigestMemo{seed: maphash.MakeSeed(), max: max/16 + 1}
	for i := range d.shards {
		d.shards[i].m = map[string]string{}
	}
	return d
}

// Get returns Digest(secret), from the memo when it is there.
func (d *DigestMemo) Get(secret string) string {
	sh := &d.shards[maphash.String(d.seed, secret)%16]
	sh.mu.RLock()
	v, ok := sh.m[secret]
	sh.mu.RUnlock()
	if ok {
		return v
	}
	v = Digest(secret)
	sh.mu.Lock()
	if len(sh.m) >= d.max {
		clear(sh.m)
	}
	sh.m[strings.Clone(secret)] = v
	sh.mu.Unlock()
	return v
}
