package sqldb_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
	"ledger/infra/testkit"
	"ledger/infra/testlog"
)

// fillWAL commits pages' worth (4 KiB each) of rows into a fresh table, one page a
// transaction.
func fillWAL(t *testing.T, db *bun.DB, pages int) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 4000)
	for range pages {
		if _, err := db.ExecContext(t.Context(), "INSERT INTO rows (body) VALUES (?)", body); err != nil {
			t.Fatal(err)
		}
	}
}

// openDerivedSQLite is a DerivedData handle on a fresh SQLite file, and the file's path.
func openDerivedSQLite(t *testing.T) (*bun.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "read.db")
	db, err := sqldb.OpenSQLite(t.Context(), path, sqldb.DerivedData())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A read-model commit never waits for a checkpoint's fsync: past SQLite's default of
// 1,000 pages it leaves the WAL alone (the database file does not grow), and
// CheckpointWAL, running apart, copies it into the database file.
func TestDerivedCommitsLeaveTheWALToTheCheckpointer(t *testing.T) {
	db, path := openDerivedSQLite(t)
	fillWAL(t, db, 2_000)
	if size := fileSize(t, path); size > 1<<20 {
		t.Fatalf("after 2,000 pages of commits the database file is %d bytes: a commit checkpointed the WAL", size)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sqldb.CheckpointWAL(ctx, db, 10*time.Millisecond, testlog.New(t, slog.LevelInfo))
	}()
	testkit.Eventually(t, "the checkpointer copies the WAL into the database file", func() bool {
		return fileSize(t, path) >= 2_000*4_000
	})
	cancel()
	<-done
}

// With no checkpointer running, the WAL of a derived handle still stops growing: past
// DerivedWALBackstopPages a commit checkpoints it, as SQLite does by default.
func TestDerivedCommitsCheckpointTheWALPastTheBackstop(t *testing.T) {
	db, path := openDerivedSQLite(t)
	fillWAL(t, db, sqldb.DerivedWALBackstopPages+500)
	if size := fileSize(t, path); size < sqldb.DerivedWALBackstopPages*4_000 {
		t.Fatalf("after %d pages of commits with no checkpointer the database file is %d bytes: no commit checkpointed the WAL",
			sqldb.DerivedWALBackstopPages+500, size)
	}
	if wal := fileSize(t, path+"-wal"); wal > (sqldb.DerivedWALBackstopPages+1_000)*4_200 {
		t.Fatalf("the WAL grew to %d bytes, past the backstop", wal)
	}
}

// On PostgreSQL there is no WAL of the ledger's to checkpoint: CheckpointWAL returns.
func TestCheckpointWALReturnsAtOnceOnPostgreSQL(t *testing.T) {
	db, err := sqldb.Open(t.Context(), sqldb.Postgres, targets[1].target(t), sqldb.DerivedData())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	sqldb.CheckpointWAL(ctx, db, time.Millisecond, testlog.New(t, slog.LevelInfo))
	if ctx.Err() != nil {
		t.Fatal("CheckpointWAL ran on PostgreSQL until its context ended")
	}
}
