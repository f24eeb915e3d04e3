package projections

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// txGroupFixture is a SQLite read database with a table each batch writes its name
// into, the live projectors' txGroup on it, and a count of the transactions committed.
type txGroupFixture struct {
	t       *testing.T
	db      *bun.DB
	g       *txGroup
	commits atomic.Int32
}

type commitCounter struct{ n *atomic.Int32 }

func (c commitCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}
func (c commitCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if e.Query == "COMMIT" && e.Err == nil {
		c.n.Add(1)
	}
}

func newTxGroupFixture(t *testing.T) *txGroupFixture {
	db, err := sqldb.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(context.Background(), "CREATE TABLE applied (batch TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	f := &txGroupFixture{t: t, db: db, g: newTxGroup(db)}
	db.AddQueryHook(commitCounter{&f.commits})
	return f
}

// write is a batch that records its name, then fails with err if err is set.
func write(name string, err error) func(ctx context.Context, tx bun.Tx) error {
	return func(ctx context.Context, tx bun.Tx) error {
		if _, e := tx.ExecContext(ctx, "INSERT INTO applied (batch) VALUES (?)", name); e != nil {
			return e
		}
		return err
	}
}

// behindACommit runs first (holding the group's transaction until the others queue
// behind it), then the others at once; it returns each batch's outcome, by name.
func (f *txGroupFixture) behindACommit(first func(ctx context.Context, tx bun.Tx) error, others map[string]func(ctx context.Context, tx bun.Tx) error) map[string]error {
	f.t.Helper()
	release, holding := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[string]error{}
	wg.Go(func() {
		err := f.g.run(context.Background(), func(ctx context.Context, tx bun.Tx) error {
			close(holding)
			<-release
			return first(ctx, tx)
		})
		mu.Lock()
		out["first"] = err
		mu.Unlock()
	})
	<-holding
	for name, fn := range others {
		wg.Go(func() {
			err := f.g.run(context.Background(), fn)
			mu.Lock()
			out[name] = err
			mu.Unlock()
		})
	}
	testkit.Eventually(f.t, "every other batch queued behind the commit", func() bool {
		f.g.mu.Lock()
		defer f.g.mu.Unlock()
		return len(f.g.queue) == len(others)
	})
	close(release)
	wg.Wait()
	return out
}

func (f *txGroupFixture) applied() map[string]bool {
	f.t.Helper()
	var names []string
	if err := f.db.NewSelect().Table("applied").Column("batch").Scan(context.Background(), &names); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// Issue 10: the read models' batches that queue on SQLite's one writer while a
// transaction commits are committed together in the next one: one fsync for the round,
// not one per read model, and every batch applied.
func TestReadModelBatchesQueuedBehindACommitShareTheNextTransaction(t *testing.T) {
	f := newTxGroupFixture(t)
	out := f.behindACommit(write("first", nil), map[string]func(context.Context, bun.Tx) error{
		"incidents": write("incidents", nil), "remaining_incidents": write("remaining_incidents", nil),
		"support_plans": write("support_plans", nil), "benefits_overview": write("benefits_overview", nil),
	})
	for name, err := range out {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := f.applied(); len(got) != 5 {
		t.Errorf("applied %v, want all five batches", got)
	}
	if n := f.commits.Load(); n != 2 {
		t.Errorf("%d transactions committed the five batches, want 2: the one in progress and one for the four queued behind it", n)
	}
}

// A batch that fails in a group is rolled back alone (its savepoint): the read models
// committed with it are applied, it is not, and its projector gets its own error.
func TestABatchThatFailsInAGroupIsRolledBackAloneAndTheOthersCommit(t *testing.T) {
	f := newTxGroupFixture(t)
	refused := errors.New("the projection refused the batch")
	out := f.behindACommit(write("first", nil), map[string]func(context.Context, bun.Tx) error{
		"incidents": write("incidents", nil), "refused": write("refused", refused), "support_plans": write("support_plans", nil),
	})
	if !errors.Is(out["refused"], refused) {
		t.Errorf("the failing batch got %v, want its own error", out["refused"])
	}
	for _, name := range []string{"first", "incidents", "support_plans"} {
		if out[name] != nil {
			t.Errorf("%s: %v, want committed", name, out[name])
		}
	}
	got := f.applied()
	if got["refused"] || !got["incidents"] || !got["support_plans"] || !got["first"] {
		t.Errorf("applied %v, want every batch but the refused one", got)
	}
}

// When the transaction itself is lost (SQLite rolls it back whole, as on a full disk),
// every batch of the group is told so and none is applied: no projector moves its
// checkpoint past events that were not committed.
func TestWhenAGroupsTransactionIsLostNoBatchOfItCountsAsCommitted(t *testing.T) {
	f := newTxGroupFixture(t)
	lost := func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, "ROLLBACK") // what SQLite does by itself on SQLITE_FULL
		return err
	}
	out := f.behindACommit(write("first", nil), map[string]func(context.Context, bun.Tx) error{
		"incidents": write("incidents", nil), "lost": lost,
	})
	if out["first"] != nil {
		t.Errorf("first (its own transaction): %v", out["first"])
	}
	for _, name := range []string{"incidents", "lost"} {
		if out[name] == nil {
			t.Errorf("%s: committed, want the group's failure", name)
		}
	}
	if got := f.applied(); len(got) != 1 || !got["first"] {
		t.Errorf("applied %v, want only the first batch, of the transaction before", got)
	}
}

// leadWhilePlanning starts a batch named lead in the group while another projector has
// announced a batch it is still planning (planned), and returns once lead has either
// committed or is waiting for that batch; done closes when lead's run returns.
func (f *txGroupFixture) leadWhilePlanning(planned *plannedBatch) (done chan struct{}, leadErr *error) {
	f.t.Helper()
	done, leadErr = make(chan struct{}), new(error)
	go func() {
		*leadErr = f.g.run(context.Background(), write("lead", nil))
		close(done)
	}()
	testkit.Eventually(f.t, "the leading batch committed or waits for the planned one", func() bool {
		select {
		case <-done:
			return true
		default:
		}
		f.g.mu.Lock()
		defer f.g.mu.Unlock()
		return f.g.awaiting
	})
	return done, leadErr
}

// Every read model receives every event at about the same time: the first projector to
// plan it used to commit it alone and the others in a second transaction, so a query
// waiting for one of them waited for two commits (and two fsyncs). A group now waits for
// the projectors that already hold deliveries, and commits the event in one transaction.
func TestReadModelsReceivingTheSameEventCommitItInOneTransaction(t *testing.T) {
	f := newTxGroupFixture(t)
	planned := f.g.expect() // remaining_incidents got the event and is planning its batch
	done, leadErr := f.leadWhilePlanning(planned)
	err := f.g.run(withPlannedBatch(context.Background(), planned), write("remaining_incidents", nil))
	<-done
	if err != nil || *leadErr != nil {
		t.Fatalf("remaining_incidents: %v; lead: %v", err, *leadErr)
	}
	if got := f.applied(); !got["lead"] || !got["remaining_incidents"] {
		t.Errorf("applied %v, want both batches", got)
	}
	if n := f.commits.Load(); n != 1 {
		t.Errorf("%d transactions committed the two read models' batches of one event, want 1", n)
	}
}

// A projector that announced a batch and then finds nothing to commit (its deliveries
// were redeliveries, or it stops before a gap) lets the waiting group go: no read model
// is held back by another's empty plan.
func TestAProjectorWithNothingToCommitDoesNotHoldBackTheOthers(t *testing.T) {
	f := newTxGroupFixture(t)
	planned := f.g.expect()
	done, leadErr := f.leadWhilePlanning(planned)
	planned.settle() // every delivery was at or below its checkpoint
	planned.settle() // settling twice counts once
	testkit.Eventually(t, "the leading batch committed", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if *leadErr != nil {
		t.Fatal(*leadErr)
	}
	if got := f.applied(); !got["lead"] {
		t.Errorf("applied %v, want the leading batch", got)
	}
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	if f.g.planning != 0 {
		t.Errorf("%d batches still counted as planning, want 0", f.g.planning)
	}
}
