package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// TestMain stops the throwaway PostgreSQL server after the tests.
func TestMain(m *testing.M) { pgtest.Main(m) }

// dialects are the two databases every test below runs on.
var dialects = []struct {
	name string
	open func(t testing.TB, opts Options) *Store
}{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

func openSQLite(t testing.TB, opts Options) *Store {
	t.Helper()
	return openAt(t, "sqlite", filepath.Join(t.TempDir(), "events.db"), opts)
}

func openPostgres(t testing.TB, opts Options) *Store {
	t.Helper()
	return openAt(t, "postgres", pgtest.NewDatabase(t), opts)
}

// openAt opens a store on an existing database (a second Store on it stands for a
// second process).
func openAt(t testing.TB, dialect, target string, opts Options) *Store {
	t.Helper()
	open := OpenSQLite
	if dialect == "postgres" {
		open = OpenPostgres
	}
	s, err := open(context.Background(), target, opts)
	if err != nil {
		t.Fatalf("open %s event store: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openToBeHeld opens a store whose writer holdWriter will block: on SQLite its writer
// waits for the held lock as long as a test may hang (testkit.HangBound), not the
// default busy timeout. With the default, a test that queues many appends behind the
// held lock on a loaded machine saw the held append fail as "database is locked" before
// it had queued them all, and then waited for a queue that could no longer form.
func openToBeHeld(t testing.TB, dialect string, opts Options) *Store {
	t.Helper()
	if dialect != "sqlite" {
		return openPostgres(t, opts)
	}
	db, err := sqldb.Open(context.Background(), sqldb.SQLite, filepath.Join(t.TempDir(), "events.db"),
		sqldb.WithBusyTimeout(testkit.HangBound))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); db.Close() })
	return s
}
