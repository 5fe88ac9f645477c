package identityweb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-identityweb/identityweb/certsource"
	"github.com/go-identityweb/identityweb/internal/guid"
)

// tokenResponse is a successful token endpoint answer.
type tokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    json.Number `json:"expires_in"`
	ExtExpiresIn json.Number `json:"ext_expires_in"`
	RefreshIn    json.Number `json:"refresh_in"`
	RefreshToken string      `json:"refresh_token"`
	IDToken      string      `json:"id_token"`
	Scope        string      `json:"scope"`
}

// errorResponse is an error answer (Entra's fields included).
type errorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Suberror         string `json:"suberror"`
	Claims           string `json:"claims"`
	CorrelationID    string `json:"correlation_id"`
	TraceID          string `json:"trace_id"`
	Timestamp        string `json:"timestamp"`
}

// maxRetryAfter caps a provider's Retry-After.
const maxRetryAfter = time.Hour

// defaultThrottle applies to a 429 without Retry-After.
const defaultThrottle = 10 * time.Second

// retryAfterError is a 429/503 (or 5xx) answer that carried Retry-After or
// a 429: not retried, it starts throttling.
type retryAfterError struct {
	until time.Time
	cause error
}

func (e *retryAfterError) Error() string { return e.cause.Error() }
func (e *retryAfterError) Unwrap() error { return e.cause }

// transportError is a failure to get any answer from the provider.
type transportError struct{ err error }

func (e *transportError) Error() string {
	return "identityweb: identity provider unreachable: " + sanitize(e.err)
}
func (e *transportError) Unwrap() error { return e.err }

