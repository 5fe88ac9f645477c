// Package oauth is the token endpoint's wire protocol (RFC 6749 and Entra's
// additions): one form POST and its answer, token and error responses,
// Retry-After, and transport errors whose text never carries a URL's query.
// Retries, client authentication and caching are the caller's.
package oauth
