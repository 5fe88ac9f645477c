package load

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/cachestore/redisstore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// Redis as it fails in production, and a slow identity provider: the apps
// under load while a Sentinel or Cluster master dies, Redis stalls or
// slows down, or the provider slows down. Each scenario builds its own
// Redis (ChaosScenario.Redis) and reports like the others, pass or fail;
// after each, a scan of the deployment finds no key without a TTL.

// FailoverResumeBound is how soon after a master is killed L2 writes must
// land on the promoted replica: Sentinel's down-after (1 s) and Cluster's
// node timeout (1 s), the election, the clients finding the new master.
// Measured on loopback: about 2.3 s (Sentinel) and 2.7 s (Cluster).
const FailoverResumeBound = 10 * time.Second

// ChaosScenario is a Scenario with the Redis deployment it runs on.
type ChaosScenario struct {
	Scenario
	// Redis starts the deployment and returns what the app instances'
	// caches are built on and what Break and Repair act on; nil: no Redis.
	Redis func(tb testing.TB) *ChaosRedis
	// WebUsers, when set, are the first of Users: signed-in users of the
	// web app on WebInstances instances, next to the web API's callers,
	// every cache on the same deployment (see failoverTarget).
	WebUsers, WebInstances int
}

// ChaosRedis is a Redis deployment under test.
type ChaosRedis struct {
	// NewStore returns a store for one app instance (its own client).
	NewStore func(tb testing.TB) *redisstore.Store
	// Proxy, when set, sits between the instances and Redis.
	Proxy *redistest.Proxy
	// Fail kills the master with SIGKILL (failover deployments); the
	// deployment fails over by itself.
	Fail func()
	// Masters returns the addresses of the masters that answer (the TTL
	// scan's).
	Masters func() []string
	// onNewMaster reports whether key, written through probe, is on a
	// master other than the one Fail killed (failover deployments).
	onNewMaster func(key string) bool
	probe       *redisstore.Store
	killed      time.Time
	resumed     time.Duration // from the kill to the first write on the new master
}

// Kill implements RedisControl: it kills the master.
func (c *ChaosRedis) Kill() {
	if c.Fail != nil {
		c.killed = time.Now()
		c.Fail()
	}
}

