// Package sqldbtest makes a SQLite database fail the way it does on a full disk,
// without root and without filling a real disk, so tests of what a failed write does
// are deterministic.
package sqldbtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/sqliteshim"
	"modernc.org/sqlite"
)

var (
	registerHook sync.Once
	capped       sync.Map // SQLite file path -> struct{}: its new connections are capped
)

// FillDisk makes every write to the SQLite file at path that needs a new page fail
// with SQLITE_FULL ("database or disk is full"), as a full disk does, until the
// returned free is called. PRAGMA max_page_count lives in each connection, so every
// connection opened for the file caps it at its current size (a cap below the size is
// raised to it) and db opens a fresh connection for every use while the test runs:
// no pooled connection escapes the cap, nor keeps it after free.
// A write that fits in the free space of existing pages still succeeds, as on a real
// full disk: tests write more than a page to be sure to need a new one.
func FillDisk(t testing.TB, db *bun.DB, path string) (free func()) {
	t.Helper()
	registerHook.Do(func() {
		sqliteshim.Driver().(*sqlite.Driver).RegisterConnectionHook(capNewConnection)
	})
	db.SetConnMaxLifetime(time.Nanosecond) // database/sql drops an expired connection on its next use
	capped.Store(path, struct{}{})
	var once sync.Once
	free = func() { once.Do(func() { capped.Delete(path) }) }
	t.Cleanup(func() {
		free()
		db.SetConnMaxLifetime(0)
	})
	return free
}

func capNewConnection(conn sqlite.ExecQuerierContext, dsn string) error {
	path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if _, ok := capped.Load(path); !ok {
		return nil
	}
	_, err := conn.ExecContext(context.Background(), "PRAGMA max_page_count = 1", nil)
	return err
}
