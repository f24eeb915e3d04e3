package projections

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

func TestRunnerFoldsEveryEventOnceAndServesItThroughTheView(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.appendEvents(120, "TestHappened") // history before anything runs
		h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		h.background("runner", r.Run)
		head := h.appendEvents(30, "TestHappened") // live events
		h.waitFor(r.Checkpoints(), p.Name(), head)

		h.assertFoldedExactlyOnce(p)
		st, err := r.Checkpoints().State(context.Background(), p.Name())
		if err != nil {
			t.Fatal(err)
		}
		if st.Checkpoint != head || st.Status != StatusLive || st.DeadLetters != 0 || st.Generation != 1 || st.Version != 1 {
			t.Fatalf("state = %+v, want live generation 1 at %s without dead letters", st, head)
		}
		if p.applies.Load() >= 150 {
			t.Errorf("%d Apply calls for 150 events: events are not batched", p.applies.Load())
		}
	})
}

func TestRedeliveryAfterAKillBetweenCommitAndAckChangesNothing(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		f, _ := h.runForwarder()
		head := h.appendEvents(100, "TestHappened")
		testkit.Eventually(t, "all forwarded", func() bool { return f.Forwarded() == head })

		// The first runner's connection dies inside the batch that reaches the head: the
		// transaction still commits, its ack never reaches NATS, so NATS redelivers what
		// was committed. Killing it there, not in its first batch, makes every message
		// the stream holds committed: then all runner 2 is handed (until the next
		// appends) is a redelivery it must skip. Had runner 1 committed only part of what
		// NATS gave it, the rest could come back to runner 2 first, and runner 2's ack of
		// it (AckAll) would rightly spare the committed ones their redelivery.
		p := newCounter("counter")
		conn := h.connect()
		var killed atomic.Bool
		committed := head
		p.onApply = func(batch []eventstore.RecordedEvent) {
			if batch[len(batch)-1].Position == committed && killed.CompareAndSwap(false, true) {
				conn.Close()
			}
		}
		r1 := h.runner(conn, p)
		stop1 := h.background("runner 1", r1.Run)
		testkit.Eventually(t, "the first runner's connection is killed", killed.Load)
		h.waitFor(r1.Checkpoints(), p.Name(), committed) // the killed batch commits (retried if need be)
		stop1()

		r2conn := h.connect()
		r2 := h.runner(r2conn, p)
		h.background("runner 2", r2.Run)
		var lastSeen string // what runner 2 and NATS showed last, should the wait fail
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("last seen: %s", lastSeen)
			}
		})
		testkit.Eventually(t, "NATS redelivers the committed, unacked batch and runner 2 skips it", func() bool {
			s, _ := r2.Stats(p.Name())
			lastSeen = fmt.Sprintf("runner 2 %+v", s)
			if c, err := r2conn.JetStream.Consumer(context.Background(), natsbus.StreamName, ConsumerName(p.Name(), 0, 1)); err == nil {
				if info, err := c.Info(context.Background()); err == nil {
					lastSeen += fmt.Sprintf("; consumer pending %d, ack pending %d, redelivered %d, ack floor %d, delivered %d",
						info.NumPending, info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream, info.Delivered.Stream)
				}
			}
			return s.Skipped > 0
		})
		head = h.appendEvents(10, "TestHappened")
		h.waitFor(r2.Checkpoints(), p.Name(), head)

		h.assertFoldedExactlyOnce(p)
		// Runner 2 applied the new events and nothing it was redelivered.
		if s := h.countedStats(p.Name(), []uint64{10}, r2)[0]; s.Applied != 10 {
			t.Errorf("runner 2 applied %d events, want the 10 appended after the kill", s.Applied)
		}
		if st, _ := r2.Checkpoints().State(context.Background(), p.Name()); st.DeadLetters != 0 {
			t.Fatalf("%d dead letters: an event was applied twice", st.DeadLetters)
		}
	})
}

