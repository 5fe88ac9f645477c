package certsource_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/identityweb/go-identityweb/certsource"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func thumb(c *iwt.Certificate) string {
	s := sha256.Sum256(c.Cert.Raw)
	return hex.EncodeToString(s[:])
}

func certThumb(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

func pemOf(c *iwt.Certificate) []byte { return []byte(c.CertificatePEM() + c.KeyPEM()) }

func pkcs1PEM(c *iwt.Certificate) []byte {
	return []byte(c.CertificatePEM() + string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(c.Key)})))
}

func TestParseCertificateFormats(t *testing.T) {
	a, _ := iwt.NewCertificate("a", 0)
	b, _ := iwt.NewCertificate("b", 0)
	pfx, err := pkcs12.Modern.Encode(a.Key, a.Cert, nil, "pfx-pass")
	if err != nil {
		t.Fatal(err)
	}
	encPKCS8, _ := pkcs8.MarshalPrivateKey(a.Key, []byte("p8-pass"), nil)
	//lint:ignore SA1019 the test needs a legacy encrypted key to read
	legacy, _ := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(a.Key), []byte("legacy-pass"), x509.PEMCipherAES256)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	ecCert, ecOwn := ecCertificate(t, elliptic.P256())
	ecOwnDER, _ := x509.MarshalECPrivateKey(ecOwn)
	ecOwnP8, _ := x509.MarshalPKCS8PrivateKey(ecOwn)
	ecEncP8, _ := pkcs8.MarshalPrivateKey(ecOwn, []byte("p8-pass"), nil)
	//lint:ignore SA1019 the test needs a legacy encrypted key to read
	ecLegacy, _ := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", ecOwnDER, []byte("legacy-pass"), x509.PEMCipherAES256)
	ecPFX, err := pkcs12.Modern.Encode(ecOwn, ecCert, nil, "pfx-pass")
	if err != nil {
		t.Fatal(err)
	}
	p384Cert, p384Key := ecCertificate(t, elliptic.P384())
	p384DER, _ := x509.MarshalECPrivateKey(p384Key)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edP8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	smallDER, _ := x509.CreateCertificate(rand.Reader, smallTmpl, smallTmpl, &small.PublicKey, small)
	smallCert, _ := x509.ParseCertificate(smallDER)
	ecPEM := func(blocks ...*pem.Block) []byte {
		out := certPEM(ecCert)
		for _, b := range blocks {
			out = append(out, pem.EncodeToMemory(b)...)
		}
		return out
	}
	good := []struct {
		name, password string
		data           []byte
		want           string // thumbprint
	}{
		{"PEM PKCS#8", "", pemOf(a), ""},
		{"PEM PKCS#1", "", pkcs1PEM(a), ""},
		{"PEM encrypted PKCS#8", "p8-pass", append([]byte(a.CertificatePEM()), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: encPKCS8})...), ""},
		{"PEM legacy encrypted", "legacy-pass", append([]byte(a.CertificatePEM()), pem.EncodeToMemory(legacy)...), ""},
		{"PFX", "pfx-pass", pfx, ""},
		{"EC PEM SEC 1", "", ecPEM(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecOwnDER}), certThumb(ecCert)},
		{"EC PEM PKCS#8", "", ecPEM(&pem.Block{Type: "PRIVATE KEY", Bytes: ecOwnP8}), certThumb(ecCert)},
		{"EC PEM encrypted PKCS#8", "p8-pass", ecPEM(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: ecEncP8}), certThumb(ecCert)},
		{"EC PEM legacy encrypted", "legacy-pass", ecPEM(ecLegacy), certThumb(ecCert)},
		{"EC PFX", "pfx-pass", ecPFX, certThumb(ecCert)},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = thumb(a)
			}
			c, err := certsource.ParseCertificate(tc.data, tc.password, certsource.CertificateOptions{})
			if err != nil || !strings.HasSuffix(c.Description(), want) {
				t.Fatalf("%v %v", c, err)
			}
		})
	}
	bad := []struct {
		name, password, want string
		data                 []byte
	}{
		{"empty", "", "empty", nil},
		{"corrupt PEM", "", "does not parse", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{"truncated PEM", "", "no private key", pemOf(a)[:len(a.CertificatePEM())+20]},
		{"no key", "", "no private key", []byte(a.CertificatePEM())},
		{"mismatched key", "", "does not match", []byte(a.CertificatePEM() + b.KeyPEM())},
		{"wrong PFX password", "nope", "password is wrong", pfx},
		{"no password for encrypted PKCS#8", "", "no password", append([]byte(a.CertificatePEM()), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: encPKCS8})...)},
		{"wrong legacy password", "nope", "password is wrong", append([]byte(a.CertificatePEM()), pem.EncodeToMemory(legacy)...)},
		{"EC key for an RSA certificate", "", "does not match", append([]byte(a.CertificatePEM()), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...)},
		{"EC key on P-384", "", "only P-256", append(certPEM(p384Cert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384DER})...)},
		{"corrupt EC key", "", "EC PRIVATE KEY block does not parse", ecPEM(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecOwnDER[:20]})},
		{"Ed25519 key", "", "Ed25519", append([]byte(a.CertificatePEM()), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edP8})...)},
		{"RSA-1024", "", "shorter than 2048", append(certPEM(smallCert), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)})...)},
		{"random bytes", "x", "neither PEM nor", []byte{0x30, 0x82, 1, 2, 3}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certsource.ParseCertificate(tc.data, tc.password, certsource.CertificateOptions{})
			if !errors.Is(err, certsource.ErrBadCertificate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Fatal("key material in the error")
			}
		})
	}
	if _, err := certsource.NewBase64(base64.StdEncoding.EncodeToString(pfx), "pfx-pass", certsource.CertificateOptions{}); err != nil {
		t.Fatalf("base64 PFX: %v", err)
	}
	if _, err := certsource.NewBase64("%%%", "", certsource.CertificateOptions{}); !errors.Is(err, certsource.ErrBadCertificate) {
		t.Fatalf("bad base64: %v", err)
	}
}