// Restart implements RedisControl. A failover needs no restart: it waits
// until a write through a store of its own (the library's, on a client of
// its own) lands on the promoted master, and notes how long after the kill
// that was.
func (c *ChaosRedis) Restart() error {
	if c.onNewMaster == nil || c.killed.IsZero() {
		return nil
	}
	for i := 0; time.Since(c.killed) < 60*time.Second; i++ {
		key := fmt.Sprintf("resume-probe-%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.probe.Set(ctx, key, []byte("x"), time.Minute)
		cancel()
		if err == nil && c.onNewMaster(key) {
			c.resumed = time.Since(c.killed)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("writes did not land on a new master within 60 s")
}

// caches gives each instance its own client of the deployment and its own
// L1 over the shared encrypted level (ring); clock is the one entries'
// lifetimes follow (nil: the system clock).
func (c *ChaosRedis) caches(tb testing.TB, ring *cachestore.KeyRing, clock cachestore.Clock) fleetCaches {
	return func() cachestore.Store {
		l2 := cachestore.NewEncrypted(c.NewStore(tb), ring, cachestore.EncryptedOptions{Logger: quiet, Clock: clock})
		return instanceCache(tb, l2, clock)
	}
}

// ChaosScenarios returns the Redis and identity-provider fault scenarios at
// duration d (failovers run at least 6 s, so that one completes in the
// middle of the run).
func ChaosScenarios(d time.Duration) []ChaosScenario {
	base := Scenario{Users: 50, Workers: 8, Duration: d, UseRedis: true}

	// 40 signed-in users of the web app (three instances, each page three
	// requests at once: one to each instance) and 50 callers of the web
	// API (two instances, OBO), every cache on one Sentinel deployment
	// (master, two replicas — one is left to acknowledge refresh locks
	// after the failover — three sentinels). At a third of the run the
	// master is SIGKILLed and the clock jumps two hours, so every user's
	// access token expires while the deployment fails over: each refresh
	// token must be spent once across the instances (the provider revokes
	// the family on reuse), no request fails, the provider sees at most one
	// refresh per user, L2 writes land on the promoted replica within
	// FailoverResumeBound, and the back-channel logouts sent before and
	// during the failover hold on every instance within FailoverGrace of
	// it (see failoverTarget).
	long := Scenario{Users: 40 + 50, Workers: 8, Burst: 3, Instances: 2, Duration: max(d, 6*time.Second), UseRedis: true}
	long.MaxIdPRequests = 40
	long.Break = func(e *Env) {
		e.Between(func() { // no call sees the new time before the kill
			e.Clock.Advance(2 * time.Hour)
			e.KillRedis()
		})
		e.RestartRedis() // waits for the failover
	}
	sentinel := ChaosScenario{Scenario: long, Redis: sentinelRedis, WebUsers: 40, WebInstances: 3}
	sentinel.Name = "sentinel-failover"
	// The same on a Cluster of three masters with two replicas each: the
	// master that holds the apps' keys dies.
	cluster := ChaosScenario{Scenario: long, Redis: clusterRedis, WebUsers: 40, WebInstances: 3}
	cluster.Name = "cluster-failover"

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

// RunChaos runs a chaos scenario: its Redis, then the apps on it (or the
// standard web API without Redis), driven as Run drives the others; then
// it judges the failover's L2 resumption and scans the deployment for keys
// without a TTL.
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
	var t target
	if s.WebUsers > 0 {
		t = failoverTarget(tb, s, env, r)
	} else {
		t = chaosAPITarget(tb, s.Scenario, env, r)
	}
	env.IdP.ResetRequests()
	rep := drive(s.Scenario, env, t)
	if r.onNewMaster != nil {
		rep.judge(r.resumeNote())
	}
	if env.Verify != nil {
		rep.judge(env.Verify())
	}
	rep.judge(ttlScan(r.Masters()))
	return rep
}

// resumeNote reports when L2 writes resumed after the kill, and fails
// above FailoverResumeBound.
func (c *ChaosRedis) resumeNote() (string, error) {
	switch {
	case c.killed.IsZero():
		return "", fmt.Errorf("the master was not killed")
	case c.resumed == 0:
		return "", fmt.Errorf("L2 writes did not resume on a new master within 60 s")
	}
	note := fmt.Sprintf("l2_writes_resumed=%v after the kill (bound %v)", c.resumed.Round(10*time.Millisecond), FailoverResumeBound)
	if c.resumed > FailoverResumeBound {
		return note, fmt.Errorf("L2 writes resumed %v after the kill > %v", c.resumed.Round(10*time.Millisecond), FailoverResumeBound)
	}
	return note, nil
}

// ttlScan scans the masters for keys that would never expire.
func ttlScan(masters []string) (string, error) {
	if len(masters) == 0 {
		return "", fmt.Errorf("ttl scan: no master answers")
	}
	scan, err := redistest.ScanTTLs(masters...)
	note := fmt.Sprintf("ttl_scan keys=%d without_ttl=%d", scan.Keys, len(scan.Permanent))
	if err != nil {
		return note, err
	}
	if n := len(scan.Permanent); n > 0 {
		return note, fmt.Errorf("%d keys without a TTL: %s", n, strings.Join(scan.Permanent[:min(n, 5)], ", "))
	}
	return note, nil
}

// chaosAPITarget is the web API of apiTarget (bearer tokens in, OBO out)
// with a client secret, on instances whose caches are built on r.
func chaosAPITarget(tb testing.TB, s Scenario, env *Env, r *ChaosRedis) target {
	idp := iwt.NewServer(tb, iwt.Options{})
	env.IdP = idp
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	t := chaosAPI(tb, s, idp, s.Users, r.caches(tb, ring, nil))
	for i := 0; i < s.Users; i++ { // warm-up, on every instance (round robin)
		for j := 0; j < s.Instances; j++ {
			if _, err := t(i); err != nil {
				tb.Fatalf("%s: warm-up call failed: %v", s.Name, err)
			}
		}
	}
	return t
}

// chaosAPI is oboAPI with a client secret and each instance's cache from
// caches.
func chaosAPI(tb testing.TB, s Scenario, idp *iwt.Server, callers int, caches fleetCaches) target {
	cfg := identityweb.Config{Instance: idp.URL + "/", TenantID: iwt.DefaultTenantID, ClientID: iwt.WebAPIClientID, ClientSecret: iwt.WebAPISecret}
	return oboAPI(tb, s, idp, callers, func() identityweb.AppOptions {
		return identityweb.AppOptions{Options: identityweb.Options{HTTPClient: idp.Client(), Logger: quiet, Cache: caches()}}
	}, cfg)
}

// sentinelRedis is a Sentinel deployment with two replicas (one is left
// to acknowledge locks after the failover); Fail kills its master.
func sentinelRedis(tb testing.TB) *ChaosRedis {
	sent := redistest.StartSentinel(tb, redistest.SentinelOptions{Replicas: 2})
	const prefix = "chaos:"
	c := &ChaosRedis{}
	c.NewStore = func(tb testing.TB) *redisstore.Store {
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sent.MasterName, SentinelAddrs: sent.SentinelAddrs(),
			ContextTimeoutEnabled: true})
		tb.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: prefix, LockReplicas: 1, Logger: quiet})
	}
	var old string
	c.Fail = func() {
		var err error
		if old, err = sent.MasterAddr(); err != nil {
			return
		}
		if n := sent.Node(old); n != nil {
			n.Kill()
		}
	}
	c.onNewMaster = func(key string) bool {
		m, err := sent.MasterAddr()
		if err != nil || m == old {
			return false
		}
		n, _ := redistest.Do(m, "EXISTS", prefix+key)
		return n == ":1"
	}
	c.Masters = func() []string {
		if m, err := sent.MasterAddr(); err == nil {
			return []string{m}
		}
		return nil
	}
	c.probe = c.NewStore(tb)
	return c
}

