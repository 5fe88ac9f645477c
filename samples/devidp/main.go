// Command devidp serves the development identity provider
// (identitywebtest) for the samples and for trying the library: an OpenID
// Provider that speaks Microsoft Entra ID's v2.0 protocol.
//
//	go run ./samples/devidp                      # http://127.0.0.1:5050, built-in tenant
//	go run ./samples/devidp -https -cert-out idp.pem
//	go run ./samples/devidp -config tenants.json -addr 127.0.0.1:6000
//	go run ./samples/devidp -password-grant      # curl can get a user's token
//
// With no flags it serves the built-in configuration (see
// identitywebtest.DefaultConfig) and prints its issuer, clients and users.
// It listens on loopback addresses only.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/samples/internal/devserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "devidp:", err)
		os.Exit(1)
	}
}

type flags struct {
	addr, configPath, certOut, autoSignIn string
	https, verbose, passwordGrant         bool
	lifetime                              time.Duration
}

func parseFlags(args []string, out io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("devidp", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:5050", "address to listen on (loopback by default)")
	fs.BoolVar(&f.https, "https", false, "serve HTTPS with a fresh self-signed certificate")
	fs.StringVar(&f.certOut, "cert-out", "", "with -https: write the certificate PEM here (default: devidp-cert.pem in the temp dir)")
	fs.StringVar(&f.configPath, "config", "", "JSON file of tenants, clients and users (default: the built-in configuration)")
	fs.StringVar(&f.autoSignIn, "auto-signin", "", "sign this username in without showing the sign-in page")
	fs.DurationVar(&f.lifetime, "token-lifetime", 0, "access token lifetime (default: random 60-90m, as Entra); 2h or more adds refresh_in")
	fs.BoolVar(&f.passwordGrant, "password-grant", false, "enable the development-only password grant, to get a user's token with curl")
	fs.BoolVar(&f.verbose, "v", false, "log every request (never tokens or secrets)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// run serves until ctx ends. ready, when set, receives the base URL once
// the listener is up.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	f, err := parseFlags(args, out)
	if err != nil {
		return err
	}
	cfg := identitywebtest.DefaultConfig()
	if f.configPath != "" {
		if cfg, err = identitywebtest.LoadConfig(f.configPath); err != nil {
			return err
		}
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	idp, err := devserver.StartIdP(f.addr, "addr", identitywebtest.LocalOptions{HTTPS: f.https, Options: identitywebtest.Options{
		Config: cfg, AutoSignIn: f.autoSignIn, AccessTokenLifetime: f.lifetime, Logger: logger,
		DevelopmentPasswordGrant: f.passwordGrant,
	}})
	if err != nil {
		return err
	}
	defer idp.Close()
	if f.https {
		certOut := f.certOut
		if certOut == "" {
			certOut = filepath.Join(os.TempDir(), "devidp-cert.pem")
		}
		if err := os.WriteFile(certOut, idp.CertificatePEM, 0o644); err != nil {
			return fmt.Errorf("writing the certificate: %w", err)
		}
		fmt.Fprintf(out, "TLS certificate (trust it in clients): %s\n", certOut)
	}
	printSummary(out, idp.URL, cfg)
	if f.passwordGrant {
		fmt.Fprintln(out, "The development-only password grant is on: grant_type=password with a username (and its password, if it has one).")
	}
	fmt.Fprintln(out, "\nPress Ctrl+C to stop.")
	if ready != nil {
		ready <- idp.URL
	}
	select {
	case err := <-idp.Done():
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return idp.Shutdown(shutdown)
	}
}

func printSummary(out io.Writer, base string, cfg *identitywebtest.Config) {
	fmt.Fprintf(out, "Development identity provider on %s\n", base)
	for _, t := range cfg.Tenants {
		fmt.Fprintf(out, "\nTenant %q\n  tenant id:  %s\n  domain:     %s\n", t.Name, t.ID, t.Domain)
		fmt.Fprintf(out, "  issuer:     %s/%s/v2.0\n  authority:  %s/%s   (Instance %s/, TenantId %s)\n", base, t.ID, base, t.ID, base, t.ID)
		fmt.Fprintf(out, "  discovery:  %s/%s/v2.0/.well-known/openid-configuration\n", base, t.ID)
		fmt.Fprintf(out, "  clients:\n")
		for _, c := range t.Clients {
			secret := "(no secret)"
			if len(c.Secrets) > 0 {
				secret = "secret " + c.Secrets[0].Value // development secrets, public by design
			}
			fmt.Fprintf(out, "    %-28s %s  %s\n", c.Name, c.ClientID, secret)
			if c.IdentifierURI != "" {
				fmt.Fprintf(out, "    %-28s exposes %s: scopes %v, app roles %v\n", "", c.IdentifierURI, c.Scopes, c.AppRoles)
			}
		}
		fmt.Fprintf(out, "  users:\n")
		for _, u := range t.Users {
			fmt.Fprintf(out, "    %-28s %s\n", u.Name, u.Username)
		}
	}
}
