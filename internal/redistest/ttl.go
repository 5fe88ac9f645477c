package redistest

import (
	"strconv"
	"strings"
	"testing"
)

// CheckTTLs scans every key of the Redis servers at addrs (SCAN, so it is
// safe on a large keyspace; pass each master of a cluster) and fails t for
// each key that would never expire (TTL -1): every key the library writes —
// cache entries, locks, markers — must carry a TTL so that Redis memory
// stays bounded. It returns the number of keys checked.
func CheckTTLs(t testing.TB, addrs ...string) int {
	t.Helper()
	n := 0
	for _, addr := range addrs {
		cursor := "0"
		for rounds := 0; rounds < 100_000; rounds++ {
			v, err := DoValue(addr, "SCAN", cursor, "COUNT", "1000")
			if err != nil {
				t.Errorf("redistest: SCAN on %s: %v", addr, err)
				return n
			}
			page, ok := v.([]any)
			if !ok || len(page) != 2 {
				t.Errorf("redistest: SCAN on %s: unexpected reply %v", addr, v)
				return n
			}
			keys, _ := page[1].([]any)
			for _, k := range keys {
				key, _ := k.(string)
				ttl, err := Do(addr, "PTTL", key)
				if err != nil {
					t.Errorf("redistest: PTTL %q on %s: %v", key, addr, err)
					continue
				}
				n++
				if ms, err := strconv.ParseInt(strings.TrimPrefix(ttl, ":"), 10, 64); err == nil && ms == -1 {
					t.Errorf("redistest: key %q on %s has no TTL", key, addr)
				}
			}
			cursor, _ = page[0].(string)
			if cursor == "0" {
				break
			}
		}
	}
	return n
}
