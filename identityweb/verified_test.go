package identityweb

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The validated-token cache holds at most the places it was sized for,
// serves a token only until its exp, never serves a token that merely ends
// like a cached one, and drops what a removed key vouched for — also when
// the key is removed while tokens it signed are being cached.
func TestVerifiedCacheBoundsAndPurges(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newVerifiedCache(1000)
	if len(c.slots) < 1000 || len(c.slots) > 2048 {
		t.Fatalf("%d places for 1,000 tokens", len(c.slots))
	}
	has := func(string) bool { return true }
	claims := func(sub string) *Claims { return &Claims{Subject: sub, ExpiresAt: now.Add(time.Hour)} }
	tok := func(i int) string { return fmt.Sprintf("header.payload.%s%08d", strings.Repeat("s", 60), i) } // a signature each
	for i := range 5000 {
		c.put(tok(i), claims(fmt.Sprint(i)), "k1", has)
	}
	held := 0
	for i := range 5000 {
		if cl, ok := c.get(tok(i), now.UnixNano()); ok {
			held++
			if cl.Subject != fmt.Sprint(i) {
				t.Fatalf("token %d served %s's claims", i, cl.Subject)
			}
		}
	}
	if held > len(c.slots) || held < 1000 {
		t.Fatalf("%d of 5,000 tokens held in %d places", held, len(c.slots))
	}
	last := tok(4999)
	if _, ok := c.get(last, now.Add(time.Hour).UnixNano()); ok {
		t.Fatal("served at its exp")
	}
	forged := "other.payload." + last[len(last)-64:]
	if _, ok := c.get(forged, now.UnixNano()); ok {
		t.Fatal("a token ending like a cached one was served")
	}
	c.purge([]string{"k1"})
	for i := range 5000 {
		if _, ok := c.get(tok(i), now.UnixNano()); ok {
			t.Fatalf("token %d served after its key was removed", i)
		}
	}

	// A removal racing with puts: nothing signed by the removed key stays.
	var removed atomic.Bool
	hasKey := func(kid string) bool { return kid != "gone" || !removed.Load() }
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 2000 {
				c.put(tok(w*10_000+i), claims("x"), "gone", hasKey)
			}
		})
	}
	time.Sleep(time.Millisecond)
	removed.Store(true)
	c.purge([]string{"gone"})
	wg.Wait()
	for i := range c.slots {
		if e := c.slots[i].Load(); e != nil && e.kid == "gone" {
			t.Fatalf("place %d holds a token of a removed key", i)
		}
	}
}

// A token whose exp lies past what Unix nanoseconds hold (the year 2262)
// is cached like any other, and an introspected token only until its
// introspection lifetime.
func TestVerifiedCacheEnds(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newVerifiedCache(16)
	has := func(string) bool { return true }
	far := "header.payload.far-" + strings.Repeat("s", 64)
	c.put(far, &Claims{Subject: "far", ExpiresAt: time.Unix(9_999_999_999, 0)}, "k1", has)
	if _, ok := c.get(far, now.UnixNano()); !ok {
		t.Fatal("a token expiring in the year 2286 was not served from the cache")
	}
	opaque := "opaque-" + strings.Repeat("o", 64)
	c.put(opaque, &Claims{Subject: "o", ExpiresAt: now.Add(time.Hour), until: now.Add(time.Minute)}, "", has)
	if _, ok := c.get(opaque, now.Add(59*time.Second).UnixNano()); !ok {
		t.Fatal("an introspected token was not served within its lifetime")
	}
	if _, ok := c.get(opaque, now.Add(time.Minute).UnixNano()); ok {
		t.Fatal("an introspected token was served past its introspection lifetime")
	}
}

// The hot paths' clock follows the system clock within a tick or so, shows
// a stepped wall clock at the next tick, runs no goroutine once nobody
// reads it, and starts again on the next read.
func TestTickClockFollowsTheSystemClock(t *testing.T) {
	var c tickClock
	near := func(what string) {
		t.Helper()
		if d := time.Since(c.Now()); d > 100*time.Millisecond || d < -time.Millisecond {
			t.Fatalf("%s: %v behind time.Now", what, d)
		}
	}
	near("first read")
	for range 20 { // read across several ticks
		time.Sleep(tickEvery / 2)
		near("in use")
	}
	// A wall clock an hour off (as if stepped since the last tick): gone
	// at the next tick.
	c.now.Store(time.Now().Add(time.Hour).UnixNano())
	time.Sleep(3 * tickEvery)
	near("a tick after a step")
	// Unread for a tick, it stops (no goroutine); the next read starts it.
	deadline := time.Now().Add(5 * time.Second)
	for c.now.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the clock's goroutine did not stop once unread")
		}
		time.Sleep(tickEvery)
	}
	near("restarted")
	if c.now.Load() == 0 {
		t.Fatal("a read did not start the clock again")
	}
	var wg sync.WaitGroup // readers racing the stop and the start (-race)
	for range 4 {
		wg.Go(func() {
			for i := range 2000 {
				if i%100 == 0 {
					time.Sleep(tickEvery / 2)
				}
				if c.UnixNano() == 0 {
					t.Error("read 0")
					return
				}
			}
		})
	}
	wg.Wait()
}

// The bearer path's shortcut for "Bearer <token>" answers exactly what the
// general parsing (parseCredential) does (case-insensitive scheme, one space, the token
// trimmed, bounded), on every form it could mistake.
func TestParseCredentialsShortcutAgrees(t *testing.T) {
	long := strings.Repeat("a", 16<<10)
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "Bearer x", "Bearer  x", "Bearer x ", "Bearer \tx\t", "bearer x", "BEARER x",
		"Bearer x\u00a0", "Bearer \u00a0x", "Bearer x\u0085", "Bearer x\x7f", "Bearer \x7fx", "Bearer x\xff", "Bearer x y",
		"DPoP x", "Basic x", "Bearerx", "Bearer " + long, "Bearer " + long[1:], "Bearer " + long[2:] + " ",
		"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
	} {
		s1, t1, ok1 := parseCredentials([]string{h})
		s2, t2, ok2 := parseCredential(h)
		if s1 != s2 || t1 != t2 || ok1 != ok2 {
			t.Errorf("%q: parsed as (%q, %.20q, %v), want (%q, %.20q, %v)", h, s1, t1, ok1, s2, t2, ok2)
		}
	}
}
