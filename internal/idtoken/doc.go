// Package idtoken reads the account (oid or sub, tid, preferred_username,
// name) from an ID token the token endpoint returned over TLS. It verifies
// nothing: sign-in verifies the token before trusting it.
package idtoken
