package cachestore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeyRing encrypts with AES-256-GCM. The first key encrypts; every key
// decrypts, so keys rotate without losing what the cache holds: put the new
// key first, keep the old one until entries written with it have expired.
//
// Sealed format: version byte (1) | key id (4 bytes: SHA-256 of the key) |
// nonce (12) | ciphertext and tag. The caller's additional data (the cache
// key) is authenticated, so a value copied under another key fails to open.
type KeyRing struct {
	keys []ringKey
}

type ringKey struct {
	id   [4]byte
	aead cipher.AEAD
}

const sealVersion = 1

// ErrDecrypt is returned for a value that cannot be opened: corrupt,
// truncated, moved to another key, or sealed with a key not in the ring.
var ErrDecrypt = errors.New("cachestore: value cannot be decrypted")

// NewKeyRing returns a ring of 32-byte keys, the first encrypting.
func NewKeyRing(keys ...[]byte) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("cachestore: a key ring needs at least one key")
	}
	r := &KeyRing{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("cachestore: key %d is %d bytes, want 32 (AES-256)", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		var id [4]byte
		copy(id[:], sum[:4])
		r.keys = append(r.keys, ringKey{id: id, aead: aead})
	}
	return r, nil
}

// ParseKeyRing reads keys written as comma-separated standard or URL base64
// (the form of an environment variable such as IDWEB_CACHE_KEYS).
func ParseKeyRing(s string) (*KeyRing, error) {
	var keys [][]byte
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var k []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err = enc.DecodeString(part); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("cachestore: key %d is not base64", len(keys))
		}
		keys = append(keys, k)
	}
	return NewKeyRing(keys...)
}

// NewKey returns a fresh random 32-byte key.
func NewKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// Seal encrypts plaintext with the first key, authenticating aad.
func (r *KeyRing) Seal(plaintext, aad []byte) []byte {
	k := r.keys[0]
	out := make([]byte, 1+4+12, 1+4+12+len(plaintext)+k.aead.Overhead())
	out[0] = sealVersion
	copy(out[1:5], k.id[:])
	rand.Read(out[5:17])
	return k.aead.Seal(out, out[5:17], plaintext, aad)
}

// Open decrypts what Seal produced with any key of the ring.
func (r *KeyRing) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 1+4+12+16 || sealed[0] != sealVersion {
		return nil, ErrDecrypt
	}
	for _, k := range r.keys {
		if [4]byte(sealed[1:5]) != k.id {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[5:17], sealed[17:], aad)
		if err != nil {
			return nil, ErrDecrypt
		}
		return pt, nil
	}
	return nil, ErrDecrypt
}
