// Package redisstore is the L2 token cache on Redis through
// github.com/redis/go-redis/v9's UniversalClient, so a single server, Sentinel
// and Cluster all work. Keys expire with their tokens, values are encrypted
// by cachestore before they get here, and instances keep their L1 caches
// coherent through Redis pub/sub. It also provides the distributed lock that
// makes several instances spend a rotating refresh token once.
//
// Use: cachestore.NewTiered(l1, cachestore.NewEncrypted(redisstore.New(rdb,
// redisstore.Options{}), ring, cachestore.EncryptedOptions{}), cachestore.TieredOptions{}).
package redisstore
