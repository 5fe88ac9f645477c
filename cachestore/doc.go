// Package cachestore is identityweb's token cache storage: the Store
// interface (Get/Set/Delete by key, not found is not an error), a bounded
// in-memory L1 that honours TTLs, a tiered L1/L2 store that keeps serving
// from L1 or the identity provider when the L2 fails, and encryption at rest
// (AES-256-GCM with a key ring, the cache key as additional data).
//
// One entry per token, keyed by every parameter that changes the answer, so a
// cache hit is a map lookup whatever the number of cached tokens.
//
// Status: Store and the Memory L1 are here; the tiered store, encryption and
// Redis arrive with the cachestore issue.
package cachestore
