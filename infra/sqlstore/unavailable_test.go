package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
	"ledger/infra/sqldb/sqldbtest"
	"ledger/infra/testkit"
)

// bigEvent is larger than a page, so appending it must grow the file.
func bigEvent(label string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: "Tested",
		Data: fmt.Appendf(nil, `{"label":%q,"pad":%q}`, label, strings.Repeat("x", 3*4096))}
}

type appendOutcomeOf struct {
	stream string
	event  eventstore.EventData
	err    error
}

// appendInBackground starts one append and reports its outcome on out.
func appendInBackground(t *testing.T, wg *sync.WaitGroup, s *Store, stream string, ev eventstore.EventData, out chan<- appendOutcomeOf) {
	wg.Go(func() {
		_, err := s.Append(bounded(t), stream, eventstore.NoStream(), ev)
		out <- appendOutcomeOf{stream, ev, err}
	})
}

// assertStream fails unless stream holds exactly the events with ids, in order.
func assertStream(t *testing.T, s *Store, stream string, ids ...string) {
	t.Helper()
	got, err := s.ReadStream(bounded(t), stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	var gotIDs []string
	for _, ev := range got {
		gotIDs = append(gotIDs, ev.ID)
	}
	if fmt.Sprint(gotIDs) != fmt.Sprint(ids) {
		t.Errorf("stream %s holds %v, want %v", stream, gotIDs, ids)
	}
}

// A full disk fails the append with ErrUnavailable instead of killing the process:
// every waiter of the failed group commit gets the error (none hangs, none is retried
// one by one against the full disk), nothing of theirs is readable, and once space is
// freed the store takes the very same appends.
func TestAFullDiskFailsEveryWaiterOfAGroupCommitAsUnavailableAndTheStoreRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	s := openAt(t, "sqlite", path, Options{})
	before := event("before the disk filled")
	if _, err := s.Append(bounded(t), "kept", eventstore.NoStream(), before); err != nil {
		t.Fatal(err)
	}
	headBefore, _ := s.Head(bounded(t))

	free := sqldbtest.FillDisk(t, s.DB(), path)
	release := holdWriter(t, s) // so that the appends below queue up into one batch
	var wg sync.WaitGroup
	outcomes := make(chan appendOutcomeOf, 16)
	appendInBackground(t, &wg, s, "first", bigEvent("first"), outcomes)
	testkit.Eventually(t, "writer picks up the first append", func() bool { return s.Stats().Writing == 1 })
	for i := range 8 {
		appendInBackground(t, &wg, s, fmt.Sprintf("grouped-%d", i), bigEvent("grouped"), outcomes)
	}
	testkit.Eventually(t, "8 appends queue behind the held lock", func() bool { return s.Stats().Queued == 8 })
	release()
	wg.Wait()
	close(outcomes)

	var failed []appendOutcomeOf
	for o := range outcomes {
		if !errors.Is(o.err, eventstore.ErrUnavailable) {
			t.Errorf("append to %s on a full disk: %v, want ErrUnavailable", o.stream, o.err)
		}
		failed = append(failed, o)
	}
	if st := s.Stats(); st.Commits != 1 || st.Appends != 1 {
		t.Errorf("stats %+v: want only the first append committed, in 1 transaction", st)
	}
	if head, _ := s.Head(bounded(t)); head != headBefore {
		t.Errorf("head moved from %s to %s on a full disk", headBefore, head)
	}
	for _, o := range failed {
		assertStream(t, s, o.stream) // nothing half-written
	}

	free()
	for _, o := range failed {
		if _, err := s.Append(bounded(t), o.stream, eventstore.NoStream(), o.event); err != nil {
			t.Fatalf("append to %s after space was freed: %v", o.stream, err)
		}
		assertStream(t, s, o.stream, o.event.ID)
	}
	assertStream(t, s, "kept", before.ID)
}

// A write lock another connection holds past the busy timeout fails the append with
// ErrUnavailable (not a panic, not a hang); the append succeeds once the lock is free.
func TestAWriteLockHeldPastTheBusyTimeoutFailsTheAppendAsUnavailable(t *testing.T) {
	ctx := bounded(t)
	const busyTimeout = 200 * time.Millisecond
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "events.db"), sqldb.WithBusyTimeout(busyTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(ctx, db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	release := holdWriter(t, s) // BEGIN IMMEDIATE on a second connection
	ev := event("behind the lock")
	start := time.Now()
	_, err = s.Append(ctx, "locked", eventstore.NoStream(), ev)
	t.Logf("the append answered after %s with: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append behind a lock held past the busy timeout: %v, want ErrUnavailable", err)
	}
	assertStream(t, s, "locked")

	release()
	if _, err := s.Append(ctx, "locked", eventstore.NoStream(), ev); err != nil {
		t.Fatalf("append once the lock is released: %v", err)
	}
	assertStream(t, s, "locked", ev.ID)
}

