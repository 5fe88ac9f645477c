package benchmarks

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// MSAL Go fills its cache only through acquisitions, and each acquisition
// first scans the cache (a linear search over a map), so filling it with
// 100,000 tokens by acquiring them would take hours. Its supported way to
// load a cache is the serialized cache (cache.ExportReplace, as a
// distributed cache does): the benchmarks acquire one real token, export
// MSAL's own serialization, copy that token's entry under n other targets
// or callers, and hand the result back through Replace. MSAL then holds
// exactly what n acquisitions would have left behind.
//
// OBO tokens cannot go that way: MSAL Go v1.10.1 keeps them in a
// partitioned cache that it does not export after an OBO write (it exports
// the unpartitioned one) and whose serialization its own decoder refuses
// ("Unmarshal(*storage.InMemoryContract) only supports structs that have
// the field AdditionalFields"). Its OBO cache is filled by real exchanges
// instead, which cost it O(1) each (one partition per incoming token).

// recorder is an ExportReplace that keeps what MSAL exports.
type recorder struct {
	mu   sync.Mutex
	data []byte
}

func (r *recorder) Replace(context.Context, cache.Unmarshaler, cache.ReplaceHints) error { return nil }

func (r *recorder) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	r.mu.Lock()
	r.data = b
	r.mu.Unlock()
	return err
}

// seeded is an ExportReplace that loads a prepared cache on MSAL's first
// read and then leaves MSAL's in-memory cache alone (as a distributed cache
// does when nothing changed): the hits measured are MSAL's own.
type seeded struct {
	once sync.Once
	data []byte
	err  error
}

func (s *seeded) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	s.once.Do(func() { s.err = u.Unmarshal(s.data); s.data = nil })
	return s.err
}

func (s *seeded) Export(context.Context, cache.Marshaler, cache.ExportHints) error { return nil }

// cloneAppTokens takes MSAL's export holding one app token for target and
// adds copies of it for each of targets.
func cloneAppTokens(export []byte, target string, targets []string) ([]byte, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(export, &c); err != nil {
		return nil, err
	}
	var ats map[string]map[string]any
	if err := json.Unmarshal(c["AccessToken"], &ats); err != nil {
		return nil, err
	}
	if len(ats) != 1 {
		return nil, fmt.Errorf("MSAL exported %d access tokens, want 1", len(ats))
	}
	var key string
	var at map[string]any
	for key, at = range ats {
	}
	if at["target"] != target {
		return nil, fmt.Errorf("exported target %v, want %s", at["target"], target)
	}
	for _, t := range targets {
		cp := copyMap(at)
		cp["target"] = t
		ats[strings.Replace(key, strings.ToLower(target), strings.ToLower(t), 1)] = cp
	}
	b, err := json.Marshal(ats)
	if err != nil {
		return nil, err
	}
	c["AccessToken"] = b
	return json.Marshal(c)
}

func copyMap(m map[string]any) map[string]any {
	cp := make(map[string]any, len(m))
	for k, v := range m {
		cp[k] = v
	}
	return cp
}
