// Package redisstore is the L2 token cache on Redis through
// github.com/redis/go-redis/v9's UniversalClient, so a single server, Sentinel
// and Cluster all work. Keys expire with their tokens, values are encrypted
// by cachestore before they get here, and instances keep their L1 caches
// coherent through Redis pub/sub. It also provides the distributed lock that
// makes several instances spend a rotating refresh token once.
//
// Use: cachestore.NewTiered(l1, cachestore.NewEncrypted(redisstore.New(rdb,
// redisstore.Options{}), ring, cachestore.EncryptedOptions{}), cachestore.TieredOptions{}).
//
// Connecting: NewFromURL takes redis://host:port/db (one server), a
// Sentinel URL (redis://sentinel1:26379?master_name=mymaster&addr=sentinel2:26379&addr=sentinel3:26379)
// or a Cluster URL (redis://node1:6379?addr=node2:6379&addr=node3:6379),
// and turns on ContextTimeoutEnabled. A client built by hand needs
// ContextTimeoutEnabled too: without it deadlines do not reach the socket
// and a stalled Redis holds each call for the client's read timeout (5 s).
//
// How faults behave (each is a test against real redis-server processes):
//   - Redis killed, restarted, failed over (Sentinel or Cluster): calls
//     fail fast (connection refused or reset), cachestore.Tiered opens its
//     circuit and serves L1; writes resume on the promoted master within
//     about the failover time (2–3 s with the tests' 1 s detection); the
//     invalidation subscription moves to it by itself.
//   - Redis or the network stalls (no error, no answer): every command is
//     bounded by the caller's deadline (Tiered: 250 ms) or Options.Timeout
//     (500 ms), so the circuit trips on stalls as on errors; a silent
//     subscription is found by its PING (Options.HealthCheck) and replaced.
//   - High latency: below the deadline calls just take longer; above it they
//     are cut at the deadline and Tiered behaves as for a stall.
//
// Every key this package writes has a TTL (entries: the token's lifetime;
// locks: their lease), so Redis memory stays bounded; run Redis with
// maxmemory and an eviction policy that only evicts keys with a TTL
// (volatile-lru or volatile-ttl).
package redisstore