func TestNATSRestartMidStreamLosesNothing(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		f, _ := h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		h.background("runner", r.Run)

		first := h.appendEvents(40, "TestHappened")
		h.waitFor(r.Checkpoints(), p.Name(), first)
		h.nats.Shutdown()
		h.appendEvents(40, "TestHappened") // accepted by the store while NATS is down
		h.startNATS()
		head := h.appendEvents(40, "TestHappened")
		h.waitFor(r.Checkpoints(), p.Name(), head)
		// The runner may apply a message before its PubAck reaches the forwarder.
		testkit.Eventually(t, "the forwarder sees the head acknowledged", func() bool { return f.Forwarded() == head })
		h.assertFoldedExactlyOnce(p)
	})
}

func TestAGapInTheChainIsBackfilledFromTheStore(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		f, _ := h.runForwarder()
		head := h.appendEvents(12, "TestHappened")
		testkit.Eventually(t, "forwarded", func() bool { return f.Forwarded() == head })
		conn := h.connect()
		stream, err := conn.JetStream.Stream(context.Background(), natsbus.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range []uint64{4, 5, 9} { // as if retention or an operator removed them
			if err := stream.DeleteMsg(context.Background(), seq); err != nil {
				t.Fatal(err)
			}
		}

		p := newCounter("counter")
		r := h.runner(conn, p)
		h.background("runner", r.Run)
		h.waitFor(r.Checkpoints(), p.Name(), head)

		h.assertFoldedExactlyOnce(p)
		// Stats are counted just after the commit that WaitFor may already have seen by
		// polling the checkpoint row; let them settle, then demand exactly three.
		testkit.Eventually(t, "backfill counted", func() bool { s, _ := r.Stats(p.Name()); return s.Backfilled >= 3 })
		if s, _ := r.Stats(p.Name()); s.Backfilled != 3 {
			t.Fatalf("backfilled %d events, want the 3 deleted ones", s.Backfilled)
		}
	})
}

// The runner commits without waiting for the disk (sqldb.DerivedData): a power loss may
// roll the read database back by its last commits, whose deliveries NATS has already
// had acknowledged, and an operator may restore an older backup of it. Either way the
// read model must come back whole, with no new event to show the gap, and an idle
// partition must never be raised past the events it lacks.
func TestAReadDatabaseRolledBackUnderItsConsumerIsReappliedFromTheStore(t *testing.T) {
	for _, parts := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d partitions", parts), func(t *testing.T) {
			h := newHarness(t, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
			h.partitions = parts
			h.runForwarder()
			p := newCounter("counter")
			r1 := h.runner(nil, p)
			stop1 := h.background("runner 1", r1.Run)
			h.waitFor(r1.Checkpoints(), p.Name(), h.appendEvents(12, "TestHappened"))
			backup := filepath.Join(t.TempDir(), "backup.db")
			if _, err := h.db.ExecContext(t.Context(), "VACUUM INTO ?", backup); err != nil {
				t.Fatal(err)
			}
			head := h.appendEvents(30, "TestHappened") // committed and acknowledged, then lost
			h.waitFor(r1.Checkpoints(), p.Name(), head)
			stop1()

			h.db.Close()
			for _, f := range []string{h.target + "-wal", h.target + "-shm"} {
				if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
			}
			if err := os.Rename(backup, h.target); err != nil {
				t.Fatal(err)
			}
			h.db = h.openReadDB()
			r2 := h.runner(nil, p)
			h.background("runner 2", r2.Run)
			h.waitFor(r2.Checkpoints(), p.Name(), head)
			h.assertFoldedExactlyOnce(p)
		})
	}
}

