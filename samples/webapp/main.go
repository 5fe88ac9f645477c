// Command webapp is the quick-start sample: with no configuration it starts
// the development identity provider on http://localhost:5311 and a web app
// on http://localhost:5310 that signs users in, calls a protected Todo API
// as them (asking for a second scope on the way: incremental consent), shows
// the metadata of every token acquisition, and signs them out. It prints
// the URL to open.
//
//	go run ./samples/webapp
//	go run ./samples/webapp -addr localhost:8080 -idp-addr localhost:8081
//	go run ./samples/webapp -idp-https    # the provider on HTTPS (self-signed: browsers warn)
//
// It is also a template: copied into a folder of its own with its own
// go.mod requiring github.com/identityweb/go-identityweb, it builds and
// runs as is (see the README, "Start your own app").
//
// With REDIS_URL set it keeps tokens in an L1/L2 cache on Redis (keys from
// IDWEB_CACHE_KEYS, base64, comma-separated, newest first). With Entra
// settings — an appsettings.json "AzureAd" section or AzureAd__… /
// AZURE_… environment variables, and a registered reply URL
// http://localhost:5310/signin-oidc — it runs against a real tenant
// unchanged; set AzureAd__Scopes to the API scopes it should call and
// TODO_API_URL to the API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// The sample's addresses: fixed, so that the URL stays the same from one
// run to the next, and away from the ports development servers usually
// take (3000, 5000, 8000, 8080…).
const (
	defaultAddr    = "localhost:5310"
	defaultIdPAddr = "localhost:5311"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// run starts everything and serves until ctx ends; ready receives the URL.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", defaultAddr, "address of the web app (loopback)")
	idpAddr := fs.String("idp-addr", defaultIdPAddr, "address of the development identity provider (loopback)")
	idpHTTPS := fs.Bool("idp-https", false, "serve the development identity provider over HTTPS with a self-signed certificate (browsers show a warning)")
	autoSignIn := fs.String("auto-signin", "", "sign this username in without the provider's pages (tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s is in use: is the sample already running? Stop it, or choose another address with -addr localhost:PORT", *addr)
		}
		return err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	host, _, _ := net.SplitHostPort(*addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	appURL := "http://" + net.JoinHostPort(host, port)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := newSite(siteOptions{appURL: appURL, idpAddr: *idpAddr, idpHTTPS: *idpHTTPS, autoSignIn: *autoSignIn, logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	defer s.close()
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if s.idp != nil {
		fmt.Fprintf(out, "Development identity provider: %s (users alice@… and bob@…, no password)\n", s.idp.URL)
	}
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
