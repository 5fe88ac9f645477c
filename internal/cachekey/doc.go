// Package cachekey builds the token cache's keys: one key per token, holding
// every parameter that changes the answer (authority, client, kind, tenant,
// normalized scopes, partition), and the digests that stand in for secrets
// (session keys, incoming tokens) so a store never sees them.
package cachekey
