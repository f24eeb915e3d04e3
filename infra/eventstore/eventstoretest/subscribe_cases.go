package eventstoretest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"ledger/infra/eventstore"
)

// subscription runs Subscribe in the background and hands over the messages of one
// case's streams (and CaughtUp) through a channel.
type subscription struct {
	msgs    chan eventstore.SubscriptionMessage
	done    chan error
	cancel  context.CancelFunc
	once    sync.Once
	stopErr error
}

func subscribe(t *testing.T, s eventstore.Store, from eventstore.Position, n names, handle func(eventstore.SubscriptionMessage) error) *subscription {
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{msgs: make(chan eventstore.SubscriptionMessage, 16), done: make(chan error, 1), cancel: cancel}
	go func() {
		sub.done <- s.Subscribe(ctx, from, func(m eventstore.SubscriptionMessage) error {
			if m.Event != nil && !n.owns(m.Event.Stream) {
				return nil
			}
			if handle != nil {
				if err := handle(m); err != nil {
					return err
				}
			}
			select {
			case sub.msgs <- m:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		if err := sub.stop(t); err != nil && handle == nil {
			t.Errorf("Subscribe returned %v after cancel, want nil", err)
		}
	})
	return sub
}

// next waits (bounded) for the next message.
func (sub *subscription) next(t *testing.T, what string) eventstore.SubscriptionMessage {
	t.Helper()
	select {
	case m := <-sub.msgs:
		return m
	case err := <-sub.done:
		sub.done <- err
		t.Fatalf("waiting for %s: Subscribe returned early: %v", what, err)
	case <-time.After(Bound):
		t.Fatalf("waiting for %s: nothing within %s", what, Bound)
	}
	return eventstore.SubscriptionMessage{}
}

// nextEvent waits for an event message; a second CaughtUp fails the case.
func (sub *subscription) nextEvent(t *testing.T, what string) eventstore.RecordedEvent {
	t.Helper()
	m := sub.next(t, what)
	if m.Event == nil {
		t.Fatalf("waiting for %s: got CaughtUp=%v and no event", what, m.CaughtUp)
	}
	return *m.Event
}

// stop cancels and waits (bounded) for Subscribe's return value.
func (sub *subscription) stop(t *testing.T) error {
	sub.once.Do(func() {
		sub.cancel()
		select {
		case sub.stopErr = <-sub.done:
		case <-time.After(Bound):
			sub.stopErr = errors.New("Subscribe did not return within the bound after cancel")
			t.Errorf("%v", sub.stopErr)
		}
	})
	return sub.stopErr
}

func subscribeCatchUpThenLive(t *testing.T, s eventstore.Store) {
	n := newNames()
	from := mustHead(t, s)
	history := events(3, "history")
	mustAppend(t, s, n.stream("s"), eventstore.NoStream(), history...)

	sub := subscribe(t, s, from, n, nil)
	for i, ev := range history {
		if got := sub.nextEvent(t, "history"); got.ID != ev.ID {
			t.Fatalf("history event %d is %s, want %s", i, got.ID, ev.ID)
		}
	}
	if m := sub.next(t, "CaughtUp"); !m.CaughtUp || m.Event != nil {
		t.Fatalf("after the history got %+v, want CaughtUp", m)
	}
	live := events(2, "live")
	mustAppend(t, s, n.stream("s"), eventstore.Exact(2), live[0])
	mustAppend(t, s, n.stream("t"), eventstore.NoStream(), live[1])
	var prev eventstore.Position
	for i, ev := range live {
		got := sub.nextEvent(t, "a live event (CaughtUp must come once)")
		if got.ID != ev.ID {
			t.Fatalf("live event %d is %s, want %s", i, got.ID, ev.ID)
		}
		if !prev.Less(got.Position) {
			t.Fatalf("live event at %s after %s", got.Position, prev)
		}
		prev = got.Position
	}
	if err := sub.stop(t); err != nil {
		t.Fatalf("Subscribe returned %v after cancel, want nil", err)
	}
	select {
	case m := <-sub.msgs:
		t.Fatalf("unexpected extra message %+v", m)
	default:
	}
}

func subscribeExclusiveStart(t *testing.T, s eventstore.Store) {
	n := newNames()
	evs := events(3, "x")
	mustAppend(t, s, n.stream("x"), eventstore.NoStream(), evs[0])
	second := mustAppend(t, s, n.stream("x"), eventstore.Exact(0), evs[1])
	mustAppend(t, s, n.stream("x"), eventstore.Exact(1), evs[2])

	sub := subscribe(t, s, second.Position, n, nil)
	if got := sub.nextEvent(t, "the event after the start"); got.ID != evs[2].ID {
		t.Fatalf("first event delivered is %s, want %s (the one after the start position)", got.ID, evs[2].ID)
	}
	if m := sub.next(t, "CaughtUp"); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
}

func subscribeStopsOnCancel(t *testing.T, s eventstore.Store) {
	n := newNames()
	from := mustHead(t, s)
	mustAppend(t, s, n.stream("c"), eventstore.NoStream(), events(2, "c")...)
	cases := []struct {
		name       string
		afterStart int // messages to receive before cancelling
	}{
		{"while live, after CaughtUp", 3},
		{"at once", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := subscribe(t, s, from, n, nil)
			for range c.afterStart {
				sub.next(t, "history and CaughtUp")
			}
			if err := sub.stop(t); err != nil {
				t.Fatalf("Subscribe returned %v on cancel, want nil", err)
			}
		})
	}
}

func subscribeReturnsHandlerError(t *testing.T, s eventstore.Store) {
	n := newNames()
	boom := errors.New("projection failed")
	from := mustHead(t, s)
	mustAppend(t, s, n.stream("e"), eventstore.NoStream(), events(2, "e")...)
	sub := subscribe(t, s, from, n, func(m eventstore.SubscriptionMessage) error {
		if m.Event != nil {
			return boom
		}
		return nil
	})
	select {
	case err := <-sub.done:
		sub.done <- err
		if !errors.Is(err, boom) {
			t.Fatalf("Subscribe returned %v, want the handler's error", err)
		}
	case <-time.After(Bound):
		t.Fatalf("Subscribe did not return the handler's error within %s", Bound)
	}
}