func TestAnEventTheProjectionRefusesIsDeadLetteredAndTheRestApplied(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		h.background("runner", r.Run)
		h.appendEvents(7, "TestHappened")
		poison := h.appendEvents(1, poisonType)
		head := h.appendEvents(7, "TestHappened")
		h.waitFor(r.Checkpoints(), p.Name(), head)

		h.assertFoldedExactlyOnce(p) // every event but the poison one
		st, err := r.Checkpoints().State(context.Background(), p.Name())
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != StatusDegraded || st.DeadLetters != 1 || !strings.Contains(st.Error, "poison event refused") {
			t.Fatalf("state = %+v, want degraded with one dead letter and its error", st)
		}
		dl, err := DeadLetters(context.Background(), h.db, p.Name())
		if err != nil {
			t.Fatal(err)
		}
		if len(dl) != 1 || dl[0].Position != poison || dl[0].EventType != poisonType || dl[0].EventID == "" ||
			!strings.Contains(dl[0].Error, "poison event refused") {
			t.Fatalf("dead letters = %+v, want the poison event at %s", dl, poison)
		}
	})
}

func TestWaitForIsReadYourWritesAcrossProcesses(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		if err := r.Setup(context.Background()); err != nil {
			t.Fatal(err)
		}
		// An API-only process: its own database handle, no runner.
		other := NewCheckpoints(h.openReadDB())
		head := h.appendEvents(10, "TestHappened")

		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		seen, err := other.WaitFor(ctx, p.Name(), head)
		if !errors.Is(err, ErrProjectionBehind) || !errors.Is(err, context.DeadlineExceeded) || seen != eventstore.Start {
			t.Fatalf("WaitFor with no runner = %s, %v; want ErrProjectionBehind at 0", seen, err)
		}

		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := other.WaitFor(ctx, p.Name(), head)
			if err == nil && got.Less(head) {
				err = errors.New("returned before the head: " + got.String())
			}
			done <- err
		}()
		h.background("runner", r.Run)
		if err := <-done; err != nil {
			t.Fatalf("WaitFor in the other process: %v", err)
		}
		if got := p.counts(t, other.db)["partner-MPN0"]; got != 4 {
			t.Fatalf("after WaitFor the other process reads %d events for partner-MPN0, want 4", got)
		}
		if _, err := other.WaitFor(context.Background(), "no_such_projection", head); !errors.Is(err, ErrUnknownProjection) {
			t.Fatalf("WaitFor on an unknown projection: %v", err)
		}
	})
}

func TestAVersionBumpRebuildsANewGenerationFromTheStoreAndSwapsIt(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		stop := h.background("runner", r.Run)
		head := h.appendEvents(30, "TestHappened")
		h.waitFor(r.Checkpoints(), p.Name(), head)
		stop()
		before := p.counts(t, h.db)

		p2 := newCounter("counter")
		p2.version = 2
		r2 := h.runner(nil, p2)
		h.background("runner v2", r2.Run)
		head = h.appendEvents(6, "TestHappened")
		h.waitFor(r2.Checkpoints(), p2.Name(), head)

		st, err := r2.Checkpoints().State(context.Background(), p2.Name())
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != 2 || st.Generation != 2 || st.Status != StatusLive {
			t.Fatalf("state = %+v, want version 2 live in generation 2", st)
		}
		h.assertFoldedExactlyOnce(p2)
		after := p2.counts(t, h.db)
		for stream, n := range before {
			if after[stream] != n+2 {
				t.Errorf("stream %s: %d before, %d after 6 more events over 3 streams", stream, n, after[stream])
			}
		}
		if tableExists(t, h.db, "counter_counts_g1") {
			t.Error("generation 1 tables were not dropped after the swap")
		}
	})
}

func TestBuildFromTheStoreAloneEqualsTheLiveReadModel(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		h.background("runner", r.Run)
		head := h.appendEvents(50, "TestHappened")
		h.waitFor(r.Checkpoints(), p.Name(), head)

		var progress []int64
		rep, err := RebuildAndCompare(context.Background(), h.db, h.store, p, RebuildOptions{BatchSize: 20, DryRun: true,
			Logger: h.log, Progress: func(pr RebuildProgress) { progress = append(progress, pr.Events) }})
		if err != nil {
			t.Fatal(err)
		}
		if rep.ComparedAt != head.String() || !slices.Equal(progress[:3], []int64{20, 40, 50}) {
			t.Fatalf("built up to %s with progress %v, want %s in batches of 20", rep.ComparedAt, progress, head)
		}
		for _, d := range rep.Tables {
			if !d.Same() || d.RowsAfter == 0 {
				t.Fatalf("built from the store alone, %s differs from the live one: %+v", d.Table, d)
			}
		}
	})
}

