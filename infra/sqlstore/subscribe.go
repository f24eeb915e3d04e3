package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
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

// listen starts LISTEN before Open returns, so no append after Open goes unheard. The
// driver only sends LISTEN, it does not wait for the server to run it, so listen waits
// to hear a NOTIFY of its own: after that, every later commit's NOTIFY reaches it. If
// either fails, subscribers still see other processes' appends by polling.
func (s *Store) listen(ctx context.Context) {
	var err error
	for attempt := 1; attempt <= listenAttempts; attempt++ {
		ln := pgdriver.NewListener(s.db)
		if err = ln.Listen(ctx, notifyChannel); err == nil {
			if err = s.hearOwnNotify(ctx, ln.Channel()); err == nil {
				s.workers.Go(func() { s.relayNotifications(ln) })
				return
			}
		}
		ln.Close() // a deaf listener: start again on a new connection
	}
	s.opts.Logger.Warn("event store: LISTEN not confirmed; subscribers fall back to polling", "err", err)
}

// listenAttempts bounds the listeners tried at Open before falling back to polling.
const listenAttempts = 3

// listenConfirmTimeout bounds the wait for one listener to hear the store's own NOTIFY.
const listenConfirmTimeout = 10 * time.Second

// ownNotifyResend is how often hearOwnNotify sends its NOTIFY again. A NOTIFY that
// commits before the server has run the LISTEN is never delivered (the usual order on a
// loaded machine, where the new listener backend starts slower than a pooled one), so
// one NOTIFY and a wait would call a healthy listener deaf.
const ownNotifyResend = 100 * time.Millisecond

// hearOwnNotify sends NOTIFYs with a payload of this Store's until the listener hears
// one: the first one heard proves LISTEN is in effect.
func (s *Store) hearOwnNotify(ctx context.Context, notes <-chan pgdriver.Notification) error {
	token := "listening " + strconv.FormatInt(time.Now().UnixNano(), 36) + " " + strconv.FormatUint(rand.Uint64(), 36)
	timeout := time.NewTimer(listenConfirmTimeout)
	defer timeout.Stop()
	resend := time.NewTicker(ownNotifyResend)
	defer resend.Stop()
	for {
		if _, err := s.db.ExecContext(ctx, "SELECT pg_notify(?, ?)", notifyChannel, token); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		if s.ownNotifySent != nil {
			s.ownNotifySent()
		}
		if heard, err := awaitPayload(ctx, notes, token, resend.C, timeout.C); heard || err != nil {
			return err
		}
	}
}

// awaitPayload reports whether payload arrives on notes before resend ticks; it fails
// when timeout fires or ctx ends first.
func awaitPayload(ctx context.Context, notes <-chan pgdriver.Notification, payload string, resend, timeout <-chan time.Time) (bool, error) {
	for {
		select {
		case n, open := <-notes:
			if !open {
				return false, errors.New("listener closed")
			}
			if n.Payload == payload {
				return true, nil
			}
		case <-resend:
			return false, nil
		case <-timeout:
			return false, fmt.Errorf("own NOTIFY not heard within %s", listenConfirmTimeout)
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
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
