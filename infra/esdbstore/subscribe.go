package esdbstore

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/infra/eventstore"
)

// Subscribe is a catch-up subscription to $all after from (exclusive), filtered on the
// server (esdb.ExcludeSystemEventsFilter) and again here for $-streams.
//
// History ends where the server says caught_up, or, for servers before 23.10 that never
// say it, once the event at the head read just before subscribing has been delivered:
// whichever comes first is the one CaughtUp message.
func (s *Store) Subscribe(ctx context.Context, from eventstore.Position, handle func(eventstore.SubscriptionMessage) error) error {
	head, err := s.Head(ctx)
	if err != nil {
		return cancelledOr(ctx, fmt.Errorf("subscribe to $all: %w", err))
	}
	sub, err := s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   allPosition(from),
		Filter: esdb.ExcludeSystemEventsFilter(),
	})
	if err != nil {
		return cancelledOr(ctx, fmt.Errorf("subscribe to $all: %w", err))
	}
	defer sub.Close()

	caughtUp := false
	signalCaughtUp := func() error {
		if caughtUp {
			return nil
		}
		caughtUp = true
		return handle(eventstore.SubscriptionMessage{CaughtUp: true})
	}
	if !from.Less(head) {
		if err := signalCaughtUp(); err != nil {
			return err
		}
	}
	last := from
	for {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			return cancelledOr(ctx, fmt.Errorf("subscription to $all dropped: %w", msg.SubscriptionDropped.Error))
		case msg.CaughtUp != nil:
			if err := signalCaughtUp(); err != nil {
				return err
			}
		case msg.EventAppeared != nil:
			e := msg.EventAppeared.Event
			if e == nil || isSystem(e) || !last.Less(position(e)) {
				continue
			}
			event := recorded(e)
			if err := handle(eventstore.SubscriptionMessage{Event: &event}); err != nil {
				return err
			}
			last = event.Position
			if !last.Less(head) {
				if err := signalCaughtUp(); err != nil {
					return err
				}
			}
		}
	}
}

// cancelledOr returns nil when the caller cancelled: that is how a subscription stops.
func cancelledOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
