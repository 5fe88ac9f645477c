package cachekey

import (
	"strconv"
	"strings"
	"testing"
)

// Two requests that differ must never build the same key, whatever their
// parts hold; and keys hold no newline (refresh entries list them).
func TestKeysAreUnambiguous(t *testing.T) {
	b := NewBuilder("https://login.example", "client", "t0")
	type req struct {
		tenant    string
		scopes    []string
		partition string
	}
	pairs := [][2]req{
		{{"t1|api://x", []string{"y/.default"}, ""}, {"t1", []string{"api://x|y/.default"}, ""}},
		{{"t1", []string{"a b"}, ""}, {"t1", []string{"a", "b"}, ""}},
		{{"t1", []string{"a|"}, "p"}, {"t1", []string{"a"}, "|p"}},
		{{"t1", []string{"a%7Cb"}, ""}, {"t1", []string{"a|b"}, ""}},
		{{"t1", []string{"a\nb"}, ""}, {"t1", []string{"a%0Ab"}, ""}},
	}
	for _, p := range pairs {
		k1 := b.Token(User, p[0].tenant, p[0].scopes, p[0].partition)
		k2 := b.Token(User, p[1].tenant, p[1].scopes, p[1].partition)
		if k1 == k2 {
			t.Errorf("%+v and %+v share the key %q", p[0], p[1], k1)
		}
		if strings.ContainsAny(k1+k2, "\n\r") {
			t.Errorf("a key holds a line break: %q %q", k1, k2)
		}
	}
	if k1, k2 := NewBuilder("https://a|b", "c", "t").Token(App, "t", []string{"s"}, ""), NewBuilder("https://a", "b|c", "t").Token(App, "t", []string{"s"}, ""); k1 == k2 {
		t.Errorf("two clients share the key %q", k1)
	}
	if r1, r2 := b.Refresh(User, "p|q"), NewBuilder("https://login.example", "client", "t0").Refresh(User, "p%7Cq"); r1 == r2 {
		t.Errorf("two partitions share the refresh key %q", r1)
	}
	if k1, k2 := NewBuilder("https://a", "c", "t1").Token(App, "t1", []string{"s"}, ""), NewBuilder("https://a", "c", "t2").Token(App, "t2", []string{"s"}, ""); k1 == k2 {
		t.Errorf("two tenants share the key %q", k1)
	}
	if k1, k2 := b.Token(App, "t0", []string{"s"}, ""), b.Token(App, "t9", []string{"s"}, ""); k1 == k2 {
		t.Errorf("the own tenant and another share the key %q", k1)
	}
	if k1, k2 := NewBuilder("https://a", "c", "").Token(App, "", []string{"s"}, ""), NewBuilder("https://a", "c", "t").Token(App, "", []string{"s"}, ""); k1 == k2 {
		t.Errorf("a tenant-less builder and a tenant's share the key %q", k1)
	}
	// Version 2: the authority, client and own tenant as one digest, the
	// scopes as another.
	got := b.Token(App, "t0", []string{"api://x/.default"}, "")
	if !strings.HasPrefix(got, "idw2|") || !strings.HasSuffix(got, "|") || len(got) != len("idw2|")+20+len("|A||")+22+len("|") || !strings.Contains(got, "|A||") {
		t.Errorf("key = %q, want idw2|<20-character digest>|A||<22-character digest>|", got)
	}
	if other := b.Token(App, "t0", []string{"api://y/.default"}, ""); other == got {
		t.Errorf("two scopes share the key %q", got)
	}
	if again := NewBuilder("https://login.example", "client", "t0").Token(App, "t0", []string{"api://x/.default"}, ""); again != got {
		t.Errorf("the key is not stable: %q, then %q", got, again)
	}
}

// AppendToken on the hit path allocates nothing.
func TestAppendTokenAllocations(t *testing.T) {
	b := NewBuilder("https://login.example", "client", "t0")
	scopes := []string{"api://x/.default"}
	var buf [512]byte
	if n := testing.AllocsPerRun(100, func() { b.AppendToken(buf[:0], App, "t1", scopes, "partition") }); n != 0 {
		t.Fatalf("%.0f allocations", n)
	}
}

func BenchmarkAppendToken(b *testing.B) {
	k := NewBuilder("https://login.microsoftonline.com", "11111111-0000-4000-8000-000000000001", "c0ffee00-0000-4000-8000-000000000001")
	scopes := []string{"api://22222222-0000-4000-8000-000000000002/access_as_user"}
	var buf [512]byte
	for b.Loop() {
		k.AppendToken(buf[:0], User, "c0ffee00-0000-4000-8000-000000000001", scopes, "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg")
	}
}

// needsEscape finds every special byte in every position (it may also
// answer yes for '!'…'$', never for letters, digits and the other bytes of
// URLs and scopes).
func TestNeedsEscape(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			b := []byte(strings.Repeat("a", 17))
			b[pos] = byte(c)
			got := needsEscape(string(b))
			if special[c] && !got || !special[c] && got && (c < '!' || c > '$') {
				t.Fatalf("byte %#x at %d: %v, want %v", c, pos, got, special[c])
			}
		}
	}
	for _, s := range []string{"", "ok", strings.Repeat("\x80\xff", 9), "é€😀"} {
		if needsEscape(s) {
			t.Errorf("%q needs no escape", s)
		}
	}
}

// The scope digests are remembered up to a bound; past it a set's digest
// is computed on each use, and a key is the same either way.
func TestScopeMemoBeyondItsBound(t *testing.T) {
	b := NewBuilder("https://login.example", "client", "t0")
	n := 16*maxScopeMemoShard + 500
	keys := make([]string, n)
	for i := range keys {
		keys[i] = b.Token(App, "t0", []string{"api://x" + strconv.Itoa(i) + "/.default"}, "")
	}
	seen := map[string]bool{}
	for i := range keys {
		if again := b.Token(App, "t0", []string{"api://x" + strconv.Itoa(i) + "/.default"}, ""); again != keys[i] {
			t.Fatalf("set %d: %q, then %q", i, keys[i], again)
		}
		if seen[keys[i]] {
			t.Fatalf("set %d shares its key", i)
		}
		seen[keys[i]] = true
	}
	held := 0
	for i := range b.scopes.shards {
		held += len(b.scopes.shards[i].m)
	}
	if held > 16*maxScopeMemoShard {
		t.Fatalf("the memo holds %d sets", held)
	}
}
