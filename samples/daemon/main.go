// Command daemon acquires app tokens with client credentials and a
// certificate read from a file — no HTTP server, no user — printing each
// acquisition's metadata and, at the end, the OpenTelemetry metrics the
// library recorded.
//
//	go run ./samples/daemon                 # development provider, a fresh certificate
//	go run ./samples/daemon -n 5 -every 1s
//
// With Entra settings (AzureAd__Instance/TenantId/ClientId and
// AZURE_CLIENT_CERTIFICATE_PATH to a PEM with the certificate and its key)
// it runs against a real tenant; set -scope to your API's "/.default".
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

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	fs.SetOutput(out)
	n := fs.Int("n", 3, "acquisitions")
	every := fs.Duration("every", 0, "pause between acquisitions")
	scope := fs.String("scope", identitywebtest.WebAPIIdentifierURI+"/.default", "the API's .default scope")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := identityweb.LoadConfig("", "AzureAd")
	if err != nil {
		return err
	}
	opts := identityweb.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if cfg.ClientID == "" {
		// The development provider, for this run only: any free port.
		idp, err := identitywebtest.StartLocal("localhost:0", identitywebtest.LocalOptions{})
		if err != nil {
			return err
		}
		defer idp.Close()
		// A certificate in a file, registered with the development provider,
		// as a certificate would be uploaded to the app registration.
		cert, err := identitywebtest.NewCertificate("daemon sample", 0)
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "identityweb-daemon")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "daemon.pem")
		if err := os.WriteFile(path, []byte(cert.CertificatePEM()+cert.KeyPEM()), 0o600); err != nil {
			return err
		}
		idp.Provider.AddCertificate(identitywebtest.DaemonClientID, cert)
		cfg = identityweb.Config{Instance: idp.URL + "/", TenantID: identitywebtest.DefaultTenantID, ClientID: identitywebtest.DaemonClientID,
			ClientCredentials: []identityweb.CredentialDescription{{SourceType: "Path", CertificateDiskPath: path}}}
		opts.HTTPClient = idp.Client()
		fmt.Fprintf(out, "development provider %s; certificate %s\n", idp.URL, path)
	}
	reader := sdkmetric.NewManualReader()
	opts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	acq, err := identityweb.NewTokenAcquirer(cfg, opts)
	if err != nil {
		return err
	}
	defer acq.Close()
	for i := 0; i < *n; i++ {
		res, err := acq.ForApp(ctx, *scope)
		if err != nil {
			return err
		}
		m := res.Metadata
		cost := fmt.Sprintf("total=%s http=%s", m.DurationTotal.Round(10*time.Microsecond), m.DurationInHTTP.Round(10*time.Microsecond))
		if m.CacheLevel == identityweb.CacheLevelL1 && m.DurationTotal == 0 {
			cost = "cost=L1 hit (sub-microsecond, not timed)" // Metadata leaves in-memory hits untimed, by design
		}
		fmt.Fprintf(out, "token %d: source=%s level=%s reason=%s %s expires=%s\n",
			i+1, m.Source, m.CacheLevel, m.RefreshReason, cost, res.ExpiresOn.Format(time.RFC3339))
		if *every > 0 && i < *n-1 {
			select {
			case <-time.After(*every):
			case <-ctx.Done():
				return nil
			}
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Fprintln(out, "metrics:")
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(out, "  %s %s = %d\n", m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					fmt.Fprintf(out, "  %s %s count=%d sum=%.6fs\n", m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Count, p.Sum)
				}
			}
		}
	}
	return nil
}
