package identitywebtest

import (
	"context"
	"sync"
	"time"
)

// Clock is a settable clock for tests. Its Now fits Options.Now and, with
// Sleep (which moves the clock forward at once instead of waiting), it is an
// identityweb.Clock and a cachestore.Clock, so a provider, a token acquirer
// and a cache can share one fake time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep moves the clock forward by d and returns at once (ctx's error, if
// it has ended).
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}
