package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"ledger/infra/pgtest"
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
