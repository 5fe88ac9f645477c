package oidcprovidertest

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure the provider Start runs. The zero value is usable.
type Options struct {
	// RedirectURIs registered for every client.
	// Default: []string{DefaultRedirectURI}.
	RedirectURIs []string
	// PostLogoutRedirectURIs registered for every client.
	// Default: []string{DefaultPostLogoutRedirectURI}.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI is registered as every client's
	// backchannel_logout_uri (with backchannel_logout_session_required): the
	// provider posts logout tokens there. It must be a loopback URL.
	// Default: none (no back-channel logout notifications).
	BackchannelLogoutURI string
	// RSAKey is the key of the private_key_jwt client ClientRSAKeyID; its
	// public JWK is registered. Default: a fresh 2048-bit key.
	RSAKey *rsa.PrivateKey
	// ECKey is the P-256 key of the private_key_jwt client ClientECKeyID.
	// Default: a fresh P-256 key.
	ECKey *ecdsa.PrivateKey
	// Users the provider signs in. Default: DefaultUsers() (alice and bob).
	Users []User
	// AccessTokenTTL is the lifetime of access tokens issued without a
	// resource indicator (the resource servers have their own, Resources).
	// Default: 1 hour.
	AccessTokenTTL time.Duration
	// DPoPRequireNonce makes the token endpoint answer DPoP requests
	// without its nonce with use_dpop_nonce (RFC 9449 §8). Default: off.
	DPoPRequireNonce bool
}

// Provider is a running oidc-provider used by one test.
type Provider struct {
	issuer   string
	meta     Metadata
	clients  Clients
	users    []User
	postOut  []string
	logPath  string
	cmd      *exec.Cmd
	stdin    io.Closer
	exited   chan struct{}
	stopOnce sync.Once
}

// startTimeout bounds how long Start waits for the provider to answer: a
// bound for a broken environment, not a timing assertion.
const startTimeout = 60 * time.Second

// Start runs oidc-provider on a free loopback port for t and returns once its
// discovery document answers. It is stopped at t's cleanup. See the package
// documentation for what it is configured with and for when it skips.
func Start(t testing.TB, opts Options) *Provider {
	t.Helper()
	dir := sourceDir(t)
	node, npm := lookTools(t)
	ensureModules(t, dir, npm)
	opts, err := opts.fill()
	if err != nil {
		t.Fatalf("oidcprovidertest: %v", err)
	}
	if opts.BackchannelLogoutURI != "" && !isLoopbackURL(opts.BackchannelLogoutURI) {
		t.Fatalf("oidcprovidertest: BackchannelLogoutURI %q is not a loopback URL", opts.BackchannelLogoutURI)
	}
	clients, meta, err := buildClients(opts)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cfg := serverConfig{Host: "127.0.0.1", AccessTokenTTL: int(opts.AccessTokenTTL / time.Second), DPoPNonce: opts.DPoPRequireNonce,
		Users: opts.Users, Resources: Resources(), Clients: meta}
	cfgPath := filepath.Join(tmp, "config.json")
	raw, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Provider{clients: clients, users: opts.Users, postOut: opts.PostLogoutRedirectURIs,
		logPath: filepath.Join(tmp, "oidc-provider.log")}
	if err := p.start(node, dir, cfgPath); err != nil {
		p.Stop()
		t.Fatalf("oidcprovidertest: starting oidc-provider: %v\n%s", err, p.log())
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("oidcprovidertest: oidc-provider's output:\n%s", p.log())
		}
	})
	return p
}

func (p *Provider) start(node, dir, cfgPath string) error {
	logf, err := os.Create(p.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(node, filepath.Join(dir, "server.js"), cfgPath)
	cmd.Dir = dir
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return err
	}
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{w: logf, ready: ready}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p.cmd, p.stdin, p.exited = cmd, stdin, make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(p.exited) }()
	var line string
	select {
	case line = <-ready:
	case <-p.exited:
		return fmt.Errorf("node exited at start")
	case <-time.After(startTimeout):
		return fmt.Errorf("no ready line within %s", startTimeout)
	}
	var hello struct{ Issuer string }
	if err := json.Unmarshal([]byte(line), &hello); err != nil || !isLoopbackURL(hello.Issuer) {
		return fmt.Errorf("unexpected ready line %q", strings.TrimSpace(line))
	}
	p.issuer = hello.Issuer
	return p.loadMetadata()
}

// loadMetadata reads the discovery document, retrying until it answers.
func (p *Provider) loadMetadata() error {
	deadline := time.Now().Add(startTimeout)
	c := &http.Client{Timeout: 10 * time.Second}
	for {
		err := p.fetchMetadata(c)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-p.exited:
			return fmt.Errorf("node exited: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Provider) fetchMetadata(c *http.Client) error {
	resp, err := c.Get(p.issuer + "/.well-known/openid-configuration")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery answered %s", resp.Status)
	}
	return p.meta.parse(body)
}

// Stop ends the provider. Start registers it as a cleanup; it is safe to
// call twice.
func (p *Provider) Stop() {
	p.stopOnce.Do(func() {
		if p.cmd == nil {
			return
		}
		p.stdin.Close() // server.js exits when its stdin closes
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// readyWriter passes the first line node prints (the ready line) to ready
// and everything to w.
type readyWriter struct {
	w     io.Writer
	ready chan string
	line  []byte
	sent  bool
}

func (r *readyWriter) Write(b []byte) (int, error) {
	if !r.sent {
		r.line = append(r.line, b...)
		if i := strings.IndexByte(string(r.line), '\n'); i >= 0 || len(r.line) > 64<<10 {
			r.ready <- string(r.line[:max(i, 0)])
			r.sent, r.line = true, nil
		}
	}
	return r.w.Write(b)
}

// log returns what the provider wrote to stderr (its warnings and errors).
func (p *Provider) log() string {
	b, _ := os.ReadFile(p.logPath)
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// Issuer returns the provider's issuer identifier, http://127.0.0.1:PORT.
func (p *Provider) Issuer() string { return p.issuer }

// Metadata returns the provider's discovery document as read at start.
func (p *Provider) Metadata() Metadata {
	m := p.meta
	m.Raw = make(map[string]json.RawMessage, len(p.meta.Raw))
	for k, v := range p.meta.Raw {
		m.Raw[k] = v
	}
	return m
}

// Clients returns the registered clients, with their secrets and keys.
func (p *Provider) Clients() Clients { return p.clients }

// Users returns the accounts the provider signs in.
func (p *Provider) Users() []User { return append([]User(nil), p.users...) }

// EndSessionURL returns the RP-initiated logout URL for idTokenHint (may be
// empty), redirecting after sign-out to the first registered post-logout
// redirect URI with state.
func (p *Provider) EndSessionURL(idTokenHint, state string) string {
	q := url.Values{"post_logout_redirect_uri": {p.postOut[0]}}
	if idTokenHint != "" {
		q.Set("id_token_hint", idTokenHint)
	}
	if state != "" {
		q.Set("state", state)
	}
	return p.meta.EndSessionEndpoint + "?" + q.Encode()
}

// isLoopbackURL reports whether u is an http(s) URL whose host is a loopback
// literal (127.0.0.0/8, ::1) or localhost.
func isLoopbackURL(u string) bool {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return false
	}
	h := pu.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
