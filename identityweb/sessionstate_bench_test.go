package identityweb

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/session"
)

// BenchmarkSessionCheck is the per-request check that logout and session
// lifetimes add to RequireUser and Account, alone: the session's times,
// then its record in the token cache (an L1 hit), on the library's memory
// cache and on a tiered cache (the L1 of an instance sharing an L2).
func BenchmarkSessionCheck(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name  string
		cache func() cachestore.Store
	}{
		{"memory", func() cachestore.Store { return cachestore.NewMemory(cachestore.MemoryOptions{}) }},
		{"tiered-l1-hit", func() cachestore.Store {
			ring, _ := cachestore.NewKeyRing(cachestore.NewKey())
			l2 := cachestore.NewEncrypted(cachestore.NewMemory(cachestore.MemoryOptions{}), ring, cachestore.EncryptedOptions{Logger: quiet})
			tr := cachestore.NewTiered(cachestore.NewMemory(cachestore.MemoryOptions{}), l2, cachestore.TieredOptions{Logger: quiet})
			b.Cleanup(func() { tr.Close() })
			return tr
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := New(Config{Authority: "https://op.example", ClientID: "web"},
				AppOptions{Options: Options{Cache: tc.cache(), Logger: quiet}, SessionIdleTimeout: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			sm := a.sessions.(*session.SCS).Manager()
			ctx, _ := sm.Load(context.Background(), "")
			a.sessions.SignIn(ctx, "session-key", Account{Name: "A"})
			now := a.acq.clock.Now()
			a.sessions.SetTimes(ctx, session.Times{SignedIn: now, LastSeen: now})
			partition := a.acq.Session("session-key").partition
			a.startSession(ctx, partition, "https://op.example", "", "", a.lifetimes().Deadline(now))
			times := a.sessions.Times(ctx)
			if !a.sessionLive(ctx, partition, times, a.acq.clock.Now()) {
				b.Fatal("not live")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !a.sessionLive(ctx, partition, a.sessions.Times(ctx), a.acq.clock.Now()) {
					b.Fatal("not live")
				}
			}
		})
	}
}
