package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/retry"
)

// rebuildAtStartup is how Setup brings a read model whose Version changed up to this
// binary's code: through the one rebuild engine (RebuildAndCompare), so a version bump
// builds with read-ahead, records its progress batch by batch, and a process killed
// half-way resumes where it stopped on its next start instead of starting over. The live
// generation keeps answering queries until the swap.
//
// If another process is rebuilding the same read model (two projectors upgraded at
// once), this one waits for it: once the state row carries this Version it has nothing
// left to do; if the other process died, its lease runs out and this one takes the
// rebuild over and resumes it.
func rebuildAtStartup(ctx context.Context, db *bun.DB, store EventLog, p Projection, log *slog.Logger) error {
	bo := retry.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		rep, err := RebuildAndCompare(ctx, db, store, p, RebuildOptions{Logger: log})
		if err == nil {
			log.Info("projection rebuilt for its new version", "projection", p.Name(), "from_version", rep.FromVersion,
				"to_version", rep.ToVersion, "events", rep.Events, "resumed", rep.Resumed, "unchanged", rep.Unchanged())
			return nil
		}
		if !errors.Is(err, ErrRebuildRunning) {
			return err
		}
		st, serr := loadState(ctx, db, p.Name())
		if serr == nil && st.Version == p.Version() {
			return nil // the other process swapped this version in
		}
		log.Info("waiting for another process's rebuild of this read model", "projection", p.Name(), "err", err)
		if !retry.Sleep(ctx, bo.Next()) {
			return fmt.Errorf("rebuild %s at start-up: %w (waiting for: %w)", p.Name(), ctx.Err(), err)
		}
	}
}
