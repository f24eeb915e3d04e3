package projections

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"ledger/infra/natsbus"
	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// NATS redelivers in the order messages came back to it (naks, AckWait expiries), not in
// stream order, so a chunk of redeliveries can end below its highest stream sequence.
// Once such a chunk commits, nothing of it may stay pending on the consumer: what did
// would show to ops as ack-pending and redelivered, and come back after AckWait only to
// be skipped.
func TestACommittedChunkOfOutOfOrderRedeliveriesLeavesNothingPending(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	h.ackWait = time.Hour // every redelivery here comes from the naks, none from AckWait
	f, _ := h.runForwarder()
	head := h.appendEvents(3, "TestHappened")
	testkit.Eventually(t, "forwarded", func() bool { return f.Forwarded() == head })
	p := newCounter("counter")
	conn := h.connect()
	r := h.runner(conn, p)
	cons, err := conn.JetStream.Consumer(ctx, natsbus.StreamName, ConsumerName(p.Name(), 0, 1))
	if err != nil {
		t.Fatal(err)
	}

	// A process is handed the three messages and, stopping, naks them newest first.
	for _, m := range slices.Backward(fetchN(t, cons, 3)) {
		if err := m.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	chunk := fetchN(t, cons, 3)
	if seqs := streamSeqs(t, chunk); !slices.Equal(seqs, []uint64{3, 2, 1}) {
		t.Fatalf("redelivered stream sequences %v, want 3 2 1 (the order of the naks)", seqs)
	}

	// The next holder commits them as one chunk, as its worker does a pull's chunk. (Run
	// would split a pull into chunks by when its messages arrive; handle takes this one.)
	if err := r.newWorker(p, 0, nil).handle(ctx, chunk); err != nil {
		t.Fatal(err)
	}
	h.assertFoldedExactlyOnce(p)

	// The worker acks a chunk once, without waiting for NATS: wait until the ack is in
	// (the ack floor moves), then see what is left pending.
	var info *jetstream.ConsumerInfo
	testkit.Eventually(t, "the chunk's ack reaches the consumer", func() bool {
		info, err = cons.Info(ctx)
		return err == nil && info.AckFloor.Stream > 0
	})
	if info.NumAckPending != 0 || info.NumRedelivered != 0 || info.AckFloor.Stream != 3 {
		t.Fatalf("after the chunk committed: %d messages ack-pending, %d redelivered, ack floor at stream sequence %d; "+
			"want none pending and the floor at 3", info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream)
	}
}

// fetchN pulls n messages from a projection's consumer, as a projector process does.
func fetchN(t *testing.T, cons jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(testkit.HangBound), jetstream.FetchPriorityGroup(PriorityGroup))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil || len(msgs) != n {
		t.Fatalf("fetched %d messages, want %d (err %v)", len(msgs), n, err)
	}
	return msgs
}

// streamSeqs are the stream sequences of msgs, in order.
func streamSeqs(t *testing.T, msgs []jetstream.Msg) []uint64 {
	t.Helper()
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		seqs[i] = md.Sequence.Stream
	}
	return seqs
}
