package load

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// Redis as it fails in production, and a slow identity provider: the web
// API under load while a Sentinel or Cluster master dies, Redis stalls or
// slows down, or the provider slows down. Each scenario builds its own
// Redis (ChaosScenario.Redis) and reports like the others, pass or fail.

// ChaosScenario is a Scenario with the Redis deployment it runs on.
type ChaosScenario struct {
	Scenario
	// Redis starts the deployment and returns what the app instances'
	// caches are built on and what Break and Repair act on; nil: no Redis.
	Redis func(tb testing.TB) *ChaosRedis
}

// ChaosRedis is a Redis deployment under test.
type ChaosRedis struct {
	// NewStore returns a store for one app instance (its own client).
	NewStore func(tb testing.TB) *redisstore.Store
	// Proxy, when set, sits between the instances and Redis.
	Proxy *redistest.Proxy
	// Fail kills the master with SIGKILL (failover scenarios); the
	// deployment fails over by itself.
	Fail func()
}

// Kill implements RedisControl: it kills the master.
func (c *ChaosRedis) Kill() {
	if c.Fail != nil {
		c.Fail()
	}
}

// Restart implements RedisControl; a failover needs no restart.
func (c *ChaosRedis) Restart() error { return nil }

// ChaosScenarios returns the Redis and identity-provider fault scenarios at
// duration d (failovers run at least 6 s, so that one completes in the
// middle of the run).
func ChaosScenarios(d time.Duration) []ChaosScenario {
	base := Scenario{Users: 50, Workers: 8, Duration: d, UseRedis: true}
	long := base
	long.Duration = max(d, 6*time.Second)

	// A Sentinel deployment (master, two replicas, three sentinels) loses
	// its master at a third of the run: no call fails and the provider is
	// not asked again (every warm caller's token is in L1, then on the
	// promoted replica).
	sentinel := ChaosScenario{Scenario: long, Redis: sentinelRedis}
	sentinel.Name, sentinel.MaxPer1000 = "sentinel-failover", 1
	sentinel.Break = func(e *Env) { e.Redis.Kill() }

	// The same with a Cluster of three masters and three replicas: the
	// master that holds the app's keys dies.
	cluster := ChaosScenario{Scenario: long, Redis: clusterRedis}
	cluster.Name, cluster.MaxPer1000 = "cluster-failover", 1
	cluster.Break = func(e *Env) { e.Redis.Kill() }

	// Redis stops answering (every byte held) for a third of the run, then
	// answers again: no call fails, none waits for Redis beyond the cache's
	// timeout, the provider is not asked again.
	stall := ChaosScenario{Scenario: base, Redis: proxiedRedis}
	stall.Name, stall.MaxPer1000 = "redis-stall", 1
	stall.Break = func(e *Env) { e.Redis.(*ChaosRedis).Proxy.SetMode(redistest.Stall) }
	stall.Repair = func(e *Env) { e.Redis.(*ChaosRedis).Proxy.SetMode(redistest.Pass) }

	// 200 ms on every Redis command for a third of the run: no call fails.
	latency := ChaosScenario{Scenario: base, Redis: proxiedRedis}
	latency.Name, latency.MaxPer1000 = "redis-latency", 1
	latency.Break = func(e *Env) { e.Redis.(*ChaosRedis).Proxy.SetLatency(200 * time.Millisecond) }
	latency.Repair = func(e *Env) { e.Redis.(*ChaosRedis).Proxy.SetMode(redistest.Pass) }

	// The provider answers token requests 300 ms late while new callers
	// arrive: no call fails, warm callers do not notice, each new caller
	// costs one request (two at most, with a retry).
	idp := ChaosScenario{Scenario: Scenario{Users: 50, Workers: 8, Duration: d, ColdUsers: 20}}
	idp.Name, idp.MaxIdPRequests = "idp-latency", 2*20
	idp.Break = func(e *Env) { e.IdP.SetLatency(300 * time.Millisecond) }
	idp.Repair = func(e *Env) { e.IdP.SetLatency(0) }

	return []ChaosScenario{sentinel, cluster, stall, latency, idp}
}