// A PostgreSQL backend terminated while the store's transaction waits in it fails that
// append with ErrUnavailable; every append acknowledged is stored; the store works again
// at once, on fresh connections.
func TestATerminatedPostgresBackendFailsTheAppendAsUnavailableAndTheStoreRecovers(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	s := openAt(t, "postgres", dsn, Options{})
	ctx := bounded(t)
	acked := map[string]string{} // stream -> event ID of every acknowledged append
	for i := range 3 {
		ev := event("before")
		stream := fmt.Sprintf("before-%d", i)
		if _, err := s.Append(ctx, stream, eventstore.NoStream(), ev); err != nil {
			t.Fatal(err)
		}
		acked[stream] = ev.ID
	}

	admin := otherPostgresSession(t, dsn) // another process: holds the append lock, kills backends
	if _, err := admin.ExecContext(ctx, "SELECT pg_advisory_lock(?)", appendLockKey); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outcomes := make(chan appendOutcomeOf, 16)
	first := event("in flight")
	appendInBackground(t, &wg, s, "in-flight", first, outcomes)
	testkit.Eventually(t, "the store's transaction waits for the append lock", func() bool {
		return storeWaitsForTheLock(ctx, admin)
	})
	var killed int
	if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM (
		SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()) AS terminated`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	t.Logf("terminated %d backends of the store", killed)
	out := <-outcomes
	if !errors.Is(out.err, eventstore.ErrUnavailable) {
		t.Fatalf("append whose backend was terminated: %v, want ErrUnavailable", out.err)
	}
	for i := range 4 { // queue behind the lock the other process still holds
		ev := event("after")
		appendInBackground(t, &wg, s, fmt.Sprintf("after-%d", i), ev, outcomes)
	}
	testkit.Eventually(t, "the next transaction waits for the lock, on a fresh connection", func() bool {
		return s.Stats().Writing+s.Stats().Queued == 4 && storeWaitsForTheLock(ctx, admin)
	})
	if _, err := admin.ExecContext(ctx, "SELECT pg_advisory_unlock(?)", appendLockKey); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(outcomes)
	for o := range outcomes {
		if o.err != nil {
			t.Errorf("append to %s after the backends were terminated: %v", o.stream, o.err)
			continue
		}
		acked[o.stream] = o.event.ID
	}

	if _, err := s.Append(ctx, "in-flight", eventstore.NoStream(), first); err != nil {
		t.Fatalf("the failed append, tried again: %v", err)
	}
	acked["in-flight"] = first.ID
	for stream, id := range acked {
		assertStream(t, s, stream, id)
	}
}

// otherPostgresSession is one connection to the database at dsn outside the store's
// pool, the way another process would hold one.
func otherPostgresSession(t *testing.T, dsn string) bun.Conn {
	t.Helper()
	db, err := sqldb.OpenPostgres(bounded(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(bounded(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// storeWaitsForTheLock tells whether a transaction of the store waits for the append
// lock (pg_advisory_xact_lock) another session holds.
func storeWaitsForTheLock(ctx context.Context, other bun.Conn) bool {
	var waiting int
	err := other.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&waiting)
	return err == nil && waiting == 1
}

// An append the database itself refuses for its own reason (here a trigger standing
// for a constraint another process added) fails alone: the group commit it was in is
// retried one by one, the other appends are stored, and no waiter is left unanswered.
func TestAnAppendTheDatabaseRefusesFailsAloneInItsGroupCommit(t *testing.T) {
	s := openToBeHeld(t, "sqlite", Options{})
	ctx := bounded(t)
	if _, err := s.DB().ExecContext(ctx, `CREATE TRIGGER refuse_poison BEFORE INSERT ON event_log
		WHEN NEW.stream = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END`); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	var wg sync.WaitGroup
	outcomes := make(chan appendOutcomeOf, 16)
	appendInBackground(t, &wg, s, "first", event("first"), outcomes)
	testkit.Eventually(t, "writer picks up the first append", func() bool { return s.Stats().Writing == 1 })
	for _, stream := range []string{"healthy-1", "poison", "healthy-2"} {
		appendInBackground(t, &wg, s, stream, event(stream), outcomes)
	}
	testkit.Eventually(t, "3 appends queue behind the held lock", func() bool { return s.Stats().Queued == 3 })
	release()
	wg.Wait()
	close(outcomes)
	for o := range outcomes {
		switch {
		case o.stream == "poison" && (o.err == nil || errors.Is(o.err, eventstore.ErrUnavailable)):
			t.Errorf("the refused append answered %v, want the database's refusal", o.err)
		case o.stream == "poison":
			assertStream(t, s, o.stream)
		case o.err != nil:
			t.Errorf("append to %s beside the refused one: %v", o.stream, o.err)
		default:
			assertStream(t, s, o.stream, o.event.ID)
		}
	}
}
