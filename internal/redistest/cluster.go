package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClusterOptions configure StartClusterWith; the zero value is usable.
type ClusterOptions struct {
	// Masters is the number of masters the hash slots are split between.
	// Default: 3.
	Masters int
	// ReplicasPerMaster is the number of replicas of each master.
	// Default: 0.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout: how long a master must be
	// unreachable before it is failed over. Default: 2 s.
	NodeTimeout time.Duration
}

// Cluster is a private Redis Cluster on loopback ports, started for one test
// and stopped at its cleanup.
type Cluster struct {
	// Nodes are every node: the first Masters started as masters, then the
	// replicas (Nodes[Masters+i*ReplicasPerMaster+j] replicates Nodes[i]).
	// Roles change with failovers: ask Role.
	Nodes []*Server
	opts  ClusterOptions
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
	return StartClusterWith(t, ClusterOptions{Masters: masters})
}

// StartClusterWith starts a cluster of masters and their replicas (CLUSTER
// REPLICATE) and waits until every node reports cluster_state:ok, knows
// every other node, and every replica is in sync with its master.
func StartClusterWith(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	if opts.Masters < 1 {
		opts.Masters = 3
	}
	if opts.ReplicasPerMaster < 0 {
		opts.ReplicasPerMaster = 0
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = 2 * time.Second
	}
	bin := lookBinary(t)
	c := &Cluster{opts: opts}
	total := opts.Masters * (1 + opts.ReplicasPerMaster)
	for i := 0; i < total; i++ {
		c.Nodes = append(c.Nodes, startWith(t, bin, []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes-" + strconv.Itoa(i) + ".conf",
			"--cluster-node-timeout", strconv.FormatInt(opts.NodeTimeout.Milliseconds(), 10),
		}))
	}
	per := 16384 / opts.Masters
	for i, n := range c.Nodes[:opts.Masters] {
		lo, hi := i*per, (i+1)*per-1
		if i == opts.Masters-1 {
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
	for i := 0; i < opts.Masters; i++ {
		id, err := Do(c.Nodes[i].Addr, "CLUSTER", "MYID")
		if err != nil {
			t.Fatalf("redistest: CLUSTER MYID: %v", err)
		}
		for j := 0; j < opts.ReplicasPerMaster; j++ {
			r := c.Nodes[opts.Masters+i*opts.ReplicasPerMaster+j]
			// The replica must have heard of its master through gossip first.
			waitFor(t, 30*time.Second, "a replica to learn its master", func() bool {
				_, err := Do(r.Addr, "CLUSTER", "REPLICATE", id)
				return err == nil
			})
		}
	}
	waitFor(t, 30*time.Second, "the cluster to become ready", func() bool {
		for i, n := range c.Nodes {
			info, err := Do(n.Addr, "CLUSTER", "INFO")
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(total)) {
				return false
			}
			if i >= opts.Masters {
				if ri, err := Do(n.Addr, "INFO", "replication"); err != nil || infoField(ri, "master_link_status") != "up" {
					return false
				}
			}
		}
		return true
	})
	return c
}

// Role returns "master" or "slave" for the node at addr as it reports
// itself (ROLE), or "" when it does not answer.
func (c *Cluster) Role(addr string) string {
	v, err := DoValue(addr, "ROLE")
	if r, ok := v.([]any); err == nil && ok && len(r) > 0 {
		s, _ := r[0].(string)
		return s
	}
	return ""
}

// MasterFor returns the node serving key's slot as a master, asking the
// first answering node (CLUSTER KEYSLOT and CLUSTER SHARDS are avoided:
// a MOVED reply names the owner directly).
func (c *Cluster) MasterFor(key string) (*Server, error) {
	for _, n := range c.Nodes {
		_, err := Do(n.Addr, "EXISTS", key)
		if err == nil {
			if c.Role(n.Addr) == "master" {
				return n, nil
			}
			continue
		}
		msg := err.Error()
		if i := strings.Index(msg, "MOVED "); i >= 0 {
			f := strings.Fields(msg[i:])
			if len(f) == 3 {
				if owner := c.node(f[2]); owner != nil {
					return owner, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("redistest: no node owns %q", key)
}

func (c *Cluster) node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// WaitFailover waits until a replica of the killed master at old (one of the
// masters the cluster started with) reports itself a master and every node that answers reports cluster_state:ok,
// and returns the new master's address. It fails t after 60 s.
func (c *Cluster) WaitFailover(t testing.TB, old string) string {
	t.Helper()
	var promoted string
	waitFor(t, 60*time.Second, "the cluster to fail over", func() bool {
		promoted = ""
		for _, n := range c.Nodes {
			if n.Addr == old {
				continue
			}
			info, err := Do(n.Addr, "CLUSTER", "INFO")
			if err != nil {
				continue // another killed node
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return false
			}
			if ri, err := Do(n.Addr, "INFO", "replication"); err == nil && infoField(ri, "role") == "master" && c.wasReplicaOf(n.Addr, old) {
				promoted = n.Addr
			}
		}
		return promoted != ""
	})
	return promoted
}

// wasReplicaOf reports whether addr was started as a replica of the node at
// master.
func (c *Cluster) wasReplicaOf(addr, master string) bool {
	for i := 0; i < c.opts.Masters; i++ {
		if c.Nodes[i].Addr != master {
			continue
		}
		for j := 0; j < c.opts.ReplicasPerMaster; j++ {
			if c.Nodes[c.opts.Masters+i*c.opts.ReplicasPerMaster+j].Addr == addr {
				return true
			}
		}
	}
	return false
}

// String describes the cluster for test logs.
func (c *Cluster) String() string { return fmt.Sprintf("redis cluster %v", c.Addrs()) }
