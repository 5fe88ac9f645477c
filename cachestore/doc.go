// Package cachestore is identityweb's token cache storage: the Store
// interface (Get/Set/Delete by key, not found is not an error), a bounded
// in-memory L1 that honours TTLs, a tiered L1/L2 store that keeps serving
// from L1 or the identity provider when the L2 fails, and encryption at rest
// (AES-256-GCM with a key ring, the cache key as additional data).
//
// One entry per token, keyed by every parameter that changes the answer, so a
// cache hit is a map lookup whatever the number of cached tokens.
//
// A production setup, one per app instance:
//
//	ring, _ := cachestore.ParseKeyRing(os.Getenv("IDWEB_CACHE_KEYS")) // 32-byte keys, base64, newest first
//	l2 := cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{}), ring, cachestore.EncryptedOptions{})
//	cache := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{})
//	acq, _ := identityweb.NewTokenAcquirer(cfg, identityweb.Options{Cache: cache})
//
// What Redis sees: keys are "k:" + SHA-256 of the cache key; values and
// invalidation messages are AES-256-GCM ciphertext bound to their key. No
// token, session id or user id is in clear.
//
// When Redis fails: Tiered logs once, counts (L2Failures), calls
// OnL2Failure, and leaves Redis alone for CircuitBreak (2 s); then one call
// probes it. Requests are served from L1 or the identity provider
// meanwhile, each L2 call is bounded by L2Timeout (250 ms, a stalled Redis
// included), and L2 use resumes by itself.
//
// Deletes are durable: a Delete (sign-out) that cannot reach Redis is kept
// in a pending set and retried with back-off until Redis confirms it, then
// the invalidation is published; meanwhile this instance does not serve the
// key (PendingDeletes counts them). Writes that cannot reach Redis are kept
// the same way, so a stale L2 value (a spent refresh token) is never read
// back over a newer one.
//
// Coherence across instances: a Set or Delete on one instance reaches the
// others' L1 through Redis pub/sub within its delivery time (milliseconds;
// 1–7 ms in the tests). A lost subscription clears L1 when it is restored.
// While Redis is unreachable, instances serve their own L1.
//
// Refresh tokens are spent once across instances: the token engine takes
// Tiered's Lock (SET NX PX on Redis, compare-and-delete release, lease
// renewed while held) around a user's refresh and re-reads L2 after it.
//
// Adder (SET NX with a TTL) stores a value only where none is: Memory,
// Encrypted, redisstore and Tiered implement it — Tiered lets L2 decide, so
// that exactly one instance's Add of a key succeeds (a logout token's jti
// is accepted once across instances).
package cachestore
