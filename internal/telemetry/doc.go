// Package telemetry holds the library's OpenTelemetry instruments (with
// attribute sets precomputed so a cache hit records without allocating) and
// the slog attribute helpers. Nothing recorded or logged here ever holds a
// token, an assertion, a secret, a user or a session.
package telemetry
