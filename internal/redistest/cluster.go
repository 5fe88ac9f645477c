package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a private Redis Cluster of masters on loopback ports, without
// replicas, started for one test and stopped at its cleanup.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses, for redis.ClusterOptions.Addrs.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartCluster starts masters redis-server processes in cluster mode, splits
// the 16,384 hash slots between them, joins them, and waits until every
// node reports cluster_state:ok. It is never shared with IDWEB_REDIS_ADDR.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 1 {
		masters = 3
	}
	bin := lookBinary(t)
	c := &Cluster{}
	for i := 0; i < masters; i++ {
		c.Nodes = append(c.Nodes, startWith(t, bin, []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + strconv.Itoa(i) + ".conf",
			"--cluster-node-timeout", "2000",
		}))
	}
	per := 16384 / masters
	for i, n := range c.Nodes {
		lo, hi := i*per, (i+1)*per-1
		if i == masters-1 {
			hi = 16383
		}
		if _, err := Do(n.Addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			t.Fatalf("redistest: assigning slots: %v", err)
		}
	}
	for _, n := range c.Nodes[1:] {
		host, port, _ := strings.Cut(n.Addr, ":")
		if _, err := Do(c.Nodes[0].Addr, "CLUSTER", "MEET", host, port); err != nil {
			t.Fatalf("redistest: joining the cluster: %v", err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, n := range c.Nodes {
			info, err := Do(n.Addr, "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(masters)) {
				ok = false
				break
			}
		}
		if ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: the cluster did not become ready within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// String describes the cluster for test logs.
func (c *Cluster) String() string { return fmt.Sprintf("redis cluster %v", c.Addrs()) }
