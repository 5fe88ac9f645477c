package identityweb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// recorder is a minimal OpenTelemetry MeterProvider (API only, no SDK) that
// keeps every instrument name and attribute it is given.
type recorder struct {
	noop.MeterProvider
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Meter(string, ...metric.MeterOption) metric.Meter { return recMeter{r: r} }

func (r *recorder) add(name string, attrs string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, name+" "+attrs)
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

type recMeter struct {
	noop.Meter
	r *recorder
}

func (m recMeter) Int64Counter(name string, _ ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return recCounter{name: name, r: m.r}, nil
}

func (m recMeter) Float64Histogram(name string, _ ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return recHistogram{name: name, r: m.r}, nil
}

type recCounter struct {
	embedded.Int64Counter
	name string
	r    *recorder
}

func (c recCounter) Add(_ context.Context, v int64, opts ...metric.AddOption) {
	set := metric.NewAddConfig(opts).Attributes()
	c.r.add(c.name, fmt.Sprint(set.ToSlice()))
}

func (c recCounter) Enabled(context.Context) bool { return true }

type recHistogram struct {
	embedded.Float64Histogram
	name string
	r    *recorder
}

func (h recHistogram) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	set := metric.NewRecordConfig(opts).Attributes()
	h.r.add(h.name, fmt.Sprint(set.ToSlice()))
}

func (h recHistogram) Enabled(context.Context) bool { return true }

// TestNoSecretsInLogsOrMetrics runs every grant, the failure paths and a
// proactive refresh with debug logging and a metric recorder, then searches
// everything they captured for tokens, assertions, refresh tokens, secrets,
// codes and session keys.
func TestNoSecretsInLogsOrMetrics(t *testing.T) {
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername, AccessTokenLifetime: 4 * time.Hour})
	rec := &recorder{}
	withMetrics := func(_ *identityweb.Config, o *identityweb.Options) { o.MeterProvider = rec }
	var secrets []string
	keep := func(r identityweb.Result, err error) identityweb.Result {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, r.AccessToken)
		if r.IDToken != "" {
			secrets = append(secrets, r.IDToken)
		}
		return r
	}
	cred, cert := certCred(t)
	e.idp.AddCertificate(iwt.DaemonClientID, cert)
	daemon := e.daemon(withMetrics, func(c *identityweb.Config, o *identityweb.Options) { c.ClientSecret = ""; o.Credential = cred })
	keep(daemon.ForApp(bg, apiDefault))

	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, withMetrics)
	code := e.code(iwt.AliceUsername, apiScope)
	secrets = append(secrets, code.Code, code.CodeVerifier, "session-key-of-alice")
	s := web.Session("session-key-of-alice")
	userTok := keep(s.RedeemCode(bg, code, []string{apiScope}))
	keep(s.ForUser(bg, []string{"User.Read"}))

	api := e.acquirer(iwt.WebAPIClientID, iwt.WebAPISecret, withMetrics)
	keep(api.OnBehalfOf(bg, userTok.AccessToken, []string{"User.Read"}))
	jobKey, jobTok, err := api.StartLongRunning(bg, userTok.AccessToken, []string{"User.Read"})
	keep(jobTok, err)
	secrets = append(secrets, jobKey)

	// Failures and background work log too.
	e.idp.FailNext(2, iwt.Fault{Status: 500})
	daemon.ForApp(bg, iwt.GraphResource+"/.default")
	e.clk.Advance(2*time.Hour + time.Minute)
	e.idp.SetOutage(true)
	keep(daemon.ForApp(bg, apiDefault))
	keep(s.ForUser(bg, []string{apiScope}))
	identityweb.WaitForBackground(daemon)
	identityweb.WaitForBackground(web)
	e.idp.SetOutage(false)
	bad := e.acquirer(iwt.WebAppClientID, "not-the-secret", withMetrics)
	bad.ForApp(bg, apiDefault)
	secrets = append(secrets, iwt.WebAppSecret, iwt.WebAPISecret, iwt.DaemonSecret, "not-the-secret", cert.KeyPEM())
	// Refresh tokens and assertions never leave the provider's log or the
	// cache; search for their distinctive prefixes and for JWT headers.
	logs, metrics := e.logs.String(), rec.text()
	if logs == "" || metrics == "" {
		t.Fatal("nothing was captured")
	}
	for _, where := range []struct{ name, text string }{{"logs", logs}, {"metrics", metrics}} {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(where.text, sec) {
				t.Fatalf("%s contain a secret or token (%.12s…)", where.name, sec)
			}
		}
		for _, marker := range []string{"rt.", "eyJ", iwt.AliceObjectID, iwt.AliceUsername} {
			if strings.Contains(where.text, marker) {
				t.Fatalf("%s contain %q:\n%s", where.name, marker, where.text)
			}
		}
	}
	for _, want := range []string{"identityweb.token.acquisitions", "identityweb.token.duration", "identityweb.idp.requests", "identityweb.token.background_refresh.failures"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metric %s not recorded:\n%s", want, metrics)
		}
	}
	if !strings.Contains(logs, "level=WARN") {
		t.Fatal("failures were not logged as warnings")
	}
}

func TestPIIOnlyWhenAskedFor(t *testing.T) {
	for _, pii := range []bool{false, true} {
		e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername})
		web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.EnablePIILogging = pii })
		if _, err := web.Session("s").RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
			t.Fatal(err)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "authorization code redeemed") || strings.Contains(logs, iwt.AliceUsername) != pii {
			t.Fatalf("EnablePIILogging=%v, logs:\n%s", pii, logs)
		}
	}
}
