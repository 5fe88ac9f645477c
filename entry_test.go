package identityweb

import (
	"testing"
)

func TestEntryRoundTrip(t *testing.T) {
	e := tokenEntry{expiresOn: 1, extExpiresOn: 2, refreshOn: 3, accessToken: "at", tokenType: "pop", scopes: "a b"}
	got, ok := decodeToken(encodeToken(&e), true)
	if !ok || got != e {
		t.Fatalf("token: %+v %v", got, ok)
	}
	bearer := tokenEntry{accessToken: "x", tokenType: "Bearer"}
	if got, _ := decodeToken(encodeToken(&bearer), false); got.tokenType != "" || got.scopes != "" {
		t.Fatalf("bearer: %+v", got)
	}
	r := refreshEntry{refreshToken: "rt", account: Account{ObjectID: "o", TenantID: "t", Username: "u", Name: "n"}, atKeys: []string{"k1", "k2"}}
	gr, ok := decodeRefresh(encodeRefresh(&r))
	if !ok || gr.refreshToken != "rt" || gr.account != r.account || len(gr.atKeys) != 2 {
		t.Fatalf("refresh: %+v %v", gr, ok)
	}
	if _, ok := decodeToken(encodeRefresh(&r), false); ok {
		t.Fatal("a refresh entry decoded as a token")
	}
}

// FuzzDecodeEntry: corrupt, truncated or foreign values are a miss, never a
// panic.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeToken(&tokenEntry{accessToken: "at", scopes: "s", expiresOn: 9}))
	f.Add(encodeRefresh(&refreshEntry{refreshToken: "rt", atKeys: []string{"k"}}))
	f.Add([]byte{1, 'T'})
	f.Add([]byte("{\"json\":true}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, ok := decodeToken(b, true); ok && e.accessToken == "" {
			t.Fatal("decoded a token entry without a token")
		}
		if e, ok := decodeRefresh(b); ok && e.refreshToken == "" {
			t.Fatal("decoded a refresh entry without a refresh token")
		}
	})
}
