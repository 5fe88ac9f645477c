package identityweb_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	"github.com/identityweb/go-identityweb/internal/redistest"
)

// A logout that arrives while Redis is down is not lost: the instance
// answers 200, keeps it (PendingLogouts), and applies it once Redis is back
// (here Redis persists its data, so the sessions it names are still there),
// after which no instance serves the ended session; the other session is
// untouched.
func TestLogoutWhileRedisIsDown(t *testing.T) {
	srv := redistest.StartPersistent(t)
	if srv.External() {
		t.Skip("needs a private redis-server it can kill")
	}
	op := newFakeOP(t)
	clk := newClock()
	ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
	l2 := sharedL2(t, srv.Addr, ring, clk)
	var apps []*identityweb.App
	var caches []*cachestore.Tiered
	for range 3 {
		tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{Clock: clk}), l2,
			cachestore.TieredOptions{CircuitBreak: 200 * time.Millisecond, Logger: quiet()})
		t.Cleanup(func() { tr.Close() })
		app, _ := logoutInstance(t, op, clk, tr)
		apps, caches = append(apps, app), append(caches, tr)
	}
	iss := op.srv.URL
	identityweb.StartSessionForTest(apps[0], "browser-1", iss, "sid-1", "sub-1")
	identityweb.StartSessionForTest(apps[0], "browser-2", iss, "sid-2", "sub-2")
	for _, a := range apps {
		if !identityweb.SessionLiveForTest(a, "browser-1") || !identityweb.SessionLiveForTest(a, "browser-2") {
			t.Fatal("not live before the outage")
		}
	}
	srv.Kill()
	b := apps[1].Handler(http.NotFoundHandler())
	if w := postLogout(b, formType, logoutForm(op.logoutToken(t, "logout+jwt", op.logoutClaims(clk.Now(), "sid-1", "sub-1")))); w.Code != 200 {
		t.Fatalf("logout while Redis is down: %d %s", w.Code, w.Body)
	}
	if n := apps[1].PendingLogouts(); n != 1 {
		t.Fatalf("pending logouts = %d, want 1", n)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for {
		ended := apps[1].PendingLogouts() == 0
		for _, a := range apps {
			if identityweb.SessionLiveForTest(a, "browser-1") {
				ended = false
			}
		}
		if ended {
			break
		}
		if time.Since(back) > 10*time.Second {
			t.Fatalf("10 s after Redis came back the logout is still not applied everywhere (pending %d)", apps[1].PendingLogouts())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the logout kept while Redis was down reached every instance %v after Redis came back", time.Since(back).Round(time.Millisecond))
	for i, a := range apps {
		if !identityweb.SessionLiveForTest(a, "browser-2") {
			t.Fatalf("instance %d: the other session ended too", i)
		}
	}
	redistest.CheckTTLs(t, srv.Addr)
}
