package identityweb

import (
	"errors"

	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/identityweb/go-identityweb/internal/oauth"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrInteractionRequired: the user must come back through sign-in
	// (consent, a claims challenge, an expired or revoked refresh token, or
	// no account in the token cache). Web apps send the user to sign in.
	ErrInteractionRequired = errors.New("identityweb: user interaction required")
	// ErrInvalidClient: the identity provider rejected the app's credential
	// or does not know the app.
	ErrInvalidClient = errors.New("identityweb: invalid client")
	// ErrThrottled: the provider asked to wait (429/503 with Retry-After);
	// identical requests fail fast until then. See *ThrottledError.
	ErrThrottled = errors.New("identityweb: throttled by the identity provider")
	// ErrUnavailable: retry later. The identity provider, its discovery
	// document or signing keys could not be reached or answered 5xx after
	// the retry, or the credential source is down. Web APIs answer 503, not
	// 401: the caller's token may be fine.
	ErrUnavailable = oauth.ErrUnavailable
)

// misuse is a caller's mistake (a missing argument); it matches ErrConfig.
func misuse(msg string) error { return &configError{"call", msg} }

// validTenant accepts a tenant id (GUID) or a domain name: nothing that
// could change a URL's path or a cache key's structure.
func validTenant(t string) bool {
	if len(t) == 0 || len(t) > 253 {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// OAuthError is an error answer from the token endpoint. Its message never
// contains a token or secret.
type OAuthError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the OAuth error ("invalid_grant", "invalid_client", …).
	Code string
	// Description is the provider's error_description.
	Description string
	// ErrorCodes are Entra's AADSTS codes (error_codes).
	ErrorCodes []int
	// Suberror is Entra's suberror ("consent_required", …).
	Suberror string
	// Claims is a claims challenge to pass to the next sign-in.
	Claims        string
	CorrelationID string
	TraceID       string
	Timestamp     string

	userFlow bool // invalid_grant means "sign in again" only for user flows
}

// Error returns a message with the code, AADSTS code and a shortened
// description.
func (e *OAuthError) Error() string {
	var b strings.Builder
	b.WriteString("identityweb: token request failed: ")
	b.WriteString(e.Code)
	if len(e.ErrorCodes) > 0 {
		b.WriteString(" (AADSTS")
		b.WriteString(strconv.Itoa(e.ErrorCodes[0]))
		b.WriteString(")")
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " status %d", e.StatusCode)
	}
	if d := firstLine(e.Description); d != "" {
		b.WriteString(": ")
		b.WriteString(d)
	}
	if e.CorrelationID != "" {
		b.WriteString(" [correlation id ")
		b.WriteString(e.CorrelationID)
		b.WriteString("]")
	}
	return b.String()
}

// AADSTS returns the first AADSTS code, or 0.
func (e *OAuthError) AADSTS() int {
	if len(e.ErrorCodes) == 0 {
		return 0
	}
	return e.ErrorCodes[0]
}

// Is matches the sentinels: ErrInteractionRequired for interaction_required,
// consent_required, login_required and (on user flows) invalid_grant and
// invalid_scope;
// ErrInvalidClient for invalid_client and unauthorized_client; ErrConfig
// for unsupported_grant_type; ErrUnavailable for a 5xx answer.
func (e *OAuthError) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.StatusCode >= 500
	case ErrInteractionRequired:
		switch e.Code {
		case "interaction_required", "consent_required", "login_required":
			return true
		case "invalid_grant", "invalid_scope":
			// A user's refresh token that no longer works, or scopes outside
			// the user's grant: sign in (and consent) again.
			return e.userFlow
		}
	case ErrInvalidClient:
		return e.Code == "invalid_client" || e.Code == "unauthorized_client"
	case ErrConfig: // the provider does not do what the configuration asks
		return e.Code == "unsupported_grant_type"
	}
	return false
}

// certificateCodes are the AADSTS codes that mean "reload the credential and
// retry once".
var certificateCodes = map[int]bool{700027: true, 700024: true, 7000214: true, 1000502: true, 7000274: true, 7000277: true}

func (e *OAuthError) certificateClass() bool {
	for _, c := range e.ErrorCodes {
		if certificateCodes[c] {
			return true
		}
	}
	return false
}

// ThrottledError is returned while the provider's Retry-After is running.
type ThrottledError struct {
	// RetryAfter is when identical requests may be sent again.
	RetryAfter time.Time
	// Cause is the answer that started the throttling.
	Cause error
}

func (e *ThrottledError) Error() string {
	return "identityweb: throttled by the identity provider until " + e.RetryAfter.UTC().Format(time.RFC3339)
}

// Is matches ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Unwrap returns the cause.
func (e *ThrottledError) Unwrap() error { return e.Cause }

// noAccountError: the cache holds no refresh token for the partition.
type noAccountError struct{}

func (noAccountError) Error() string {
	return "identityweb: no account in the token cache for this session: the user must sign in again"
}
func (noAccountError) Is(target error) bool { return target == ErrInteractionRequired }

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	// Entra appends trace details to the description; they are in fields.
	if i := strings.Index(s, " Trace ID:"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
