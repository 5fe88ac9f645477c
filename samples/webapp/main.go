// Command webapp is the quick-start sample: with no configuration it starts
// the embedded development identity provider and a web app that signs
// users in, calls a protected Todo API as them (asking for a second scope
// on the way: incremental consent), shows the metadata of every token
// acquisition, and signs them out. It prints one URL to open.
//
//	go run ./samples/webapp
//
// With REDIS_URL set it keeps tokens in an L1/L2 cache on Redis (keys from
// IDWEB_CACHE_KEYS, base64, comma-separated, newest first). With Entra
// settings — an appsettings.json "AzureAd" section or AzureAd__… /
// AZURE_… environment variables, and a registered reply URL
// http://localhost:5000/signin-oidc — it runs against a real tenant
// unchanged; set AzureAd__Scopes to the API scopes it should call.
package main

import (
	"context"
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

	"github.com/identityweb/go-identityweb/samples/internal/devserver"
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
	addr := fs.String("addr", "localhost:5000", "address of the web app")
	idpAddr := fs.String("idp-addr", "127.0.0.1:0", "address of the embedded identity provider")
	autoSignIn := fs.String("auto-signin", "", "sign this username in without the provider's page (tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	host, _, _ := net.SplitHostPort(*addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	appURL := "http://" + net.JoinHostPort(host, port)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := newSite(ctx, siteOptions{appURL: appURL, idpAddr: *idpAddr, autoSignIn: *autoSignIn, logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	defer s.close()
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if s.devIdP != "" {
		fmt.Fprintf(out, "Development identity provider: %s (users: alice@…, bob@…; no password)\n", s.devIdP)
	}
	fmt.Fprintf(out, "Open %s/\n", appURL)
	if ready != nil {
		ready <- appURL
	}
	return devserver.Wait(ctx, srv, errc)
}
