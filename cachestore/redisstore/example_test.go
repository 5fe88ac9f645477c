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

// Sentinel: the sentinels' addresses and the master's name in one URL; the
// lock waits for a replica's acknowledgement so that it survives a failover.
// (Needs Redis, so it is compiled but not run.)
func ExampleNewFromURL() {
	s, err := redisstore.NewFromURL("redis://10.0.0.1:26379?master_name=mymaster&addr=10.0.0.2:26379&addr=10.0.0.3:26379",
		redisstore.Options{Prefix: "myapp:", LockReplicas: 1})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	cache := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}),
		cachestore.NewEncrypted(s, ring, cachestore.EncryptedOptions{}), cachestore.TieredOptions{})
	defer cache.Close()
}
