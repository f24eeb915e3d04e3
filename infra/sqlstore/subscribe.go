package sqlstore

import (
	"context"
	"fmt"
	"time"

	"ledger/infra/eventstore"
)

// Subscribe delivers the log after from, then one CaughtUp, then live events. It waits
// for the writer's signal rather than polling, and polls every PollInterval only to see
// appends from other processes (on PostgreSQL those also wake it through NOTIFY).
// It returns nil when ctx ends and the handler's error if the handler fails.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, handle func(eventstore.SubscriptionMessage) error) error {
	poll := time.NewTicker(s.opts.PollInterval)
	defer poll.Stop()
	after, caughtUp := from.Commit, false
	for {
		woken := s.appended.Wait() // taken before reading, so no append slips between
		page, err := s.readPage(ctx, after)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
		for i := range page {
			if err := handle(eventstore.SubscriptionMessage{Event: &page[i]}); err != nil {
				return fmt.Errorf("subscription handler at %s: %w", page[i].Position, err)
			}
			after = page[i].Position.Commit
		}
		if len(page) == s.opts.PageSize {
			continue
		}
		if !caughtUp {
			caughtUp = true
			if err := handle(eventstore.SubscriptionMessage{CaughtUp: true}); err != nil {
				return fmt.Errorf("subscription handler at caught-up: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return fmt.Errorf("subscription: %w", ErrClosed)
		case <-woken:
		case <-poll.C:
		}
	}
}
