package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/testkit"
)

// Bad input gets a clear error naming what is wrong, and nothing is stored.
func TestMalformedAppendsAreRefusedAndStoreNothing(t *testing.T) {
	good := event("good")
	with := func(f func(*eventstore.EventData)) eventstore.EventData {
		e := event("x")
		f(&e)
		return e
	}
	cases := []struct {
		name    string
		stream  string
		events  []eventstore.EventData
		mention string
	}{
		{"empty stream name", "", []eventstore.EventData{good}, "empty stream"},
		{"system stream names are reserved", "$all", []eventstore.EventData{good}, "reserved"},
		{"no events", "s", nil, "no events"},
		{"id that is not a UUID", "s", []eventstore.EventData{with(func(e *eventstore.EventData) { e.ID = "42" })}, "not a UUID"},
		{"the same id twice in one append", "s", []eventstore.EventData{good, good}, "appears twice"},
		{"system event types are reserved", "s", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Type = "$metadata" })}, "reserved for system events"},
		{"empty type", "s", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Type = "" })}, "empty type"},
		{"data that is not JSON", "s", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Data = []byte("{oops") })}, "data is not JSON"},
		{"empty data", "s", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Data = nil })}, "data is not JSON"},
		{"metadata that is not JSON", "s", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Metadata = []byte("actor=x") })}, "metadata is not JSON"},
		{"one bad event spoils the whole append", "s", []eventstore.EventData{event("ok"), with(func(e *eventstore.EventData) { e.Data = []byte("nope") })}, "event 1"},
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			s := d.open(t, Options{})
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					_, err := s.Append(bounded(t), c.stream, eventstore.Any(), c.events...)
					if !errors.Is(err, ErrInvalidAppend) || !strings.Contains(err.Error(), c.mention) {
						t.Fatalf("got %v, want ErrInvalidAppend mentioning %q", err, c.mention)
					}
				})
			}
			if head, err := s.Head(bounded(t)); err != nil || !head.IsZero() {
				t.Fatalf("after refused appends the head is %s (%v), want Start: nothing stored", head, err)
			}
		})
	}
}

// An ID differing only in letter case is the same event (IDs are stored canonical).
func TestUpperCaseIDIsTheSameEvent(t *testing.T) {
	s := openSQLite(t, Options{})
	ev := event("x")
	first, err := s.Append(bounded(t), "s", eventstore.NoStream(), ev)
	if err != nil {
		t.Fatal(err)
	}
	ev.ID = strings.ToUpper(ev.ID)
	again, err := s.Append(bounded(t), "s", eventstore.NoStream(), ev)
	if err != nil || again != first {
		t.Fatalf("re-append with the ID upper-cased: %+v, %v; want the first result %+v", again, err, first)
	}
}

// What was acknowledged is there after the store is closed and opened again, and
// opening an up-to-date schema again changes nothing.
func TestAcknowledgedEventsSurviveReopen(t *testing.T) {
	targets := []struct{ dialect, target string }{
		{"sqlite", filepath.Join(t.TempDir(), "events.db")},
		{"postgres", pgtest.NewDatabase(t)},
	}
	for _, tc := range targets {
		t.Run(tc.dialect, func(t *testing.T) {
			s := openAt(t, tc.dialect, tc.target, Options{})
			res, err := s.Append(bounded(t), "kept", eventstore.NoStream(), event("a"), event("b"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			again := openAt(t, tc.dialect, tc.target, Options{})
			got, err := again.ReadStream(bounded(t), "kept", eventstore.ReadStreamOptions{})
			if err != nil || len(got) != 2 {
				t.Fatalf("after reopen read %d events (%v), want 2", len(got), err)
			}
			if head, _ := again.Head(bounded(t)); head != res.Position {
				t.Fatalf("after reopen head %s, want %s", head, res.Position)
			}
		})
	}
}

// A subscriber is woken by appends made through another Store (another process): on
// PostgreSQL by NOTIFY, long before its hour-long poll; on SQLite by its short poll.
func TestSubscriberSeesAppendsFromAnotherProcess(t *testing.T) {
	cases := []struct {
		name, dialect, target string
		poll                  time.Duration
	}{
		{"postgres wakes on NOTIFY", "postgres", pgtest.NewDatabase(t), time.Hour},
		{"sqlite polls", "sqlite", filepath.Join(t.TempDir(), "events.db"), 20 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writer := openAt(t, c.dialect, c.target, Options{})
			reader := openAt(t, c.dialect, c.target, Options{PollInterval: c.poll})
			msgs := subscribeToEmptyLog(t, reader)
			ev := event("elsewhere")
			if _, err := writer.Append(bounded(t), "remote", eventstore.NoStream(), ev); err != nil {
				t.Fatal(err)
			}
			if m := receive(t, msgs); m.Event == nil || m.Event.ID != ev.ID {
				t.Fatalf("got %+v, want the event appended by the other store", m)
			}
		})
	}
}

// subscribeToEmptyLog subscribes to store's log from the start, which must be empty (the
// first message says caught up), until the test ends, and hands over every message.
func subscribeToEmptyLog(t *testing.T, store *Store) <-chan eventstore.SubscriptionMessage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	msgs := make(chan eventstore.SubscriptionMessage, 8)
	go store.Subscribe(ctx, eventstore.Start, func(m eventstore.SubscriptionMessage) error {
		msgs <- m
		return nil
	})
	if m := receive(t, msgs); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp on an empty log", m)
	}
	return msgs
}

func receive(t *testing.T, msgs <-chan eventstore.SubscriptionMessage) eventstore.SubscriptionMessage {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(testkit.HangBound):
		t.Fatalf("no subscription message within %s", testkit.HangBound)
		return eventstore.SubscriptionMessage{}
	}
}

func TestClosedStoreRefusesAppends(t *testing.T) {
	s := openSQLite(t, Options{})
	s.Close()
	_, err := s.Append(bounded(t), "s", eventstore.Any(), event("late"))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
}

func TestAppendWithEndedContextStoresNothing(t *testing.T) {
	s := openSQLite(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "s", eventstore.Any(), event("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v, want context.Canceled", err)
	}
	if got, _ := s.ReadStream(bounded(t), "s", eventstore.ReadStreamOptions{}); len(got) != 0 {
		t.Fatalf("stored %d events", len(got))
	}
}
