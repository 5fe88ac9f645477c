package identitywebtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// AADSTS codes the provider returns, named after what they mean. The numbers
// are Entra's.
const (
	CodeInvalidRequest          = 900144  // a required parameter is missing
	CodeMalformedRequest        = 9002313 // request malformed or invalid
	CodePostOnly                = 900561  // endpoint only accepts POST
	CodeUnsupportedGrant        = 70003   // unsupported grant type
	CodeInvalidGrant            = 70000   // grant is invalid for this client
	CodeExpiredOrRevoked        = 70008   // code or refresh token expired or revoked
	CodeCodeRedeemed            = 54005   // authorization code already redeemed
	CodePKCEMismatch            = 50148   // code_verifier does not match code_challenge
	CodeRedirectMismatch        = 50011   // reply URL not registered / does not match
	CodeBadCredentials          = 50126   // invalid username or password
	CodeLoginRequired           = 50058   // prompt=none and no session
	CodeInteractionRequired     = 50076   // claims/MFA need interaction
	CodeConsentRequired         = 65001   // user or admin has not consented
	CodeConsentDeclined         = 65004   // user declined consent
	CodeInvalidScope            = 70011   // scope not valid
	CodeMultipleResources       = 28000   // scope names more than one resource
	CodeDefaultScopeRequired    = 1002012 // client credentials need "/.default"
	CodeResourceNotFound        = 500011  // resource principal not found
	CodeUnknownClient           = 700016  // application not found in the directory
	CodeBadSecret               = 7000215 // invalid client secret
	CodeExpiredSecret           = 7000222 // client secret expired
	CodeCredentialRequired      = 7000218 // client_assertion or client_secret required
	CodePublicClientCredential  = 700025  // public clients present no credential
	CodeUnknownCertificate      = 700027  // assertion signed by unregistered/revoked key
	CodeAssertionTimeRange      = 700024  // client assertion outside its time range
	CodeAssertionIssuer         = 700021  // assertion iss/sub do not match client_id
	CodeInvalidJWT              = 50027   // JWT malformed or invalid
	CodeAssertionReplayed       = 50012   // client assertion jti used before
	CodeOBOAssertionInvalid     = 50013   // OBO assertion signature/audience invalid
	CodeOBOAssertionExpired     = 500133  // OBO assertion outside its time range
	CodeTenantNotFound          = 90002   // tenant not found
	CodeTenantRequired          = 50059   // tenant-specific endpoint required
	CodeUserNotInTenant         = 50020   // user not in the app's tenant
	CodeTemporarilyUnavailable  = 90033   // injected 5xx / outage
	CodeThrottled               = 50196   // injected 429
	CodeUnsupportedResponseType = 700054  // response_type not supported
)

// oauthError is an error the provider answers with, Entra-shaped.
type oauthError struct {
	status   int
	code     string // OAuth error code
	aadsts   int
	desc     string
	suberror string
	claims   string
}

func (e *oauthError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.aadsts, e.desc) }

func newErr(status int, code string, aadsts int, format string, args ...any) *oauthError {
	return &oauthError{status: status, code: code, aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

func invalidRequest(aadsts int, format string, args ...any) *oauthError {
	return newErr(http.StatusBadRequest, "invalid_request", aadsts, format, args...)
}

func invalidGrant(aadsts int, format string, args ...any) *oauthError {
	return newErr(http.StatusBadRequest, "invalid_grant", aadsts, format, args...)
}

func invalidClient(aadsts int, format string, args ...any) *oauthError {
	return newErr(http.StatusUnauthorized, "invalid_client", aadsts, format, args...)
}

func invalidScope(aadsts int, format string, args ...any) *oauthError {
	return newErr(http.StatusBadRequest, "invalid_scope", aadsts, format, args...)
}

func consentRequired(clientID, name string) *oauthError {
	e := invalidGrant(CodeConsentRequired, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", clientID, name)
	e.suberror = "consent_required"
	return e
}

// errorBody is the JSON body of an Entra error response.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri,omitempty"`
	Suberror         string `json:"suberror,omitempty"`
	Claims           string `json:"claims,omitempty"`
}

// body renders e with its trace details the way Entra formats them.
func (e *oauthError) body(rc *requestContext) errorBody {
	ts := rc.now.UTC().Format("2006-01-02 15:04:05Z")
	return errorBody{
		Error: e.code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.desc, rc.traceID, rc.correlationID, ts),
		ErrorCodes:    []int{e.aadsts},
		Timestamp:     ts,
		TraceID:       rc.traceID,
		CorrelationID: rc.correlationID,
		ErrorURI:      rc.base + "/error?code=" + strconv.Itoa(e.aadsts),
		Suberror:      e.suberror,
		Claims:        e.claims,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
