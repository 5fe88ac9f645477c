package identitywebtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"syscall"
	"time"
)

// LocalOptions configure StartLocal.
type LocalOptions struct {
	// Options configure the provider. Options.PublicURL defaults to the
	// URL it listens on.
	Options
	// HTTPS serves TLS with a fresh self-signed certificate for the
	// loopback names. Local.Client trusts it; browsers and other programs
	// do not unless told to (Local.CertificatePEM). Default: plain HTTP,
	// which this module accepts for issuers on loopback.
	HTTPS bool
}

// Local is a Provider served on a loopback address by StartLocal, for
// samples and local development: unlike Server it listens where it is told
// (a fixed port that a browser can be pointed at) and speaks plain HTTP by
// default. Its methods include the Provider's.
type Local struct {
	*Provider
	// URL is the base URL, such as http://localhost:5311, with no trailing
	// slash. The issuer of a tenant is URL + "/" + tenant id + "/v2.0", and
	// identityweb.Config{Instance: URL + "/", TenantID: …} points at it.
	URL string
	// CertificatePEM is the TLS certificate with LocalOptions.HTTPS, to
	// trust it in other clients; nil over plain HTTP.
	CertificatePEM []byte

	srv    *http.Server
	client *http.Client
	done   chan error
}

// ErrAddressInUse is returned (wrapped) by StartLocal when another program
// already listens on the address.
var ErrAddressInUse = errors.New("the address is in use")

// StartLocal serves a provider on addr, which must name a loopback host
// ("localhost:5311", "127.0.0.1:0" for any free port): the provider is for
// development and never listens on a network. It returns once the
// listener is up. When the port is taken the error wraps ErrAddressInUse
// and names the address.
func StartLocal(addr string, opts LocalOptions) (*Local, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("identitywebtest: address %q: %w", addr, err)
	}
	if !isLoopback(host) {
		return nil, fmt.Errorf("identitywebtest: address %q: the development provider listens on loopback only (localhost, 127.0.0.1, [::1])", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("identitywebtest: cannot listen on %s: %w (another program, or another copy of this one, uses it)", addr, ErrAddressInUse)
		}
		return nil, fmt.Errorf("identitywebtest: cannot listen on %s: %w", addr, err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	scheme := "http"
	if opts.HTTPS {
		scheme = "https"
	}
	l := &Local{URL: scheme + "://" + net.JoinHostPort(host, port), done: make(chan error, 1)}
	l.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if opts.HTTPS {
		certPEM, keyPEM, err := TLSCertificatePEM("localhost", "127.0.0.1", "::1", host)
		if err != nil {
			ln.Close()
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			ln.Close()
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certPEM)
		l.CertificatePEM = certPEM
		l.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	l.client = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	if opts.PublicURL == "" {
		opts.PublicURL = l.URL
	}
	if l.Provider, err = NewProvider(opts.Options); err != nil {
		ln.Close()
		return nil, err
	}
	l.srv.Handler = l.Provider
	go func() {
		var err error
		if opts.HTTPS {
			err = l.srv.ServeTLS(ln, "", "")
		} else {
			err = l.srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			l.done <- err
		}
	}()
	return l, nil
}

// Client returns a new *http.Client for the provider (it trusts the
// certificate with HTTPS); being new, it may be changed freely.
func (l *Local) Client() *http.Client {
	c := *l.client
	return &c
}

// TokenEndpoint returns the token endpoint of a tenant (an id, a domain,
// "common" or "organizations").
func (l *Local) TokenEndpoint(tenant string) string {
	return l.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// Issuer returns the v2.0 issuer of a tenant id.
func (l *Local) Issuer(tenantID string) string { return l.URL + "/" + tenantID + "/v2.0" }

// Done returns a channel that receives the server's error if it stops by
// itself (never after Close or Shutdown).
func (l *Local) Done() <-chan error { return l.done }

// Shutdown stops the server gracefully (see http.Server.Shutdown).
func (l *Local) Shutdown(ctx context.Context) error { return l.srv.Shutdown(ctx) }

// Close stops the server at once. It is safe to call more than once.
func (l *Local) Close() error {
	err := l.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