// clusterRedis is a Cluster of three masters with two replicas each (one
// is left to acknowledge locks after the failover); the apps' keys share
// one hash slot (the prefix's hash tag), and Fail kills the master that
// holds it.
func clusterRedis(tb testing.TB) *ChaosRedis {
	cl := redistest.StartClusterWith(tb, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 2, NodeTimeout: time.Second})
	const prefix = "{chaos}:"
	c := &ChaosRedis{}
	c.NewStore = func(tb testing.TB) *redisstore.Store {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), ContextTimeoutEnabled: true})
		tb.Cleanup(func() { rdb.Close() })
		return redisstore.New(rdb, redisstore.Options{Prefix: prefix, LockReplicas: 1, Logger: quiet})
	}
	var old *redistest.Server
	c.Fail = func() {
		if m, err := cl.MasterFor(prefix); err == nil {
			old = m
			m.Kill()
		}
	}
	c.onNewMaster = func(key string) bool {
		m, err := cl.MasterFor(prefix + key)
		if err != nil || m == old {
			return false
		}
		n, _ := redistest.Do(m.Addr, "EXISTS", prefix+key)
		return n == ":1"
	}
	c.Masters = func() []string {
		var out []string
		for _, n := range cl.Nodes {
			if cl.Role(n.Addr) == "master" {
				out = append(out, n.Addr)
			}
		}
		return out
	}
	c.probe = c.NewStore(tb)
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
	c.Masters = func() []string { return []string{srv.Addr} }
	return c
}
