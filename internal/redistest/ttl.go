package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TTLScan is what ScanTTLs found.
type TTLScan struct {
	Keys      int      // keys checked
	Permanent []string // keys that would never expire (TTL -1), as "addr key"
}

// ScanTTLs scans every key of the Redis servers at addrs (SCAN, so it is
// safe on a large keyspace; pass each master of a cluster) and reports the
// keys that would never expire (TTL -1): every key the library writes —
// cache entries, locks, markers — must carry a TTL so that Redis memory
// stays bounded. A key that expires between SCAN and PTTL is not counted.
func ScanTTLs(addrs ...string) (TTLScan, error) {
	var s TTLScan
	for _, addr := range addrs {
		cursor := "0"
		for rounds := 0; rounds < 100_000; rounds++ {
			v, err := DoValue(addr, "SCAN", cursor, "COUNT", "1000")
			if err != nil {
				return s, fmt.Errorf("redistest: SCAN on %s: %w", addr, err)
			}
			page, ok := v.([]any)
			if !ok || len(page) != 2 {
				return s, fmt.Errorf("redistest: SCAN on %s: unexpected reply %v", addr, v)
			}
			keys, _ := page[1].([]any)
			for _, k := range keys {
				key, _ := k.(string)
				ttl, err := Do(addr, "PTTL", key)
				if err != nil {
					return s, fmt.Errorf("redistest: PTTL %q on %s: %w", key, addr, err)
				}
				ms, err := strconv.ParseInt(strings.TrimPrefix(ttl, ":"), 10, 64)
				if err != nil || ms == -2 { // gone since SCAN
					continue
				}
				s.Keys++
				if ms == -1 {
					s.Permanent = append(s.Permanent, addr+" "+key)
				}
			}
			cursor, _ = page[0].(string)
			if cursor == "0" {
				break
			}
		}
	}
	return s, nil
}

// CheckTTLs is ScanTTLs that fails t for each key that would never expire
// (and for a scan that could not finish). It returns the number of keys
// checked.
func CheckTTLs(t testing.TB, addrs ...string) int {
	t.Helper()
	s, err := ScanTTLs(addrs...)
	for _, k := range s.Permanent {
		addr, key, _ := strings.Cut(k, " ")
		t.Errorf("redistest: key %q on %s has no TTL", key, addr)
	}
	if err != nil {
		t.Errorf("%v", err)
	}
	return s.Keys
}
