package natsbus

import (
	"context"
	"fmt"
	"ledger/infra/testlog"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
	"ledger/infra/sqlstore"
)

// testLogger writes to the test's output while the test runs, and nowhere after.
func testLogger(t *testing.T, level slog.Level) *slog.Logger { return testlog.New(t, level) }

// startNATS runs an embedded server in a temp dir, stopped after the test.
func startNATS(t *testing.T, dir string, port int) *Embedded {
	t.Helper()
	e, err := StartEmbedded(context.Background(), EmbeddedOptions{StoreDir: dir, Port: port, Logger: testLogger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(e.Shutdown) // after the clients' cleanups, which were registered later
	return e
}

func connect(t *testing.T, url string) *Conn {
	t.Helper()
	c, err := Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func openStore(t *testing.T) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendEvents writes n events, one append each, spread over partner streams.
func appendEvents(t *testing.T, s eventstore.Store, n int) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for i := range n {
		stream := fmt.Sprintf("partner-MPN%d", i%3)
		res, err := s.Append(context.Background(), stream, eventstore.Any(), eventstore.EventData{
			ID: uuid.NewString(), Type: "TestHappened", Data: fmt.Appendf(nil, `{"n":%d}`, i),
			Metadata: []byte(`{"actor":"test"}`)})
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		last = res.Position
	}
	return last
}

// runForwarder runs a forwarder until the returned stop is called (or the test ends).
func runForwarder(t *testing.T, cfg ForwarderConfig) (*Forwarder, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, slog.LevelInfo)
	}
	f, err := NewForwarder(cfg)
	if err != nil {
		t.Fatalf("new forwarder: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("forwarder Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return f, stop
}

// streamContents reads every message of the events stream in sequence order.
func streamContents(t *testing.T, c *Conn) []Envelope {
	t.Helper()
	ctx := context.Background()
	s, err := c.JetStream.Stream(ctx, StreamName)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []Envelope
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		env, err := Decode(raw.Header, raw.Data)
		if err != nil {
			t.Fatalf("decode seq %d: %v", seq, err)
		}
		if raw.Header.Get("Nats-Msg-Id") != MsgID(env.Event) {
			t.Fatalf("seq %d: Nats-Msg-Id %q, event at %s", seq, raw.Header.Get("Nats-Msg-Id"), env.Event.Position)
		}
		if want := PartitionSubject(env.Event.Stream, env.Part.Partition, env.Part.Of); raw.Subject != want {
			t.Fatalf("seq %d: subject %q, want %q", seq, raw.Subject, want)
		}
		out = append(out, env)
	}
	return out
}

// assertHeads checks the partition heads of message i: each partition's entry is at or
// after its last event up to this one (last, by partition), and not after this one;
// the message's own partition's is the message.
func assertHeads(t *testing.T, i int, env Envelope, last map[int]eventstore.Position) {
	t.Helper()
	if env.Part.Of == 1 {
		return
	}
	if len(env.Part.Heads) != env.Part.Of || env.Part.Heads[env.Part.Partition] != env.Event.Position {
		t.Fatalf("message %d (at %s, partition %d of %d) carries heads %v", i, env.Event.Position, env.Part.Partition, env.Part.Of, env.Part.Heads)
	}
	for j, h := range env.Part.Heads {
		if h.Less(last[j]) || env.Event.Position.Less(h) {
			t.Fatalf("message %d (at %s) says partition %d's head is %s; its last event up to there is at %s",
				i, env.Event.Position, j, h, last[j])
		}
	}
}

// assertExactCopy checks the stream holds the store's log, each event once, in order,
// with every previous-position link pointing at the message before, and every link
// within a partition at or after the partition's message before (exact within one
// forwarder run) and before the message itself.
func assertExactCopy(t *testing.T, store eventstore.Store, got []Envelope) {
	t.Helper()
	var want []eventstore.RecordedEvent
	for ev, err := range store.ReadAll(context.Background(), eventstore.Start) {
		if err != nil {
			t.Fatalf("read all: %v", err)
		}
		want = append(want, ev)
	}
	if len(got) != len(want) {
		t.Fatalf("stream holds %d messages, store %d events", len(got), len(want))
	}
	prev := eventstore.Start
	partPrev := map[int]eventstore.Position{}
	for i, env := range got {
		k := env.Part.Partition
		if env.Part.Previous.Less(partPrev[k]) || !env.Part.Previous.Less(env.Event.Position) {
			t.Fatalf("message %d (at %s, partition %d) says partition previous %s; the partition's previous is %s",
				i, env.Event.Position, k, env.Part.Previous, partPrev[k])
		}
		partPrev[k] = env.Event.Position
		assertHeads(t, i, env, partPrev)
		if env.Event.ID != want[i].ID || env.Event.Position != want[i].Position {
			t.Fatalf("message %d is %s at %s, want %s at %s", i, env.Event.ID, env.Event.Position, want[i].ID, want[i].Position)
		}
		if env.Previous != prev {
			t.Fatalf("message %d (at %s) says previous %s, want %s", i, env.Event.Position, env.Previous, prev)
		}
		prev = env.Event.Position
	}
}