// sanitize keeps an error's text free of URLs with query strings (which
// could carry codes) and shortens it.
func sanitize(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// tokenCall is one logical token request: grant parameters without client
// authentication, which post adds per attempt.
type tokenCall struct {
	grant    string // for logs and metrics: client_credentials, refresh_token, …
	endpoint string
	form     url.Values
	userFlow bool
}

// post sends the request with the library's retry policy: one retry after
// ~1 s (jittered) on a 5xx or a transport failure; no retry on 429/503 with
// Retry-After (throttling starts instead); one credential reload and retry
// on a certificate-class error. It returns the response and the time spent
// in HTTP.
func (a *TokenAcquirer) post(ctx context.Context, call tokenCall) (*tokenResponse, time.Duration, error) {
	var inHTTP time.Duration
	retried, reloaded := false, false
	for {
		resp, d, err := a.postOnce(ctx, call)
		inHTTP += d
		outcome := "success"
		var oe *OAuthError
		var te *transportError
		var ra *retryAfterError
		switch {
		case err == nil:
		case errors.As(err, &ra):
			outcome = "throttled"
		case errors.As(err, &te):
			outcome = "unreachable"
		case errors.As(err, &oe):
			outcome = "error"
		default:
			outcome = "error"
		}
		a.metrics.idpRequest(ctx, call.grant, outcome)
		if err == nil {
			return resp, inHTTP, nil
		}
		switch {
		case ra != nil:
			return nil, inHTTP, err
		case (te != nil || (oe != nil && oe.StatusCode >= 500)) && !retried:
			retried = true
			a.logger.LogAttrs(ctx, levelWarn, "identityweb: token request failed; retrying once",
				strAttr("grant", call.grant), errAttr(err))
			if serr := a.clock.Sleep(ctx, a.retryDelay()); serr != nil {
				return nil, inHTTP, err
			}
		case oe != nil && oe.certificateClass() && !reloaded:
			reloaded = true
			a.logger.LogAttrs(ctx, levelWarn, "identityweb: the identity provider rejected the client credential; reloading it and retrying once",
				strAttr("grant", call.grant), strAttr("credential", a.cred.Description()), intAttr("aadsts", oe.AADSTS()))
			if rerr := a.cred.Reload(ctx); rerr != nil {
				a.logger.LogAttrs(ctx, levelWarn, "identityweb: reloading the client credential failed", errAttr(rerr))
				return nil, inHTTP, err
			}
		default:
			return nil, inHTTP, err
		}
	}
}

func (a *TokenAcquirer) retryDelay() time.Duration {
	// ~1 s with ±20 % jitter so that many instances do not retry in step.
	j := time.Duration(mrand.Int64N(int64(a.opts.RetryDelay / 5 * 2)))
	return a.opts.RetryDelay - a.opts.RetryDelay/5 + j
}

func (a *TokenAcquirer) postOnce(ctx context.Context, call tokenCall) (*tokenResponse, time.Duration, error) {
	auth, err := a.cred.ClientAuth(ctx, certsource.AuthRequest{ClientID: a.cfg.ClientID, TokenEndpoint: call.endpoint, Now: a.clock.Now()})
	if err != nil {
		return nil, 0, &credentialError{err}
	}
	form := make(url.Values, len(call.form)+4)
	for k, v := range call.form {
		form[k] = v
	}
	form.Set("client_id", a.cfg.ClientID)
	switch {
	case auth.ClientAssertion != "":
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", auth.ClientAssertion)
	case auth.ClientSecret != "":
		form.Set("client_secret", auth.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, call.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, &transportError{err}
	}
	correlation := guid.New()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", correlation)
	req.Header.Set("return-client-request-id", "true")
	req.Header.Set("x-client-SKU", "identityweb-go")
	start := a.clock.Now()
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, a.clock.Now().Sub(start), &transportError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	d := a.clock.Now().Sub(start)
	if err != nil {
		return nil, d, &transportError{err}
	}
	if resp.StatusCode == http.StatusOK {
		var tr tokenResponse
		if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
			return nil, d, &OAuthError{StatusCode: resp.StatusCode, Code: "invalid_response",
				Description: "the token endpoint's answer is not a token response", CorrelationID: correlation}
		}
		return &tr, d, nil
	}
	oe := parseOAuthError(resp.StatusCode, body, correlation)
	oe.userFlow = call.userFlow
	if until, ok := a.retryAfter(resp); ok {
		return nil, d, &retryAfterError{until: until, cause: oe}
	}
	return nil, d, oe
}

// retryAfter reports whether resp starts throttling, and until when: a 429
// always (default 10 s), a 5xx when it carries Retry-After. Capped at 1 h.
func (a *TokenAcquirer) retryAfter(resp *http.Response) (time.Time, bool) {
	h := resp.Header.Get("Retry-After")
	if resp.StatusCode != http.StatusTooManyRequests && (resp.StatusCode < 500 || h == "") {
		return time.Time{}, false
	}
	now := a.clock.Now()
	d := defaultThrottle
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	if d > maxRetryAfter {
		d = maxRetryAfter
	}
	if d < time.Second {
		d = time.Second
	}
	return now.Add(d), true
}

func parseOAuthError(status int, body []byte, correlation string) *OAuthError {
	var er errorResponse
	if json.Unmarshal(body, &er) != nil || er.Error == "" {
		code := "server_error"
		if status < 500 {
			code = "invalid_response"
		}
		return &OAuthError{StatusCode: status, Code: code, Description: http.StatusText(status), CorrelationID: correlation}
	}
	if er.CorrelationID == "" {
		er.CorrelationID = correlation
	}
	return &OAuthError{StatusCode: status, Code: er.Error, Description: er.ErrorDescription, ErrorCodes: er.ErrorCodes,
		Suberror: er.Suberror, Claims: er.Claims, CorrelationID: er.CorrelationID, TraceID: er.TraceID, Timestamp: er.Timestamp}
}

// credentialError: the credential source could not produce authentication.
type credentialError struct{ err error }

func (e *credentialError) Error() string {
	return "identityweb: the client credential is not available: " + sanitize(e.err)
}
func (e *credentialError) Unwrap() error { return e.err }

// seconds reads a json.Number of seconds (some providers send strings).
func seconds(n json.Number) time.Duration {
	if n == "" {
		return 0
	}
	if i, err := n.Int64(); err == nil && i > 0 {
		return time.Duration(i) * time.Second
	}
	if f, err := n.Float64(); err == nil && f > 0 {
		return time.Duration(f * float64(time.Second))
	}
	return 0
}
