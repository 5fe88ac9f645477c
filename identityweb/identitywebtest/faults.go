package identitywebtest

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// RequestRecord is one request the provider received. It never holds a
// credential, code or token.
type RequestRecord struct {
	Time          time.Time // when it arrived, by the provider's clock
	Method        string    // the HTTP method
	Path          string    // the URL path
	Endpoint      string    // discovery, keys, authorize, login, consent, token, logout, index, outage
	Tenant        string    // as written in the path
	GrantType     string    // for token requests
	ClientID      string    // the client_id sent or authenticated, truncated
	Scope         string    // the scope asked for, truncated
	Status        int       // HTTP status; -1 when the connection was dropped
	Error         string    // OAuth error code, if any
	ErrorCode     int       // AADSTS code, if any
	CorrelationID string    // the client-request-id sent, or the one the provider made
	Injected      bool      // the answer was an injected fault
	// RefreshTokenReused: a refresh token was presented after it had been redeemed.
	RefreshTokenReused bool
	// Credential is how the client authenticated: "secret", "certificate
	// sha256:<hex thumbprint>" or "none" (never the secret itself).
	Credential string
}

// Fault is an injected failure of the token endpoint.
type Fault struct {
	// Status is the HTTP status to answer with (500, 503, 429, …).
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header in seconds.
	RetryAfter time.Duration
}

type faultState struct {
	next    []Fault
	latency time.Duration
	outage  bool
}

// FailNext makes the next n token requests fail with f, after any already
// queued. Discovery and keys are not affected.
func (p *Provider) FailNext(n int, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < n; i++ {
		p.faults.next = append(p.faults.next, f)
	}
}

// ClearFaults removes queued failures, latency and any outage.
func (p *Provider) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = faultState{}
}

// SetLatency delays every token response by d (0 to stop). A client that
// gives up first sees its own timeout.
func (p *Provider) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.latency = d
}

// SetOutage makes the whole provider unreachable (on) or reachable again
// (off): every connection is closed without an answer, as a dead host's
// would be. Requests still count in the log, with Status -1.
func (p *Provider) SetOutage(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.outage = on
}

func (p *Provider) outage() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults.outage
}

// takeFault pops the next queued fault and returns the latency to add.
func (p *Provider) takeFault() (f *Fault, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.faults.next) > 0 {
		f = &p.faults.next[0]
		p.faults.next = p.faults.next[1:]
	}
	return f, p.faults.latency
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (p *Provider) writeFault(w http.ResponseWriter, rc *requestContext, f *Fault) {
	rc.record.Injected = true
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	e := newErr(f.Status, "temporarily_unavailable", CodeTemporarilyUnavailable, "The service is temporarily unavailable (injected fault).")
	if f.Status == http.StatusTooManyRequests {
		e = newErr(f.Status, "temporarily_unavailable", CodeThrottled, "Request throttled: too many requests (injected fault).")
	} else if f.Status < 500 {
		e.code = "invalid_request"
	} else if f.Status == http.StatusInternalServerError {
		e.code = "server_error"
	}
	p.writeOAuthError(w, rc, e)
}

// dropConnection closes the client's connection without an HTTP answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		w = hj.Unwrap()
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	http.Error(w, "service unavailable", http.StatusServiceUnavailable)
}

func (p *Provider) record(rec *RequestRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const maxLog = 100_000
	if len(p.log) >= maxLog {
		p.log = append(p.log[:0], p.log[maxLog/2:]...)
	}
	p.log = append(p.log, *rec)
	p.logger.Debug("identitywebtest request", "endpoint", rec.Endpoint, "grant", rec.GrantType,
		"client_id", rec.ClientID, "status", rec.Status, "error", rec.Error, "aadsts", rec.ErrorCode)
}

// Requests returns a copy of the request log, oldest first.
func (p *Provider) Requests() []RequestRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]RequestRecord(nil), p.log...)
}

// ResetRequests empties the request log.
func (p *Provider) ResetRequests() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = nil
}

// TokenRequests counts requests that reached the token endpoint, for any
// grant when grantTypes is empty, else for those grants ("client_credentials",
// "authorization_code", "refresh_token", GrantJWTBearer, GrantTokenExchange).
// Requests dropped by an outage are not counted: they never reached it.
func (p *Provider) TokenRequests(grantTypes ...string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.log {
		if r.Endpoint != "token" {
			continue
		}
		if len(grantTypes) == 0 {
			n++
			continue
		}
		for _, g := range grantTypes {
			if r.GrantType == g {
				n++
				break
			}
		}
	}
	return n
}
