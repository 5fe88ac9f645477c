package identityweb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// TestCertificateFileRotationUnderLoad: 20 goroutines acquire app tokens
// (force refresh: every call reaches the provider) while the certificate
// file is replaced and the old certificate is then revoked at the provider.
// No acquisition fails, and the provider sees the new certificate within
// the poll interval.
func TestCertificateFileRotationUnderLoad(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	oldCert, _ := iwt.NewCertificate("old", 0)
	newCert, _ := iwt.NewCertificate("new", 0)
	idp.AddCertificate(iwt.DaemonClientID, oldCert)
	path := filepath.Join(t.TempDir(), "daemon.pem")
	write := func(c *iwt.Certificate) {
		os.WriteFile(path+".tmp", []byte(c.CertificatePEM()+c.KeyPEM()), 0o600)
		os.Rename(path+".tmp", path)
	}
	write(oldCert)
	const poll = 200 * time.Millisecond
	file, err := certsource.NewFile(path, certsource.FileOptions{PollInterval: poll, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	acq, err := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.DaemonClientID},
		identityweb.Options{HTTPClient: idp.Client(), Credential: file, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var failed, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := acq.ForApp(bg, apiDefault, identityweb.WithForceRefresh()); err != nil {
					failed.Add(1)
					t.Log(err)
				} else {
					ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	idp.AddCertificate(iwt.DaemonClientID, newCert) // uploaded to the app registration first
	write(newCert)                                  // then rotated on disk
	rotated := time.Now()
	time.Sleep(100 * time.Millisecond)
	idp.RevokeCertificate(iwt.DaemonClientID, oldCert) // and the old one removed
	time.Sleep(600 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Fatalf("%d acquisitions failed, %d succeeded", failed.Load(), ok.Load())
	}
	newThumb := "certificate sha256:" + thumbOf(newCert)
	var firstNew time.Time
	var last string
	for _, r := range idp.Requests() {
		if r.Endpoint != "token" || r.Status != 200 {
			continue
		}
		if r.Credential == newThumb && firstNew.IsZero() {
			firstNew = r.Time
		}
		last = r.Credential
	}
	if last != newThumb || firstNew.IsZero() {
		t.Fatalf("the provider never saw the new certificate (last %q)", last)
	}
	if d := firstNew.Sub(rotated); d > poll+time.Second {
		t.Fatalf("new certificate first used %v after the rotation (poll interval %v)", d, poll)
	}
	t.Logf("%d acquisitions, 0 failed; new certificate in use %v after the file changed", ok.Load(), firstNew.Sub(rotated).Round(time.Millisecond))
	if !strings.HasPrefix(file.Description(), "certificate file ") {
		t.Fatal(file.Description())
	}
}

// A chain of two certificate files: when the first certificate is revoked
// and reloading its file brings nothing new, the engine's one retry uses the
// second, and the acquisition succeeds.
func TestCredentialChainMovesOn(t *testing.T) {
	idp := iwt.NewServer(t, iwt.Options{})
	first, _ := iwt.NewCertificate("first", 0)
	second, _ := iwt.NewCertificate("second", 0)
	idp.AddCertificate(iwt.DaemonClientID, first)
	idp.AddCertificate(iwt.DaemonClientID, second)
	dir := t.TempDir()
	var files []certsource.Credential
	for i, c := range []*iwt.Certificate{first, second} {
		p := filepath.Join(dir, fmt.Sprint(i, ".pem"))
		os.WriteFile(p, []byte(c.CertificatePEM()+c.KeyPEM()), 0o600)
		f, err := certsource.NewFile(p, certsource.FileOptions{Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	chain, _ := certsource.NewChain(files...)
	acq, _ := identityweb.NewTokenAcquirer(identityweb.Config{Instance: idp.URL + "/", TenantID: tenant, ClientID: iwt.DaemonClientID},
		identityweb.Options{HTTPClient: idp.Client(), Credential: chain, Logger: quiet()})
	if _, err := acq.ForApp(bg, apiDefault); err != nil {
		t.Fatal(err)
	}
	idp.RevokeCertificate(iwt.DaemonClientID, first)
	if _, err := acq.ForApp(bg, apiDefault, identityweb.WithForceRefresh()); err != nil {
		t.Fatalf("after revoking the first certificate: %v", err)
	}
	recs := idp.Requests()
	if got := recs[len(recs)-1].Credential; got != "certificate sha256:"+thumbOf(second) {
		t.Fatalf("last request used %q", got)
	}
}
