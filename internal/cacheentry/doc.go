// Package cacheentry is the binary format of the token cache's values: one
// access token per entry (Token), and a partition's refresh token with its
// account and the keys of its access tokens (Refresh). The format is
// versioned and decodes with one allocation or none; corrupt, truncated or
// foreign values decode as "not an entry", never as a panic.
package cacheentry
