package load

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/certsource"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// apiTarget builds the web API (certificate-file credential; L1/L2 on
// Redis when the scenario asks) and caches every warm caller's OBO token.
// It runs on wall time: its scenarios break the provider, Redis and the
// certificate, not the clock.
func apiTarget(tb testing.TB, s Scenario, env *Env, redisAddr string) target {
	idp := iwt.NewServer(tb, iwt.Options{})
	env.IdP = idp
	env.OldCert, _ = iwt.NewCertificate("api old", 0)
	env.NewCert, _ = iwt.NewCertificate("api new", 0)
	idp.AddCertificate(iwt.WebAPIClientID, env.OldCert)
	path := filepath.Join(tb.TempDir(), "api.pem")
	env.WriteCert = func(c *iwt.Certificate) {
		os.WriteFile(path+".tmp", []byte(c.CertificatePEM()+c.KeyPEM()), 0o600)
		os.Rename(path+".tmp", path)
	}
	env.WriteCert(env.OldCert)
	cred, err := certsource.NewFile(path, certsource.FileOptions{PollInterval: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	var l2 cachestore.Store
	if s.UseRedis {
		ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
		l2 = sharedL2(tb, redisAddr, ring, nil)
	}

	cfg := identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: iwt.WebAPIClientID}
	t := oboAPI(tb, s, idp, s.Users+s.ColdUsers, func() identityweb.AppOptions {
		opts := identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Credential: cred, Logger: quiet}}
		if l2 != nil {
			opts.Cache = instanceCache(tb, l2, nil)
		}
		return opts
	}, cfg)
	for i := 0; i < s.Users; i++ { // warm-up: every warm caller's OBO token cached
		if _, err := t(i); err != nil {
			tb.Fatalf("%s: warm-up call failed: %v", s.Name, err)
		}
	}
	return t
}

// oboAPI runs s.Instances instances of the web API behind a round-robin
// balancer — RequireBearer, then a downstream call on behalf of the caller
// — each built with cfg and a fresh newOpts(), and returns the load target:
// caller i calls with the i-th of callers user tokens.
func oboAPI(tb testing.TB, s Scenario, idp *iwt.Server, callers int, newOpts func() identityweb.AppOptions, cfg identityweb.Config) target {
	downstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "profile") }))
	tb.Cleanup(downstream.Close)
	var instances []http.Handler
	for i := 0; i < s.Instances; i++ {
		api, err := identityweb.New(cfg, newOpts())
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { api.Close() })
		graph, err := api.DownstreamClient(identityweb.DownstreamAPI{BaseURL: downstream.URL, Scopes: []string{"User.Read"}, As: identityweb.OnBehalfOf})
		if err != nil {
			tb.Fatal(err)
		}
		instances = append(instances, api.RequireBearer(identityweb.RequireScopes("access_as_user"))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, downstream.URL+"/me", nil)
			resp, err := graph.Do(req)
			if err != nil {
				api.Challenge(w, r, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
		})))
	}
	srv := httptest.NewServer(roundRobin(instances))
	tb.Cleanup(srv.Close)

	tokens := make([]string, callers)
	for i := range tokens {
		var err error
		if tokens[i], err = idp.UserToken(iwt.AliceUsername, iwt.WebAppClientID, iwt.WebAPIIdentifierURI, "access_as_user"); err != nil {
			tb.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: s.Workers * 2}}
	tb.Cleanup(client.CloseIdleConnections)
	return target(func(user int) (time.Duration, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		start := time.Now()
		resp, err := client.Do(req)
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return d, statusError(resp.StatusCode, b)
		}
		return d, nil
	})
}
