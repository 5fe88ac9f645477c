package redisstore

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publish sends payload on the invalidation channel.
func (s *Store) Publish(ctx context.Context, payload []byte) error {
	ctx, cancel := s.cmdCtx(ctx)
	defer cancel()
	return s.failed(s.rdb.Publish(ctx, s.opts.Channel, payload).Err())
}

var errSilent = errors.New("redisstore: the subscription did not answer a PING")

// Subscribe receives the invalidation channel until ctx ends. A
// subscription is lost when its connection fails (Redis restarted, a
// Sentinel or Cluster failover, a reset) or goes silent (a stalled Redis or
// network: a PING every Options.HealthCheck goes unanswered); it is then
// replaced, with a back-off up to 2 s, through the client — so after a
// failover it lands on the new master — and onResubscribe is called once it
// is back: messages sent meanwhile were missed.
func (s *Store) Subscribe(ctx context.Context, onMessage func([]byte), onResubscribe func()) error {
	lost := false
	backoff := 50 * time.Millisecond
	for {
		s.failed(s.receive(ctx, onMessage, func() {
			backoff = 50 * time.Millisecond
			if lost {
				lost = false
				if onResubscribe != nil {
					onResubscribe()
				}
			}
		}))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lost = true
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// receive runs one subscription until it fails or ctx ends; subscribed is
// called when Redis confirms it.
func (s *Store) receive(ctx context.Context, onMessage func([]byte), subscribed func()) error {
	ps := s.rdb.Subscribe(ctx, s.opts.Channel)
	// A blocked Receive does not watch ctx: closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	defer ps.Close()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.opts.HealthCheck)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if pinged { // a whole HealthCheck without the PONG
				return errSilent
			}
			c, cancel := s.cmdCtx(ctx)
			err := ps.Ping(c)
			cancel()
			if err != nil {
				return err
			}
			pinged = true
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subscribed()
			}
		case *redis.Message:
			onMessage([]byte(m.Payload))
		}
	}
}