// RunChaos runs a chaos scenario: its Redis, then the web API on it (or
// the standard one without Redis), driven as Run drives the others.
func RunChaos(tb testing.TB, s ChaosScenario) Report {
	tb.Helper()
	if s.Redis == nil {
		return Run(tb, s.Scenario, "", nil)
	}
	if s.Instances == 0 {
		s.Instances = 2
	}
	r := s.Redis(tb)
	env := &Env{Clock: iwt.NewClock(time.Now()), Redis: r}
	t := chaosAPITarget(tb, s.Scenario, env, r)
	env.IdP.ResetRequests()
	return drive(s.Scenario, env, t)
}

// chaosAPITarget is the web API of apiTarget (bearer tokens in, OBO out)
// with a client secret, on instances whose caches are built on r.
func chaosAPITarget(tb testing.TB, s Scenario, env *Env, r *ChaosRedis) target {
	idp := iwt.NewServer(tb, iwt.Options{})
	env.IdP = idp
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	cfg := identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret}
	t := oboAPI(tb, s, idp, s.Users, func() identityweb.AppOptions {
		l2 := cachestore.NewEncrypted(r.NewStore(tb), ring, cachestore.EncryptedOptions{Logger: quiet})
		return identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet, Cache: instanceCache(tb, l2, nil)}}
	}, cfg)
	for i := 0; i < s.Users; i++ { // warm-up, on every instance (round robin)
		for j := 0; j < s.Instances; j++ {
			if _, err := t(i); err != nil {
				tb.Fatalf("%s: warm-up call failed: %v", s.Name, err)
			}
		}
	}
	return t
}

// sentinelRedis is a Sentinel deployment with two replicas (one is left
// to acknowledge locks after the failover); Fail kills its master.
func sentinelRedis(tb testing.TB) *ChaosRedis {
	sent := redistest.StartSentinel(tb, redistest.SentinelOptions{Replicas: 2})
	c := &ChaosRedis{}
	c.NewStore = func(tb testing.TB) *redisstore.Store {
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sent.MasterName, SentinelAddrs: sent.SentinelAddrs(),
			ContextTimeoutEnabled: true})
		tb.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: "chaos:", LockReplicas: 1, Logger: quiet})
	}
	c.Fail = func() {
		old, err := sent.MasterAddr()
		if err != nil {
			return
		}
		if n := sent.Node(old); n != nil {
			n.Kill()
		}
	}
	return c
}

// clusterRedis is a Cluster of three masters and three replicas; the app's
// keys share one hash slot (the prefix's hash tag), and Fail kills the
// master that holds it.
func clusterRedis(tb testing.TB) *ChaosRedis {
	cl := redistest.StartClusterWith(tb, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	const prefix = "{chaos}:"
	c := &ChaosRedis{}
	c.NewStore = func(tb testing.TB) *redisstore.Store {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		tb.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: prefix, LockReplicas: 1, Logger: quiet})
	}
	c.Fail = func() {
		if m, err := cl.MasterFor(prefix); err == nil {
			m.Kill()
		}
	}
	return c
}

// proxiedRedis is one server behind a fault-injecting proxy.
func proxiedRedis(tb testing.TB) *ChaosRedis {
	srv := redistest.Start(tb)
	if srv.External() {
		tb.Skip("needs a private redis-server behind the proxy")
	}
	c := &ChaosRedis{Proxy: redistest.StartProxy(tb, srv.Addr)}
	c.NewStore = func(tb testing.TB) *redisstore.Store {
		rdb := redis.NewClient(&redis.Options{Addr: c.Proxy.Addr, ContextTimeoutEnabled: true})
		tb.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: "chaos:", Logger: quiet})
	}
	return c
}
