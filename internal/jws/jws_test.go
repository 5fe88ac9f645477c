package jws

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
	other   *rsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return key, other
}

func TestSignVerifyRoundTrip(t *testing.T) {
	k, o := keys(t)
	for _, alg := range []Algorithm{RS256, PS256} {
		t.Run(string(alg), func(t *testing.T) {
			tok, err := Sign(k, Header{Alg: alg, Typ: "JWT", Kid: "k1", X5tS256: "abc"}, map[string]any{"sub": "x", "n": 1})
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(tok, RS256, PS256)
			if err != nil {
				t.Fatal(err)
			}
			if p.Header.Kid != "k1" || p.Header.X5tS256 != "abc" || p.Header.Alg != alg {
				t.Fatalf("header = %+v", p.Header)
			}
			if err := p.Verify(&k.PublicKey); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := p.Verify(&o.PublicKey); !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify with other key = %v, want ErrSignature", err)
			}
			var c struct {
				Sub string `json:"sub"`
				N   int    `json:"n"`
			}
			if err := p.Claims(&c); err != nil || c.Sub != "x" || c.N != 1 {
				t.Fatalf("claims = %+v, %v", c, err)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	k, _ := keys(t)
	good, err := Sign(k, Header{Alg: RS256}, map[string]string{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"one part", "abc", ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrMalformed},
		{"bad base64 header", "%%%." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not json", enc([]byte("nope")) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"alg none", enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".AA", ErrAlgorithm},
		{"alg HS256", enc([]byte(`{"alg":"HS256"}`)) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"alg not allowed", enc([]byte(`{"alg":"PS256"}`)) + "." + parts[1] + "." + parts[2], ErrAlgorithm},
		{"too large", strings.Repeat("a", MaxTokenSize+1), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.token, RS256)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTamperedPayloadFails(t *testing.T) {
	k, _ := keys(t)
	tok, _ := Sign(k, Header{Alg: PS256}, map[string]string{"role": "user"})
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"role":"admin"}`)) + "." + parts[2]
	p, err := Parse(forged, PS256)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(&k.PublicKey); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify forged = %v", err)
	}
}

func TestVerifyRejectsSmallKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Sign(small, Header{Alg: RS256}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(tok, RS256)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(&small.PublicKey); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Verify 1024-bit = %v, want ErrUnsupported", err)
	}
}

func FuzzParse(f *testing.F) {
	k, _ := keys(f)
	good, _ := Sign(k, Header{Alg: RS256, Kid: "a"}, map[string]string{"a": "b"})
	f.Add(good)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s, RS256, PS256)
		if err != nil {
			return
		}
		_ = p.Verify(&k.PublicKey)
		var m map[string]any
		_ = p.Claims(&m)
	})
}
