package cacheentry

import (
	"github.com/identityweb/go-identityweb/session"
	"testing"
)

func TestEntryRoundTrip(t *testing.T) {
	e := Token{ExpiresOn: 1, ExtExpiresOn: 2, RefreshOn: 3, AccessToken: "at", TokenType: "pop", Scopes: "a b"}
	got, ok := DecodeToken(EncodeToken(&e), true, false)
	if !ok || got != e {
		t.Fatalf("token: %+v %v", got, ok)
	}
	bearer := Token{AccessToken: "x", TokenType: "Bearer"}
	if got, _ := DecodeToken(EncodeToken(&bearer), false, true); got.TokenType != "" || got.Scopes != "" {
		t.Fatalf("bearer: %+v", got)
	}
	r := Refresh{RefreshToken: "rt", Account: session.Account{ObjectID: "o", TenantID: "t", Username: "u", Name: "n"}, ATKeys: []string{"k1", "k2"}, IDToken: "id.token.sig"}
	gr, ok := DecodeRefresh(EncodeRefresh(&r))
	if !ok || gr.RefreshToken != "rt" || gr.Account != r.Account || len(gr.ATKeys) != 2 || gr.IDToken != "id.token.sig" {
		t.Fatalf("refresh: %+v %v", gr, ok)
	}
	if _, ok := DecodeToken(EncodeRefresh(&r), false, false); ok {
		t.Fatal("a refresh entry decoded as a token")
	}
}

// Without alias, the token is a copy: a store that reuses its buffer cannot
// change a token already returned.
func TestDecodeCopiesUnlessAliased(t *testing.T) {
	b := EncodeToken(&Token{AccessToken: "secret-token", ExpiresOn: 9})
	copied, _ := DecodeToken(b, false, false)
	aliased, _ := DecodeToken(b, false, true)
	for i := range b {
		if b[i] == 's' {
			b[i] = 'X'
		}
	}
	if copied.AccessToken != "secret-token" {
		t.Fatalf("the copy changed with the buffer: %q", copied.AccessToken)
	}
	if aliased.AccessToken == "secret-token" {
		t.Fatal("alias did not share the buffer (the hit path would allocate)")
	}
}

// FuzzDecodeEntry: corrupt, truncated or foreign values are a miss, never a
// panic.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(EncodeToken(&Token{AccessToken: "at", Scopes: "s", ExpiresOn: 9}))
	f.Add(EncodeRefresh(&Refresh{RefreshToken: "rt", ATKeys: []string{"k"}}))
	f.Add([]byte{1, 'T'})
	f.Add([]byte("{\"json\":true}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, ok := DecodeToken(b, true, false); ok && e.AccessToken == "" {
			t.Fatal("decoded a token entry without a token")
		}
		if e, ok := DecodeRefresh(b); ok && e.RefreshToken == "" {
			t.Fatal("decoded a refresh entry without a refresh token")
		}
	})
}

// A refresh entry lists its access-token keys; a key holding a newline
// must come back whole (it split in two, and sign-out missed it).
func TestRefreshKeysRoundTrip(t *testing.T) {
	for _, keys := range [][]string{nil, {"k1"}, {"k1", "k2"}, {"a\nb", "c"}, {"", "x"}} {
		r := Refresh{RefreshToken: "rt", ATKeys: keys}
		got, ok := DecodeRefresh(EncodeRefresh(&r))
		if !ok || len(got.ATKeys) != len(keys) {
			t.Fatalf("%q: got %q (%v)", keys, got.ATKeys, ok)
		}
		for i := range keys {
			if got.ATKeys[i] != keys[i] {
				t.Fatalf("%q: got %q", keys, got.ATKeys)
			}
		}
	}
}