// writeAtomic replaces path as deployment tools do (write, then rename).
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileReloadsAndKeepsLastGood(t *testing.T) {
	a, _ := iwt.NewCertificate("a", 0)
	b, _ := iwt.NewCertificate("b", 0)
	clk := iwt.NewClock(time.Now())
	logs := &logBuf{}
	path := filepath.Join(t.TempDir(), "app.pem")
	writeAtomic(t, path, pemOf(a))
	f, err := certsource.NewFile(path, certsource.FileOptions{PollInterval: time.Minute, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := certsource.AuthRequest{ClientID: "c", TokenEndpoint: "e", Now: clk.Now()}
	using := func() string { f.ClientAuth(ctx, req); return f.Description() }
	if !strings.HasSuffix(using(), thumb(a)) {
		t.Fatal("not a")
	}
	// Each bad state of the file keeps the last good certificate.
	for name, data := range map[string][]byte{
		"half-written": pemOf(b)[:100],
		"corrupt":      []byte("garbage"),
		"mismatched":   []byte(b.CertificatePEM() + a.KeyPEM()),
	} {
		writeAtomic(t, path, data)
		clk.Advance(2 * time.Minute)
		if d := using(); !strings.HasSuffix(d, thumb(a)) {
			t.Fatalf("%s file replaced the credential: %s", name, d)
		}
		if err := f.Reload(ctx); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: Reload = %v, want an error naming the file", name, err)
		}
	}
	os.Remove(path)
	clk.Advance(2 * time.Minute)
	if d := using(); !strings.HasSuffix(d, thumb(a)) {
		t.Fatal("a deleted file replaced the credential")
	}
	if !strings.Contains(logs.String(), "keeping the last good certificate") || strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatalf("logs:\n%s", logs)
	}
	// A good new file is picked up at the next poll, not before.
	writeAtomic(t, path, pemOf(b))
	clk.Advance(30 * time.Second)
	using() // within the interval of the last poll? the last poll was at the deletion
	clk.Advance(time.Minute)
	if d := using(); !strings.HasSuffix(d, thumb(b)) {
		t.Fatalf("rotated file not loaded: %s", d)
	}
}

