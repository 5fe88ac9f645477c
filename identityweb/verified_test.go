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
		if cl, ok := c.get(tok(i), now); ok {
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
	if _, ok := c.get(last, now.Add(time.Hour)); ok {
		t.Fatal("served at its exp")
	}
	forged := "other.payload." + last[len(last)-64:]
	if _, ok := c.get(forged, now); ok {
		t.Fatal("a token ending like a cached one was served")
	}
	c.purge([]string{"k1"})
	for i := range 5000 {
		if _, ok := c.get(tok(i), now); ok {
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

// The bearer path's clock reads the wall clock from an anchor at most a
// second old on the monotonic clock: a wall clock stepped (or a machine
// suspended) since the anchor shows for at most that second.
func TestWallClockFollowsTheSystemClock(t *testing.T) {
	var c wallClock
	if d := c.Now().Sub(time.Now()); d > 10*time.Millisecond || d < -10*time.Millisecond {
		t.Fatalf("%v from time.Now", d)
	}
	// An anchor whose wall time is an hour off (a step since it was read):
	// used while fresh, replaced once a second old.
	off := time.Now().Add(time.Hour)
	c.anchor.Store(&wallAnchor{wall: off, mono: monoNow()})
	if d := c.Now().Sub(time.Now()); d < 59*time.Minute {
		t.Fatalf("a fresh anchor was not used (%v from time.Now)", d)
	}
	c.anchor.Store(&wallAnchor{wall: off, mono: monoNow() - int64(wallAnchorEvery)})
	if d := c.Now().Sub(time.Now()); d > 10*time.Millisecond || d < -10*time.Millisecond {
		t.Fatalf("an anchor a second old was used: %v from time.Now", d)
	}
}
