package transparency

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"ledger/infra/eventstore"
)

// Schedule says when Run publishes: after every Every new events, and every Interval
// when the log has grown since the last checkpoint. Zero turns either off.
type Schedule struct {
	Every    int
	Interval time.Duration
}

// Subscriber is the part of the event store that tells Run about new events.
type Subscriber interface {
	Subscribe(ctx context.Context, from eventstore.Position, handle func(eventstore.SubscriptionMessage) error) error
}

// resubscribeAfter is the wait before Run follows the log again after a failure.
const resubscribeAfter = time.Second

// Run publishes a checkpoint at once (covering the log as it is) and then on schedule
// until ctx ends. A failure to publish is logged and retried at the next turn: the
// process serves on, and the next checkpoint covers what this one missed.
func (p *Publisher) Run(ctx context.Context, log Subscriber, s Schedule) error {
	var grown atomic.Int64 // events since the last checkpoint
	publish := func() {
		grown.Store(0)
		_, err := p.Publish(ctx)
		if err != nil && !errors.Is(err, ErrNoCheckpoint) && ctx.Err() == nil && p.Logger != nil {
			p.Logger.Warn("checkpoint not published; the next turn tries again", "err", err)
		}
	}
	publish()
	if s.Interval > 0 {
		go func() {
			tick := time.NewTicker(s.Interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if grown.Load() > 0 {
						publish()
					}
				}
			}
		}()
	}
	for ctx.Err() == nil {
		last, _, err := p.Tree.lastLeaf(ctx) // count the events the tree does not hold yet
		if err == nil {
			err = log.Subscribe(ctx, last.Position, func(m eventstore.SubscriptionMessage) error {
				if m.Event != nil && grown.Add(1) >= int64(s.Every) && s.Every > 0 {
					publish()
				}
				return nil
			})
		}
		if err != nil && ctx.Err() == nil && p.Logger != nil {
			p.Logger.Warn("checkpoints: following the log failed; following it again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(resubscribeAfter):
		}
	}
	return nil
}
