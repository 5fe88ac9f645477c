// Package devserver starts the development identity provider inside a
// sample, over HTTPS with a certificate only that process trusts.
package devserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// IdP is a running development provider.
type IdP struct {
	URL      string
	Client   *http.Client // trusts the provider's certificate
	Provider *identitywebtest.Provider
	server   *http.Server
}

// Close stops it.
func (i *IdP) Close() error { return i.server.Close() }

// Start serves the development provider over HTTPS on addr with a fresh
// self-signed certificate that only this process trusts.
func Start(addr, autoSignIn string) (*IdP, error) {
	certPEM, keyPEM, err := identitywebtest.TLSCertificatePEM()
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	base := "https://" + ln.Addr().String()
	p, err := identitywebtest.NewProvider(identitywebtest.Options{AutoSignIn: autoSignIn, PublicURL: base})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go srv.ServeTLS(ln, "", "")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	return &IdP{URL: base, Client: client, Provider: p, server: srv}, nil
}

// Wait returns srv's own error when it stops by itself, or shuts it down
// gracefully (5 s at most) once ctx ends.
func Wait(ctx context.Context, srv *http.Server, errc <-chan error) error {
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
