package certsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TokenExchangeAudience is the audience of federated credential assertions.
const TokenExchangeAudience = "api://AzureADTokenExchange"

// ManagedIdentityOptions configure a ManagedIdentity; the zero value uses
// the system-assigned identity through IMDS, or App Service's endpoint when
// IDENTITY_ENDPOINT and IDENTITY_HEADER are set.
type ManagedIdentityOptions struct {
	// ClientID selects a user-assigned identity by client id.
	ClientID string
	// ResourceID selects a user-assigned identity by ARM resource id.
	ResourceID string
	// Endpoint is the IMDS base URL. Default: http://169.254.169.254.
	Endpoint string
	// Audience of the assertion. Default: TokenExchangeAudience.
	Audience string
	// Timeout of one request to the endpoint. Default: 5 s.
	Timeout time.Duration
	// HTTPClient. Default: a client without proxy (IMDS is link-local).
	HTTPClient *http.Client
	// Clock. Default: the system clock.
	Clock interface{ Now() time.Time }
}

// ManagedIdentity is the preferred credential on Azure: a token of the
// app's managed identity for the token-exchange audience, used as a
// client_assertion (a federated identity credential on the app
// registration). It is cached until 5 minutes before it expires; nothing
// to rotate.
type ManagedIdentity struct {
	opts ManagedIdentityOptions
	mu   sync.Mutex
	tok  string
	exp  time.Time
}

// NewManagedIdentity returns a ManagedIdentity credential; it does no I/O.
func NewManagedIdentity(opts ManagedIdentityOptions) *ManagedIdentity {
	if opts.Endpoint == "" {
		opts.Endpoint = "http://169.254.169.254"
	}
	if opts.Audience == "" {
		opts.Audience = TokenExchangeAudience
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	if opts.Clock == nil {
		opts.Clock = sysClock{}
	}
	return &ManagedIdentity{opts: opts}
}

// ClientAuth returns the managed identity's assertion.
func (m *ManagedIdentity) ClientAuth(ctx context.Context, req AuthRequest) (AuthParams, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Clock.Now()
	if m.tok != "" && m.exp.Sub(now) > 5*time.Minute {
		return AuthParams{ClientAssertion: m.tok}, nil
	}
	tok, exp, err := m.fetch(ctx)
	if err != nil {
		if m.tok != "" && now.Before(m.exp) { // the endpoint failed: the cached token is still valid
			return AuthParams{ClientAssertion: m.tok}, nil
		}
		return AuthParams{}, err
	}
	m.tok, m.exp = tok, exp
	return AuthParams{ClientAssertion: tok}, nil
}

func (m *ManagedIdentity) fetch(ctx context.Context) (string, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	q := url.Values{"resource": {m.opts.Audience}}
	var u string
	header := http.Header{}
	if ep, secret := os.Getenv("IDENTITY_ENDPOINT"), os.Getenv("IDENTITY_HEADER"); ep != "" && secret != "" {
		q.Set("api-version", "2019-08-01")
		if m.opts.ClientID != "" {
			q.Set("client_id", m.opts.ClientID)
		}
		if m.opts.ResourceID != "" {
			q.Set("mi_res_id", m.opts.ResourceID)
		}
		u = ep + "?" + q.Encode()
		header.Set("X-IDENTITY-HEADER", secret)
	} else {
		q.Set("api-version", "2018-02-01")
		if m.opts.ClientID != "" {
			q.Set("client_id", m.opts.ClientID)
		}
		if m.opts.ResourceID != "" {
			q.Set("msi_res_id", m.opts.ResourceID)
		}
		u = strings.TrimRight(m.opts.Endpoint, "/") + "/metadata/identity/oauth2/token?" + q.Encode()
		header.Set("Metadata", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	req.Header = header
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("certsource: managed identity endpoint unreachable: %w", unwrapURL(err))
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresOn   any    `json:"expires_on"`
		ExpiresIn   any    `json:"expires_in"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body) != nil || body.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("certsource: managed identity endpoint answered %d without a token", resp.StatusCode)
	}
	exp := m.opts.Clock.Now().Add(time.Hour)
	if s := number(body.ExpiresOn); s > 0 {
		exp = time.Unix(s, 0)
	} else if s := number(body.ExpiresIn); s > 0 {
		exp = m.opts.Clock.Now().Add(time.Duration(s) * time.Second)
	}
	return body.AccessToken, exp, nil
}

func number(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Reload drops the cached assertion.
func (m *ManagedIdentity) Reload(context.Context) error {
	m.mu.Lock()
	m.tok, m.exp = "", time.Time{}
	m.mu.Unlock()
	return nil
}

// Description names the identity.
func (m *ManagedIdentity) Description() string {
	switch {
	case m.opts.ClientID != "":
		return "managed identity client_id " + m.opts.ClientID
	case m.opts.ResourceID != "":
		return "managed identity " + m.opts.ResourceID
	}
	return "managed identity (system-assigned)"
}

// TokenFileOptions configure a TokenFile; the zero value is usable.
type TokenFileOptions struct {
	// ReReadInterval: the file is read again at least this often. Default: 5 minutes.
	ReReadInterval time.Duration
	Clock          interface{ Now() time.Time }
	Logger         *slog.Logger
}

// TokenFile is a signed assertion kept in a file and refreshed by the
// platform — Kubernetes workload identity's AZURE_FEDERATED_TOKEN_FILE. It
// is read again every ReReadInterval and on Reload; an empty or unreadable
// file keeps the last good assertion.
type TokenFile struct {
	path string
	opts TokenFileOptions
	mu   sync.Mutex
	tok  string
	read time.Time
}

// NewTokenFile reads path (default: $AZURE_FEDERATED_TOKEN_FILE) once.
func NewTokenFile(path string, opts TokenFileOptions) (*TokenFile, error) {
	if path == "" {
		path = os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
	}
	if path == "" {
		return nil, errors.New("certsource: no token file (set AZURE_FEDERATED_TOKEN_FILE)")
	}
	if opts.ReReadInterval <= 0 {
		opts.ReReadInterval = 5 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = sysClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &TokenFile{path: path, opts: opts}
	if err := f.readLocked(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *TokenFile) readLocked() error {
	b, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("certsource: token file %s: %w", f.path, err)
	}
	tok := strings.TrimSpace(string(b))
	if strings.Count(tok, ".") != 2 {
		return fmt.Errorf("certsource: token file %s does not hold a JWT", f.path)
	}
	f.tok, f.read = tok, f.opts.Clock.Now()
	return nil
}

// ClientAuth returns the file's assertion, re-reading it when due.
func (f *TokenFile) ClientAuth(ctx context.Context, req AuthRequest) (AuthParams, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opts.Clock.Now().Sub(f.read) >= f.opts.ReReadInterval {
		if err := f.readLocked(); err != nil {
			f.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "certsource: token file unreadable; keeping the last good assertion",
				slog.String("source", f.path), slog.String("error", err.Error()))
		}
	}
	return AuthParams{ClientAssertion: f.tok}, nil
}

// Reload reads the file now; on failure the last good assertion stays.
func (f *TokenFile) Reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readLocked()
}

// Description names the file.
func (f *TokenFile) Description() string { return "token file " + f.path }
