package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"

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

// listen starts LISTEN before Open returns, so no append after Open goes unheard. If
// it fails, subscribers still see other processes' appends by polling.
func (s *Store) listen(ctx context.Context) {
	ln := pgdriver.NewListener(s.db)
	if err := ln.Listen(ctx, notifyChannel); err != nil {
		ln.Close()
		s.opts.Logger.Warn("event store: LISTEN failed; subscribers fall back to polling", "err", err)
		return
	}
	s.workers.Go(func() { s.relayNotifications(ln) })
}

// relayNotifications turns NOTIFYs from any process's appends into wake-ups for this
// Store's subscribers; the listener reconnects by itself after connection loss.
func (s *Store) relayNotifications(ln *pgdriver.Listener) {
	defer ln.Close()
	notes := ln.Channel()
	for {
		select {
		case <-s.stop:
			return
		case _, ok := <-notes:
			if !ok {
				return
			}
			s.appended.Broadcast()
		}
	}
}
