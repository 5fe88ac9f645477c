package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/guid"
)

// TokenResponse is a successful token endpoint answer (Entra's fields
// included).
type TokenResponse struct {
	AccessToken  string      `json:"access_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    json.Number `json:"expires_in"`
	ExtExpiresIn json.Number `json:"ext_expires_in"`
	RefreshIn    json.Number `json:"refresh_in"`
	RefreshToken string      `json:"refresh_token"`
	IDToken      string      `json:"id_token"`
	Scope        string      `json:"scope"`
}

// ErrorResponse is an error answer (Entra's fields included), with the
// HTTP status it came with.
type ErrorResponse struct {
	Status           int    `json:"-"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Suberror         string `json:"suberror"`
	Claims           string `json:"claims"`
	CorrelationID    string `json:"correlation_id"`
	TraceID          string `json:"trace_id"`
	Timestamp        string `json:"timestamp"`
}

// MaxRetryAfter caps a provider's Retry-After.
const MaxRetryAfter = time.Hour

// DefaultThrottle applies to a 429 without Retry-After.
const DefaultThrottle = 10 * time.Second

// ErrUnavailable is matched by every failure that means "retry later": no
// answer, a 5xx, a provider document or key set that cannot be fetched.
var ErrUnavailable = errors.New("identityweb: the identity provider is unavailable")

// TransportError is a failure to get any answer from the provider (or an
// answer that says it is down: discovery or keys with a 5xx). It matches
// ErrUnavailable.
type TransportError struct{ Err error }

// Is matches ErrUnavailable.
func (e *TransportError) Is(t error) bool { return t == ErrUnavailable }

func (e *TransportError) Error() string {
	return "identityweb: identity provider unreachable: " + Sanitize(e.Err)
}

// Unwrap returns the transport's error.
func (e *TransportError) Unwrap() error { return e.Err }

// Sanitize keeps an error's text free of URLs with query strings (which
// could carry codes) and shortens it.
func Sanitize(err error) string {
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

// Response is the token endpoint's answer to one request: a token, or an
// error (with ThrottledUntil set when the answer starts throttling). A
// pushed authorization request (RFC 9126) is answered with RequestURI.
type Response struct {
	Token          *TokenResponse
	Error          *ErrorResponse
	RequestURI     string
	ThrottledUntil time.Time
	InHTTP         time.Duration
	// DPoPNonce is the DPoP-Nonce header of the answer (RFC 9449 §8).
	DPoPNonce string
}

// Exchange posts form (grant parameters and client authentication) to a
// token endpoint once and reads the answer. The error is a *TransportError
// when no answer came; a protocol error is an answer, in Response.Error.
// header may carry client authentication (client_secret_basic) and is
// sent as given.
func Exchange(ctx context.Context, client *http.Client, now func() time.Time, endpoint string, header http.Header, form url.Values) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Response{}, &TransportError{err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	correlation := guid.New()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", correlation)
	req.Header.Set("return-client-request-id", "true")
	req.Header.Set("x-client-SKU", "identityweb-go")
	start := now()
	resp, err := NoRedirects(client).Do(req)
	if err != nil {
		return Response{InHTTP: now().Sub(start)}, &TransportError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	out := Response{InHTTP: now().Sub(start)}
	if err != nil {
		return out, &TransportError{err}
	}
	out.DPoPNonce = resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode == http.StatusCreated { // RFC 9126
		var par struct {
			RequestURI string `json:"request_uri"`
		}
		if json.Unmarshal(body, &par) == nil {
			out.RequestURI = par.RequestURI
		}
		return out, nil
	}
	if resp.StatusCode == http.StatusOK {
		var tr TokenResponse
		if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
			out.Error = &ErrorResponse{Status: resp.StatusCode, Error: "invalid_response",
				ErrorDescription: "the token endpoint's answer is not a token response", CorrelationID: correlation}
			return out, nil
		}
		out.Token = &tr
		return out, nil
	}
	out.Error = ParseError(resp.StatusCode, body, correlation)
	out.ThrottledUntil, _ = RetryAfter(resp, now())
	return out, nil
}

// NoRedirects returns a copy of client that does not follow redirects, for
// every request that carries the app's credential or a token: a 307 or 308
// would re-send the form (client secret or assertion, refresh token, code,
// a token to introspect or revoke) to wherever it points. A redirect is an
// error answer instead.
func NoRedirects(client *http.Client) *http.Client {
	c := *client
	c.CheckRedirect = useLastResponse
	return &c
}

// RetryAfter reports whether resp starts throttling, and until when: a 429
// always (default 10 s), a 5xx when it carries Retry-After. Capped at 1 h.
func RetryAfter(resp *http.Response, now time.Time) (time.Time, bool) {
	h := resp.Header.Get("Retry-After")
	if resp.StatusCode != http.StatusTooManyRequests && (resp.StatusCode < 500 || h == "") {
		return time.Time{}, false
	}
	d := DefaultThrottle
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	if d > MaxRetryAfter {
		d = MaxRetryAfter
	}
	if d < time.Second {
		d = time.Second
	}
	return now.Add(d), true
}

// ParseError reads an error answer; a body that is not an OAuth error
// becomes server_error (5xx) or invalid_response.
func ParseError(status int, body []byte, correlation string) *ErrorResponse {
	var er ErrorResponse
	if json.Unmarshal(body, &er) != nil || er.Error == "" {
		code := "server_error"
		if status < 500 {
			code = "invalid_response"
		}
		return &ErrorResponse{Status: status, Error: code, ErrorDescription: http.StatusText(status), CorrelationID: correlation}
	}
	er.Status = status
	if er.CorrelationID == "" {
		er.CorrelationID = correlation
	}
	return &er
}

// Seconds reads a json.Number of seconds (some providers send strings).
func Seconds(n json.Number) time.Duration {
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

func useLastResponse(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
