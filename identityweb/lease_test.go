package identityweb_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityweb/go-identityweb/cachestore"
	"github.com/identityweb/go-identityweb/identityweb"
	iwt "github.com/identityweb/go-identityweb/identityweb/identitywebtest"
)

// leaseStore is a shared cache whose lock leases are lost while held for as
// long as lost says (a pause longer than the lease, a failover that dropped
// the lock key).
type leaseStore struct {
	*cachestore.Memory
	lost  atomic.Bool
	locks atomic.Int32
}

func (s *leaseStore) Lock(ctx context.Context, name string, ttl time.Duration) (cachestore.Unlocker, error) {
	s.locks.Add(1)
	return leaseOf{s}, nil
}

type leaseOf struct{ s *leaseStore }

func (leaseOf) Unlock(context.Context) error { return nil }
func (l leaseOf) Held(context.Context) error {
	if l.s.lost.Load() {
		return cachestore.ErrLockLost
	}
	return nil
}

// A refresh whose lock was lost before the refresh token was spent takes
// the lock again and reads the shared cache under it, and never spends the
// token without it: another instance may hold the lock and be spending the
// same token. It spent it unlocked. (Found by an attacker's review.)
func TestRefreshIsNotSpentOnALostLease(t *testing.T) {
	e := newEnv(t, iwt.Options{AutoSignIn: iwt.AliceUsername, AccessTokenLifetime: time.Hour})
	store := &leaseStore{Memory: cachestore.NewMemory(cachestore.MemoryOptions{Clock: e.clk})}
	web := e.acquirer(iwt.WebAppClientID, iwt.WebAppSecret, func(_ *identityweb.Config, o *identityweb.Options) { o.Cache = store })
	s := web.Session("alice-browser-session")
	if _, err := s.RedeemCode(bg, e.code(iwt.AliceUsername, apiScope), []string{apiScope}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Hour)
	e.idp.ResetRequests()
	store.lost.Store(true) // every lease is lost
	_, err := s.ForUser(bg, []string{apiScope})
	if !errors.Is(err, identityweb.ErrUnavailable) || errors.Is(err, identityweb.ErrInteractionRequired) {
		t.Fatalf("ForUser on lost leases: %v, want ErrUnavailable", err)
	}
	if n := e.idp.TokenRequests("refresh_token"); n != 0 {
		t.Fatalf("%d refresh tokens spent without the lock", n)
	}
	if n := store.locks.Load(); n != 2 {
		t.Fatalf("%d locks taken, want 2 (the lock taken again once)", n)
	}
	store.lost.Store(false)
	if _, err := s.ForUser(bg, []string{apiScope}); err != nil {
		t.Fatalf("with the lock held: %v", err)
	}
	if n := e.idp.TokenRequests("refresh_token"); n != 1 {
		t.Fatalf("%d refreshes with the lock held, want 1", n)
	}
}
