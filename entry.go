package identityweb

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// Cache entries are encoded in a small versioned binary format: one entry
// per token, decoded on every hit, so it is built to decode with a single
// allocation (the access token string).
//
//	byte 0       version (entryVersion)
//	byte 1       kind: entryToken or entryRefresh
//	bytes 2..25  expiresOn, extExpiresOn, refreshOn: int64 unix seconds
//	then         length-prefixed (uvarint) strings, per kind
const (
	entryVersion = 1
	entryToken   = 'T'
	entryRefresh = 'R'
	entryHeader  = 2 + 3*8
)

// tokenEntry is a cached access token.
type tokenEntry struct {
	expiresOn, extExpiresOn, refreshOn int64
	accessToken                        string
	tokenType                          string // "" for Bearer
	scopes                             string // space-separated, as requested (normalized)
}

// refreshEntry is a cached refresh token with its account.
type refreshEntry struct {
	refreshToken string
	account      Account
	atKeys       []string // access token keys of this partition, for removal
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeToken(e *tokenEntry) []byte {
	tt := e.tokenType
	if strings.EqualFold(tt, "bearer") {
		tt = ""
	}
	b := make([]byte, entryHeader, entryHeader+len(e.accessToken)+len(tt)+len(e.scopes)+12)
	b[0], b[1] = entryVersion, entryToken
	binary.LittleEndian.PutUint64(b[2:], uint64(e.expiresOn))
	binary.LittleEndian.PutUint64(b[10:], uint64(e.extExpiresOn))
	binary.LittleEndian.PutUint64(b[18:], uint64(e.refreshOn))
	b = appendString(b, e.accessToken)
	b = appendString(b, tt)
	return appendString(b, e.scopes)
}

// reader walks the strings of an entry; any fault makes ok false.
type reader struct {
	b  []byte
	ok bool
}

func (r *reader) next() []byte {
	if !r.ok {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.ok = false
		return nil
	}
	s := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return s
}

// decodeToken decodes a token entry; scopes are decoded only when asked for
// (they are needed to refresh, not to serve a hit).
func decodeToken(b []byte, withScopes bool) (tokenEntry, bool) {
	var e tokenEntry
	if len(b) < entryHeader || b[0] != entryVersion || b[1] != entryToken {
		return e, false
	}
	e.expiresOn = int64(binary.LittleEndian.Uint64(b[2:]))
	e.extExpiresOn = int64(binary.LittleEndian.Uint64(b[10:]))
	e.refreshOn = int64(binary.LittleEndian.Uint64(b[18:]))
	r := reader{b: b[entryHeader:], ok: true}
	at := r.next()
	tt := r.next()
	sc := r.next()
	if !r.ok || len(at) == 0 {
		return e, false
	}
	// The string shares the entry's bytes: stores never modify a value
	// after Set or after returning it (the cachestore.Store contract), so
	// the bytes are immutable and the hit path needs no copy.
	e.accessToken = unsafe.String(&at[0], len(at))
	if len(tt) > 0 {
		e.tokenType = string(tt)
	}
	if withScopes {
		e.scopes = string(sc)
	}
	return e, true
}

func encodeRefresh(e *refreshEntry) []byte {
	b := make([]byte, entryHeader, entryHeader+len(e.refreshToken)+256)
	b[0], b[1] = entryVersion, entryRefresh
	b = appendString(b, e.refreshToken)
	b = appendString(b, e.account.ObjectID)
	b = appendString(b, e.account.TenantID)
	b = appendString(b, e.account.Username)
	b = appendString(b, e.account.Name)
	return appendString(b, strings.Join(e.atKeys, "\n"))
}

func decodeRefresh(b []byte) (refreshEntry, bool) {
	var e refreshEntry
	if len(b) < entryHeader || b[0] != entryVersion || b[1] != entryRefresh {
		return e, false
	}
	r := reader{b: b[entryHeader:], ok: true}
	rt, oid, tid, user, name, keys := r.next(), r.next(), r.next(), r.next(), r.next(), r.next()
	if !r.ok || len(rt) == 0 {
		return e, false
	}
	e.refreshToken = string(rt)
	e.account = Account{ObjectID: string(oid), TenantID: string(tid), Username: string(user), Name: string(name)}
	if len(keys) > 0 {
		e.atKeys = strings.Split(string(keys), "\n")
	}
	return e, true
}