func TestStoppingMidBatchLeavesNothingHalfApplied(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.runForwarder()
		p := newCounter("counter")
		inApply := make(chan struct{})
		release := make(chan struct{})
		var once atomic.Bool
		p.onApply = func([]eventstore.RecordedEvent) {
			if once.CompareAndSwap(false, true) {
				close(inApply)
				<-release // the runner is told to stop while this batch is being applied
			}
		}
		r := h.runner(nil, p)
		told := make(chan struct{}) // closed once the runner's context has ended
		stop := h.background("runner", func(ctx context.Context) error {
			context.AfterFunc(ctx, func() { close(told) })
			return r.Run(ctx)
		})
		h.appendEvents(60, "TestHappened")
		<-inApply
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		<-told
		close(release)
		<-stopped

		st, err := r.Checkpoints().State(context.Background(), p.Name())
		if err != nil {
			t.Fatal(err)
		}
		if st.Checkpoint.IsZero() {
			t.Fatal("the batch in flight at stop was not committed")
		}
		var applied int
		if err := h.db.NewSelect().TableExpr("counter_applied").ColumnExpr("count(*)").
			Where("position <= ?", int64(st.Checkpoint.Commit)).Scan(context.Background(), &applied); err != nil {
			t.Fatal(err)
		}
		var total int
		if err := h.db.NewSelect().TableExpr("counter_applied").ColumnExpr("count(*)").Scan(context.Background(), &total); err != nil {
			t.Fatal(err)
		}
		if applied != int(st.Checkpoint.Commit) || total != applied {
			t.Fatalf("checkpoint %s but %d rows at or below it and %d in all: rows and checkpoint disagree", st.Checkpoint, applied, total)
		}
	})
}

func TestNewRunnerRefusesProjectionsItCannotRunSafely(t *testing.T) {
	db := &bun.DB{}
	for _, tc := range []struct {
		rule string
		ps   []Projection
	}{
		{"names are plain identifiers", []Projection{newCounter("Remaining-Incidents")}},
		{"a projection is registered once", []Projection{newCounter("a"), newCounter("a")}},
		{"a table has one owner", []Projection{namedTables{"a", []string{"t"}}, namedTables{"b", []string{"t"}}}},
		{"table names are plain identifiers", []Projection{namedTables{"a", []string{"t; drop"}}}},
		{"a projection owns at least one table", []Projection{namedTables{"a", nil}}},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if _, err := NewRunner(RunnerConfig{DB: db, JetStream: unusedJetStream{}, Store: emptyLog{}}, tc.ps...); err == nil {
				t.Fatal("NewRunner accepted it")
			}
		})
	}
}

func tableExists(t *testing.T, db *bun.DB, name string) bool {
	t.Helper()
	_, err := db.NewSelect().TableExpr("?", bun.Ident(name)).ColumnExpr("1").Limit(1).Exec(context.Background())
	return err == nil
}

// unusedJetStream and emptyLog fill RunnerConfig for tests that never reach NATS or
// the store; calling them would panic, which is the point.
type unusedJetStream struct{ jetstream.JetStream }

type emptyLog struct{}

func (emptyLog) ReadAll(context.Context, eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(func(eventstore.RecordedEvent, error) bool) {}
}

// namedTables is a projection that only has a name and tables.
type namedTables struct {
	name   string
	tables []string
}

func (n namedTables) Name() string                                  { return n.name }
func (n namedTables) Version() int                                  { return 1 }
func (n namedTables) Tables() []string                              { return n.tables }
func (n namedTables) Create(context.Context, bun.IDB, Tables) error { return nil }
func (n namedTables) Apply(context.Context, bun.Tx, Tables, []eventstore.RecordedEvent) error {
	return nil
}
