// Command webapp is the quick-start sample: with no configuration it starts
// the embedded development identity provider and a small web app that signs
// users in with OpenID Connect, then prints one URL to open.
//
//	go run ./samples/webapp
//
// This first version uses golang.org/x/oauth2 and go-oidc directly; the
// library's own web-app sign-in replaces them when it lands.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-identityweb/identityweb/identitywebtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// run starts the identity provider and the app and serves until ctx ends.
// ready, when set, receives the app's URL.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "localhost:5000", "address of the web app")
	idpAddr := fs.String("idp-addr", "127.0.0.1:0", "address of the embedded identity provider")
	autoSignIn := fs.String("auto-signin", "", "sign this username in without the provider's page (for tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	idp, err := startIdP(*idpAddr, *autoSignIn)
	if err != nil {
		return err
	}
	defer idp.server.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	appURL := "http://" + ln.Addr().String()
	if host, port, _ := net.SplitHostPort(*addr); host == "localhost" {
		appURL = "http://localhost:" + port
		if port == "0" {
			_, p, _ := net.SplitHostPort(ln.Addr().String())
			appURL = "http://localhost:" + p
		}
	}
	a, err := newApp(ctx, appURL, idp.url, idp.client)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "Identity provider: %s (users: %s, %s)\n", idp.url, identitywebtest.AliceUsername, identitywebtest.BobUsername)
	fmt.Fprintf(out, "Open %s/\n", appURL)
	if ready != nil {
		ready <- appURL
	}
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

type embeddedIdP struct {
	url    string
	client *http.Client // trusts the provider's certificate
	server *http.Server
}

// startIdP serves the development provider over HTTPS on addr with a fresh
// self-signed certificate that only this process trusts.
func startIdP(addr, autoSignIn string) (*embeddedIdP, error) {
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
	return &embeddedIdP{url: base, client: client, server: srv}, nil
}
