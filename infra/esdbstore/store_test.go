package esdbstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/infra/esdbstore"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

func event(label string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: []byte(`{"label":"` + label + `"}`)}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.HangBound)
	t.Cleanup(cancel)
	return ctx
}

// The server's own events ($-typed, in $-streams) sit between the ledger's in $all; no
// reader of the adapter may ever see one, not in ReadAll, Head or a live subscription.
func TestSystemEventsNeverReachReaders(t *testing.T) {
	server, conn := esdbprotocolserver.StartServer(t)
	s := open(t, conn)
	ctx := ctxFor(t)

	first, err := s.Append(ctx, "partner-1", eventstore.NoStream(), event("first"))
	if err != nil {
		t.Fatal(err)
	}
	server.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected", []byte(`{}`))
	if head, err := s.Head(ctx); err != nil || head != first.Position {
		t.Fatalf("head %v (%v), want the last ledger event %s, not the system event after it", head, err, first.Position)
	}

	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	got := make(chan eventstore.SubscriptionMessage, 8)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(subCtx, eventstore.Start, func(m eventstore.SubscriptionMessage) error { got <- m; return nil })
	}()
	if m := <-got; m.Event == nil || m.Event.Stream != "partner-1" {
		t.Fatalf("first message %+v, want the ledger event", m)
	}
	if m := <-got; !m.CaughtUp {
		t.Fatalf("second message %+v, want CaughtUp", m)
	}
	server.AppendSystemEvent("$users", "$UserCreated", []byte(`{}`))
	second, err := s.Append(ctx, "partner-1", eventstore.Exact(0), event("second"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Event == nil || m.Event.Position != second.Position {
			t.Fatalf("live message %+v, want the second ledger event (the system event before it skipped)", m)
		}
	case <-time.After(testkit.HangBound):
		t.Fatal("no live event")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Subscribe after cancel: %v", err)
	}

	var streams []string
	for ev, err := range s.ReadAll(ctx, eventstore.Start) {
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, ev.Stream+"/"+ev.Type)
	}
	if len(streams) != 2 || strings.Contains(strings.Join(streams, " "), "$") {
		t.Fatalf("ReadAll gave %v, want only the two ledger events", streams)
	}
}

// EventStoreDB answers a re-append whose first ids match but later ones do not
// ("corrupted idempotency") with wrong expected version; the stored ids make it a
// duplicate-id refusal, and nothing is written.
func TestPartlyRepeatedAppendIsDuplicateID(t *testing.T) {
	s := open(t, esdbprotocolserver.Start(t))
	ctx := ctxFor(t)
	for _, c := range []struct {
		name     string
		expected eventstore.ExpectedRevision
	}{
		{"at no-stream", eventstore.NoStream()},
		{"at any", eventstore.Any()},
		{"at stream-exists", eventstore.StreamExists()},
	} {
		t.Run(c.name, func(t *testing.T) {
			stream := "partner-" + uuid.NewString()
			a, b := event("a"), event("b")
			if _, err := s.Append(ctx, stream, eventstore.Any(), a, b); err != nil {
				t.Fatal(err)
			}
			_, err := s.Append(ctx, stream, c.expected, a, event("c"))
			if !errors.Is(err, eventstore.ErrDuplicateEventID) {
				t.Fatalf("re-append of [a, new] at %s: %v, want ErrDuplicateEventID", c.expected, err)
			}
			if got, _ := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{}); len(got) != 2 {
				t.Fatalf("stream holds %d events, want the 2 first appended", len(got))
			}
		})
	}
}

// Bad input gets a clear error before anything reaches the server.
func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	s := open(t, esdbprotocolserver.Start(t))
	ctx := ctxFor(t)
	good := event("ok")
	with := func(f func(*eventstore.EventData)) []eventstore.EventData {
		e := event("bad")
		f(&e)
		return []eventstore.EventData{good, e}
	}
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
		says   string
	}{
		{"empty stream name", "", []eventstore.EventData{good}, "stream name is empty"},
		{"system stream", "$settings", []eventstore.EventData{good}, "server's"},
		{"no events", "partner-x", nil, "no events"},
		{"id not a UUID", "partner-x", with(func(e *eventstore.EventData) { e.ID = "42" }), "UUID"},
		{"nil UUID", "partner-x", with(func(e *eventstore.EventData) { e.ID = uuid.Nil.String() }), "UUID"},
		{"empty type", "partner-x", with(func(e *eventstore.EventData) { e.Type = "" }), "type"},
		{"system type", "partner-x", with(func(e *eventstore.EventData) { e.Type = "$metadata" }), "type"},
		{"data not JSON", "partner-x", with(func(e *eventstore.EventData) { e.Data = []byte("{") }), "data is not valid JSON"},
		{"metadata not JSON", "partner-x", with(func(e *eventstore.EventData) { e.Metadata = []byte("x") }), "metadata is not valid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Append(ctx, c.stream, eventstore.Any(), c.events...)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("append: %v, want an error saying %q", err, c.says)
			}
		})
	}
	if head, err := s.Head(ctx); err != nil || !head.IsZero() {
		t.Fatalf("head %s (%v) after refused appends, want Start", head, err)
	}
	// Nothing of the refused appends was stored, so the good event can still be appended.
	if _, err := s.Append(ctx, "partner-x", eventstore.NoStream(), good); err != nil {
		t.Fatalf("append after refusals: %v", err)
	}
}

func TestOpenFailsWhenNoServerAnswers(t *testing.T) {
	ctx := ctxFor(t)
	// Port 1 on loopback: nothing listens, the connection is refused at once.
	const dead = "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1"
	if s, err := esdbstore.Open(ctx, dead); err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded with nothing listening", dead)
	}
	if _, err := esdbstore.Open(ctx, "not a connection string"); err == nil {
		t.Fatal("Open accepted a malformed connection string")
	}
}
