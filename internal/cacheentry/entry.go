package cacheentry

import (
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"

	"github.com/identityweb/go-identityweb/session"
)

// Cache entries are encoded in a small versioned binary format: one entry
// per token, decoded on every hit, so it is built to decode with a single
// allocation (the access token string).
//
//	byte 0       version (entryVersion)
//	byte 1       kind: entryToken or entryRefresh
//	bytes 2..25  ExpiresOn, ExtExpiresOn, RefreshOn: int64 unix seconds
//	then         length-prefixed (uvarint) strings, per kind
const (
	entryVersion = 1
	entryToken   = 'T'
	entryRefresh = 'R'
	entryHeader  = 2 + 3*8
	// keyListVersion marks a refresh entry whose access-token keys are
	// length-prefixed, written only when a key holds a newline (version 1
	// lists them one per line, as every reader of version 1 expects).
	keyListVersion = 2
)

// Token is a cached access token.
type Token struct {
	ExpiresOn, ExtExpiresOn, RefreshOn int64
	AccessToken                        string
	TokenType                          string // "" for Bearer
	Scopes                             string // space-separated, as requested (normalized)
}

// Refresh is a cached refresh token with its account.
type Refresh struct {
	RefreshToken string
	Account      session.Account
	ATKeys       []string // access token keys of this partition, for removal
	IDToken      string   // the last ID token: the id_token_hint of sign-out
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func EncodeToken(e *Token) []byte {
	tt := e.TokenType
	if strings.EqualFold(tt, "bearer") {
		tt = ""
	}
	b := make([]byte, entryHeader, entryHeader+len(e.AccessToken)+len(tt)+len(e.Scopes)+12)
	b[0], b[1] = entryVersion, entryToken
	binary.LittleEndian.PutUint64(b[2:], uint64(e.ExpiresOn))
	binary.LittleEndian.PutUint64(b[10:], uint64(e.ExtExpiresOn))
	binary.LittleEndian.PutUint64(b[18:], uint64(e.RefreshOn))
	b = appendString(b, e.AccessToken)
	b = appendString(b, tt)
	return appendString(b, e.Scopes)
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

// DecodeToken decodes a token entry; Scopes are decoded only when asked for
// (they are needed to refresh, not to serve a hit). With alias the access
// token shares b's bytes instead of copying them: the caller promises that
// b is never modified afterwards.
func DecodeToken(b []byte, withScopes, alias bool) (Token, bool) {
	var e Token
	if len(b) < entryHeader || b[0] != entryVersion || b[1] != entryToken {
		return e, false
	}
	e.ExpiresOn = int64(binary.LittleEndian.Uint64(b[2:]))
	e.ExtExpiresOn = int64(binary.LittleEndian.Uint64(b[10:]))
	e.RefreshOn = int64(binary.LittleEndian.Uint64(b[18:]))
	r := reader{b: b[entryHeader:], ok: true}
	at := r.next()
	tt := r.next()
	sc := r.next()
	if !r.ok || len(at) == 0 {
		return e, false
	}
	if alias {
		e.AccessToken = unsafe.String(&at[0], len(at))
	} else {
		e.AccessToken = string(at)
	}
	if len(tt) > 0 {
		e.TokenType = string(tt)
	}
	if withScopes {
		e.Scopes = string(sc)
	}
	return e, true
}

// EncodeRefresh encodes a refresh token entry.
func EncodeRefresh(e *Refresh) []byte {
	b := make([]byte, entryHeader, entryHeader+len(e.RefreshToken)+256)
	b[0], b[1] = entryVersion, entryRefresh
	b = appendString(b, e.RefreshToken)
	b = appendString(b, e.Account.ObjectID)
	b = appendString(b, e.Account.TenantID)
	b = appendString(b, e.Account.Username)
	b = appendString(b, e.Account.Name)
	if !slices.ContainsFunc(e.ATKeys, func(k string) bool { return strings.Contains(k, "\n") }) {
		b = appendString(b, strings.Join(e.ATKeys, "\n"))
	} else {
		b[0] = keyListVersion
		var list []byte
		for _, k := range e.ATKeys {
			list = appendString(list, k)
		}
		b = appendString(b, string(list))
	}
	return appendString(b, e.IDToken)
}

// DecodeRefresh decodes a refresh token entry.
func DecodeRefresh(b []byte) (Refresh, bool) {
	var e Refresh
	if len(b) < entryHeader || (b[0] != entryVersion && b[0] != keyListVersion) || b[1] != entryRefresh {
		return e, false
	}
	r := reader{b: b[entryHeader:], ok: true}
	rt, oid, tid, user, name, keys := r.next(), r.next(), r.next(), r.next(), r.next(), r.next()
	if !r.ok || len(rt) == 0 {
		return e, false
	}
	if len(r.b) > 0 { // entries written before the ID token was kept end here
		e.IDToken = string(r.next())
	}
	e.RefreshToken = string(rt)
	e.Account = session.Account{ObjectID: string(oid), TenantID: string(tid), Username: string(user), Name: string(name)}
	switch {
	case len(keys) == 0:
	case b[0] == entryVersion:
		e.ATKeys = strings.Split(string(keys), "\n")
	default:
		kr := reader{b: keys, ok: true}
		for len(kr.b) > 0 && kr.ok {
			e.ATKeys = append(e.ATKeys, string(kr.next()))
		}
		if !kr.ok {
			return Refresh{}, false
		}
	}
	return e, true
}
