package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publish sends payload on the invalidation channel.
func (s *Store) Publish(ctx context.Context, payload []byte) error {
	return s.rdb.Publish(ctx, s.opts.Channel, payload).Err()
}

// Subscribe receives the invalidation channel until ctx ends. After the
// subscription is lost (Redis restarted, network cut) it keeps trying, with
// a back-off up to 2 s, and calls onResubscribe once it is back: messages
// sent meanwhile were missed.
func (s *Store) Subscribe(ctx context.Context, onMessage func([]byte), onResubscribe func()) error {
	ps := s.rdb.Subscribe(ctx, s.opts.Channel)
	// A blocked Receive does not watch ctx: closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	defer ps.Close()
	lost := false
	backoff := 50 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			lost = true
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if lost && m.Kind == "subscribe" {
				lost = false
				if onResubscribe != nil {
					onResubscribe()
				}
			}
		case *redis.Message:
			onMessage([]byte(m.Payload))
		}
	}
}