func TestExpiryWarning(t *testing.T) {
	soon, _ := iwt.NewCertificate("soon", 5*24*time.Hour)
	logs := &logBuf{}
	path := filepath.Join(t.TempDir(), "soon.pem")
	writeAtomic(t, path, pemOf(soon))
	if _, err := certsource.NewFile(path, certsource.FileOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "expires soon") || !strings.Contains(logs.String(), thumb(soon)) {
		t.Fatalf("no expiry warning:\n%s", logs)
	}
}

type fakeCred struct {
	name    string
	reloads int
	change  bool
}

func (f *fakeCred) ClientAuth(context.Context, certsource.AuthRequest) (certsource.AuthParams, error) {
	return certsource.AuthParams{ClientSecret: f.name}, nil
}
func (f *fakeCred) Reload(context.Context) error {
	f.reloads++
	if f.change {
		f.name += "'"
	}
	return nil
}
func (f *fakeCred) Description() string { return f.name }

func TestChain(t *testing.T) {
	ctx := context.Background()
	first, second := &fakeCred{name: "first"}, &fakeCred{name: "second"}
	c, _ := certsource.NewChain(first, second)
	if p, _ := c.ClientAuth(ctx, certsource.AuthRequest{}); p.ClientSecret != "first" {
		t.Fatal(p)
	}
	c.Reload(ctx) // reloading changes nothing: move on
	if p, _ := c.ClientAuth(ctx, certsource.AuthRequest{}); p.ClientSecret != "second" || first.reloads != 1 {
		t.Fatalf("%v reloads %d", p, first.reloads)
	}
	second.change = true
	c.Reload(ctx) // a new certificate in the second source: stay on it
	if d := c.Description(); d != "second'" {
		t.Fatal(d)
	}
	if _, err := certsource.NewChain(); err == nil {
		t.Fatal("empty chain")
	}
}

func FuzzParseCertificate(f *testing.F) {
	a, _ := iwt.NewCertificate("a", 0)
	pfx, _ := pkcs12.Modern.Encode(a.Key, a.Cert, nil, "p")
	f.Add(pemOf(a), "")
	f.Add(pfx, "p")
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----"), "")
	ecCert, ecKey := ecCertificate(f, elliptic.P256())
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	f.Add(append(certPEM(ecCert), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...), "")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		c, err := certsource.ParseCertificate(data, password, certsource.CertificateOptions{})
		if err == nil && c == nil {
			t.Fatal("nil certificate without an error")
		}
	})
}

// A wrong password on a legacy encrypted PEM key (RFC 1421 Proc-Type) is
// caught by the padding check only about 255 times in 256: otherwise the
// decryption "succeeds" with garbage, and the user was told the key block
// does not parse. Every such case must say the password is wrong or the
// key corrupt. The test makes the rare case happen every time: it encrypts
// until the wrong password decrypts with valid padding.
func TestWrongLegacyPasswordSaysSo(t *testing.T) {
	a, _ := iwt.NewCertificate("a", 0)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	p8, _ := x509.MarshalPKCS8PrivateKey(a.Key)
	for _, tc := range []struct {
		typ string
		der []byte
	}{
		{"RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(a.Key)},
		{"EC PRIVATE KEY", ecDER},
		{"PRIVATE KEY", p8},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			var block *pem.Block
			for i := 0; block == nil; i++ {
				if i == 20_000 { // (255/256)^20000: never
					t.Fatal("no encryption decrypted with valid padding under the wrong password")
				}
				//lint:ignore SA1019 the test needs legacy encrypted keys
				b, err := x509.EncryptPEMBlock(rand.Reader, tc.typ, tc.der, []byte("legacy-pass"), x509.PEMCipherAES256)
				if err != nil {
					t.Fatal(err)
				}
				//lint:ignore SA1019 see above
				if _, err := x509.DecryptPEMBlock(b, []byte("nope")); err == nil {
					block = b
				}
			}
			data := append([]byte(a.CertificatePEM()), pem.EncodeToMemory(block)...)
			_, err := certsource.ParseCertificate(data, "nope", certsource.CertificateOptions{})
			if !errors.Is(err, certsource.ErrBadCertificate) || !strings.Contains(err.Error(), "password is wrong") || !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("err = %v, want one saying the password is wrong or the key corrupt", err)
			}
		})
	}
}
