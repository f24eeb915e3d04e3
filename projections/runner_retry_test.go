package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"

	"ledger/infra/pgtest"
)

// The runner retries what a wait can fix and dead-letters what it cannot; these are
// real driver errors, produced by real databases.
func TestTransientErrorsAreToldFromRefusals(t *testing.T) {
	busy, constraint := sqliteErrors(t)
	lockNotAvailable, unique := postgresErrors(t)
	for _, tc := range []struct {
		rule      string
		err       error
		transient bool
	}{
		{"a busy SQLite database is retried", busy, true},
		{"a SQLite constraint violation is not", constraint, false},
		{"a PostgreSQL lock timeout is retried", lockNotAvailable, true},
		{"a PostgreSQL unique violation is not", unique, false},
		{"a checkpoint moved by another runner is retried", fmt.Errorf("x: %w", errCheckpointMoved), true},
		{"a projection's own error is not", errors.New("unknown event shape"), false},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("the database did not produce the error")
			}
			if got := isTransient(&applyError{tc.err}); got != tc.transient {
				t.Fatalf("isTransient(%v) = %v", tc.err, got)
			}
			if got := isPoison(&applyError{tc.err}); got == tc.transient {
				t.Fatalf("isPoison(%v) = %v", tc.err, got)
			}
		})
	}
}

// sqliteErrors: a write while another connection holds the write lock, with no busy
// timeout; and a primary-key violation.
func sqliteErrors(t *testing.T) (busy, constraint error) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	open := func() *sql.DB {
		db, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	tx, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	_, busy = b.ExecContext(ctx, "INSERT INTO t VALUES (2)")
	_, constraint = tx.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	return busy, constraint
}

// postgresErrors: a row lock not granted (NOWAIT), and a unique violation.
func postgresErrors(t *testing.T) (lockNotAvailable, unique error) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	open := func() *sql.DB {
		db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	if _, err := a.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	tx, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT id FROM t WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	_, lockNotAvailable = b.ExecContext(ctx, "SELECT id FROM t WHERE id = 1 FOR UPDATE NOWAIT")
	_, unique = b.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	return lockNotAvailable, unique
}
