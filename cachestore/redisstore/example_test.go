package redisstore_test

import (
	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
)

// The production L2: Redis (one server, Sentinel or Cluster through
// redis.UniversalClient), encrypted, behind a per-instance L1. (Needs a
// Redis, so it is compiled but not run.)
func ExampleNew() {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}, ContextTimeoutEnabled: true})
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey()) // in production: cachestore.ParseKeyRing(os.Getenv(…))
	l2 := cachestore.NewEncrypted(redisstore.New(rdb, redisstore.Options{Prefix: "myapp:"}), ring, cachestore.EncryptedOptions{})
	cache := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{})
	defer cache.Close()
	_ = cache // identityweb.Options{Cache: cache}
}
