package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelOptions configure StartSentinel; the zero value is usable.
type SentinelOptions struct {
	// MasterName is the name the sentinels monitor. Default: "mymaster".
	MasterName string
	// Replicas is the number of replicas of the master. Default: 1.
	Replicas int
	// Sentinels is the number of sentinel processes; the quorum is a
	// majority of them. Default: 3.
	Sentinels int
	// DownAfter is how long the master must be unreachable before the
	// sentinels agree it is down and fail over. Default: 1 s.
	DownAfter time.Duration
}

// Sentinel is a private Redis Sentinel deployment on loopback ports: a
// master, its replicas and sentinel processes (redis-server --sentinel, each
// with its config file in a temporary directory), stopped at the test's
// cleanup.
type Sentinel struct {
	// MasterName is the monitored master's name, for
	// redis.FailoverOptions.MasterName.
	MasterName string
	// Nodes are the data servers: Nodes[0] starts as the master, the others
	// as its replicas. Roles change with failovers: ask MasterAddr.
	Nodes []*Server
	// Sentinels are the sentinel processes.
	Sentinels []*Server
	// ReplicaLinks[i] carries the replication link of Nodes[i+1] to the
	// first master, so a test can stall or cut replication (a write the
	// master acknowledged but no replica received). After a failover the
	// sentinels reconnect replicas directly.
	ReplicaLinks []*Proxy
}

// StartSentinel starts a master, its replicas (each replicating through a
// Proxy) and the sentinels, and waits until the replicas are in sync and
// every sentinel knows the master, the replicas and the other sentinels, so
// that a failover can happen as soon as the test kills the master.
func StartSentinel(t testing.TB, opts SentinelOptions) *Sentinel {
	t.Helper()
	if opts.MasterName == "" {
		opts.MasterName = "mymaster"
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Sentinels <= 0 {
		opts.Sentinels = 3
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = time.Second
	}
	bin := lookBinary(t)
	s := &Sentinel{MasterName: opts.MasterName}
	master := startWith(t, bin, nil)
	s.Nodes = append(s.Nodes, master)
	for i := 0; i < opts.Replicas; i++ {
		link := StartProxy(t, master.Addr)
		host, port, _ := strings.Cut(link.Addr, ":")
		s.ReplicaLinks = append(s.ReplicaLinks, link)
		s.Nodes = append(s.Nodes, startWith(t, bin, []string{"--replicaof", host, port}))
	}
	waitFor(t, 30*time.Second, "the replicas to sync", func() bool {
		info, err := Do(master.Addr, "INFO", "replication")
		if err != nil || infoField(info, "connected_slaves") != strconv.Itoa(opts.Replicas) {
			return false
		}
		for _, r := range s.Nodes[1:] {
			if ri, err := Do(r.Addr, "INFO", "replication"); err != nil || infoField(ri, "master_link_status") != "up" {
				return false
			}
		}
		return true
	})
	host, port, _ := strings.Cut(master.Addr, ":")
	quorum := opts.Sentinels/2 + 1
	conf := fmt.Sprintf("sentinel monitor %s %s %s %d\nsentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 60000\nsentinel parallel-syncs %s 1\n",
		opts.MasterName, host, port, quorum, opts.MasterName, opts.DownAfter.Milliseconds(), opts.MasterName, opts.MasterName)
	for i := 0; i < opts.Sentinels; i++ {
		s.Sentinels = append(s.Sentinels, startConf(t, bin, conf, []string{"--sentinel"}))
	}
	waitFor(t, 30*time.Second, "the sentinels to know each other and the replicas", func() bool {
		for _, sn := range s.Sentinels {
			m, err := sentinelMaster(sn.Addr, opts.MasterName)
			if err != nil || m["num-other-sentinels"] != strconv.Itoa(opts.Sentinels-1) || m["num-slaves"] != strconv.Itoa(opts.Replicas) {
				return false
			}
		}
		return true
	})
	return s
}

// SentinelAddrs returns the sentinels' addresses, for
// redis.FailoverOptions.SentinelAddrs.
func (s *Sentinel) SentinelAddrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		out[i] = sn.Addr
	}
	return out
}

// MasterAddr returns the master's address as the first answering sentinel
// reports it.
func (s *Sentinel) MasterAddr() (string, error) {
	var lastErr error
	for _, sn := range s.Sentinels {
		v, err := DoValue(sn.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
		if err != nil {
			lastErr = err
			continue
		}
		if hp, ok := v.([]any); ok && len(hp) == 2 {
			return hp[0].(string) + ":" + hp[1].(string), nil
		}
		lastErr = fmt.Errorf("redistest: unexpected reply %v", v)
	}
	return "", lastErr
}

// Node returns the data server at addr, or nil.
func (s *Sentinel) Node(addr string) *Server {
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// KillMaster ends the current master with SIGKILL and returns it (Restart
// brings it back; the sentinels then turn it into a replica).
func (s *Sentinel) KillMaster(t testing.TB) *Server {
	t.Helper()
	addr, err := s.MasterAddr()
	if err != nil {
		t.Fatalf("redistest: asking the sentinels for the master: %v", err)
	}
	n := s.Node(addr)
	if n == nil {
		t.Fatalf("redistest: the sentinels name an unknown master %s", addr)
	}
	n.Kill()
	return n
}

// WaitFailover waits until the sentinels name a master other than old and
// that server answers as a master, and returns its address. It fails t
// after 60 s.
func (s *Sentinel) WaitFailover(t testing.TB, old string) string {
	t.Helper()
	var addr string
	waitFor(t, 60*time.Second, "the sentinels to fail over", func() bool {
		a, err := s.MasterAddr()
		if err != nil || a == old {
			return false
		}
		role, err := DoValue(a, "ROLE")
		if r, ok := role.([]any); err != nil || !ok || len(r) == 0 || r[0] != "master" {
			return false
		}
		addr = a
		return true
	})
	return addr
}

func sentinelMaster(addr, name string) (map[string]string, error) {
	v, err := DoValue(addr, "SENTINEL", "MASTER", name)
	if err != nil {
		return nil, err
	}
	kv, _ := v.([]any)
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		val, _ := kv[i+1].(string)
		m[k] = val
	}
	return m, nil
}

// infoField returns a field of an INFO reply.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

// waitFor polls cond every 50 ms until it holds, failing t after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitReplicated waits until every replica connected to the master at addr
// has processed all of the master's writes so far (each replica's
// slave_repl_offset reaches the master's master_repl_offset), so that a
// test can kill the master knowing what the promoted replica holds. It
// fails t after 10 s.
func WaitReplicated(t testing.TB, addr string) {
	t.Helper()
	info, err := Do(addr, "INFO", "replication")
	if err != nil {
		t.Fatalf("redistest: INFO on %s: %v", addr, err)
	}
	want, _ := strconv.ParseInt(infoField(info, "master_repl_offset"), 10, 64)
	var replicas []string
	for i := 0; ; i++ {
		f := infoField(info, "slave"+strconv.Itoa(i))
		if f == "" {
			break
		}
		var ip, port string
		for _, kv := range strings.Split(f, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "ip":
				ip = v
			case "port":
				port = v
			}
		}
		replicas = append(replicas, ip+":"+port)
	}
	waitFor(t, 10*time.Second, "the replicas of "+addr+" to catch up", func() bool {
		for _, r := range replicas {
			ri, err := Do(r, "INFO", "replication")
			got, _ := strconv.ParseInt(infoField(ri, "slave_repl_offset"), 10, 64)
			if err != nil || got < want {
				return false
			}
		}
		return true
	})
}
