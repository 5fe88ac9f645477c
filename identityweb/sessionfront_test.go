package identityweb

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/internal/cacheentry"
	"github.com/identityweb/go-identityweb/internal/cachekey"
	"github.com/identityweb/go-identityweb/session"
)

// The session front never keeps a session signed in that the full check
// would end: its record ended (signed out or logged out, here or on
// another instance), its account removed, its record gone from the cache,
// or the session past its idle bound. On the library's memory cache and on
// a tiered one (an instance's L1 over a shared L2).
func TestSessionFrontFollowsTheCache(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name  string
		cache func() cachestore.Store
	}{
		{"memory", func() cachestore.Store { return cachestore.NewMemory(cachestore.MemoryOptions{}) }},
		{"tiered", func() cachestore.Store {
			tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), cachestore.NewMemory(cachestore.MemoryOptions{}), cachestore.TieredOptions{Logger: quiet})
			t.Cleanup(func() { tr.Close() })
			return tr
		}},
	} {
		for _, end := range []string{"record ended", "account removed", "record gone", "idle"} {
			t.Run(tc.name+"/"+end, func(t *testing.T) {
				now := time.Now()
				a, ctx, partition := signedInApp(t, tc.cache(), time.Hour, now)
				r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
				for i := range 3 {
					if _, ok := a.Account(r); !ok {
						t.Fatalf("request %d: not signed in", i)
					}
				}
				if a.sessionFront.find("session-key", nil) == nil {
					t.Fatal("the live session is not in the front")
				}
				switch end {
				case "record ended":
					a.endSession(ctx, partition, a.lifetimes().Deadline(now))
				case "account removed":
					if err := a.acq.Session("session-key").RemoveAccount(ctx); err != nil {
						t.Fatal(err)
					}
				case "record gone":
					a.acq.cache.Delete(ctx, a.acq.keys.SessionRecord(partition))
				case "idle":
					a.sessions.SetTimes(ctx, session.Times{SignedIn: now.Add(-2 * time.Hour), LastSeen: now.Add(-2 * time.Hour)})
				}
				if acct, ok := a.Account(r); ok {
					t.Fatalf("%s: still signed in as %+v", end, acct)
				}
			})
		}
	}
}

// signedInApp is an App on cache (scs sessions, SessionIdleTimeout idle)
// and a context whose session "session-key" signed in at signedIn, its
// record and account in the cache; with the session's partition.
func signedInApp(t *testing.T, cache cachestore.Store, idle time.Duration, signedIn time.Time) (*App, context.Context, string) {
	t.Helper()
	a, err := New(Config{Authority: "https://op.example", ClientID: "web"},
		AppOptions{Options: Options{Cache: cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, SessionIdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	sm := a.sessions.(*session.SCS).Manager()
	ctx, _ := sm.Load(context.Background(), "")
	a.sessions.SignIn(ctx, "session-key", Account{Name: "A"})
	a.sessions.SetTimes(ctx, session.Times{SignedIn: signedIn, LastSeen: signedIn})
	partition := a.acq.Session("session-key").partition
	a.startSession(ctx, partition, "https://op.example", "sid", "sub", a.lifetimes().Deadline(signedIn))
	a.acq.storeRefresh(ctx, cachekey.User, partition, cacheentry.Refresh{RefreshToken: "rt"})
	return a, ctx, partition
}
