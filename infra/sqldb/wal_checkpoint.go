package sqldb

import (
	"context"
	"log/slog"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// DerivedWALBackstopPages is the WAL size, in pages (4 KiB), past which a commit on a
// DerivedData SQLite handle still checkpoints the WAL itself, as every commit past
// SQLite's default of 1,000 pages otherwise does. It is reached only if no
// CheckpointWAL runs for the file, or the one that runs cannot keep up.
const DerivedWALBackstopPages = 10_000

// DefaultWALCheckpointInterval is how often CheckpointWAL copies the WAL into the
// database file: often enough that each checkpoint is small.
const DefaultWALCheckpointInterval = 100 * time.Millisecond

// CheckpointWAL copies the WAL of db's SQLite file into the database file every
// interval until ctx ends, off the path of any commit; on PostgreSQL it returns at once.
//
// A checkpoint ends with an fsync of the database file (in any synchronous mode), and
// SQLite runs it inside the commit that pushes the WAL past wal_autocheckpoint pages:
// that commit waited for the disk, tens of milliseconds on a busy one, although a
// DerivedData commit is otherwise never to wait for it. Here a PASSIVE checkpoint on a
// connection of its own takes that wait, while the writer goes on appending to the WAL
// (BenchmarkDerivedCommitsWithTheWALCheckpointedApart: commit p99 15 -> 3.7 ms). A
// failed checkpoint is logged and tried again at the next tick; the handle's
// DerivedWALBackstopPages bounds the WAL meanwhile.
func CheckpointWAL(ctx context.Context, db *bun.DB, interval time.Duration, logger *slog.Logger) {
	if db.Dialect().Name() != dialect.SQLite {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			logger.Warn("checkpointing the read database's WAL failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			logger.Info("checkpointing the read database's WAL works again")
			failing = false
		}
	}
}
