package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// compared is what compareAndSwap compared: the tables, and the positions the new and
// the live generation stood at.
type compared struct {
	tables      []TableDiff
	built, live eventstore.Position
}

// liveAt is the live generation's position when it differs from the new one's.
func (c compared) liveAt() string {
	if c.live == c.built {
		return ""
	}
	return c.live.String()
}

// compareAndSwap is the last step of a rebuild, one transaction: hold the live
// generation's checkpoint row (its runner waits), bring the generation that is behind
// up to the other's position, diff the two, then swap (or, for a dry run, drop the new
// one). Readers see the old views until it commits and the new ones after. A live
// generation written by another version of the code is not brought forward: this code
// may not fit its tables (a version bump changes the schema), so the diff then compares
// it where it stands.
func compareAndSwap(ctx context.Context, db *bun.DB, store EventLog, p Projection, live State, row rebuildRow, opts RebuildOptions) (compared, error) {
	var diffs []TableDiff
	var at, liveAt eventstore.Position
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := time.Now().UTC()
		res, err := tx.NewUpdate().Model((*stateRow)(nil)).Set("updated_at = ?", now).
			Where("name = ?", p.Name()).Where("generation = ?", live.Generation).Exec(ctx)
		if err != nil {
			return fmt.Errorf("lock the live generation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("generation %d is no longer live: %w", live.Generation, errCheckpointMoved)
		}
		cur, err := loadState(ctx, tx, p.Name())
		if err != nil {
			return err
		}
		built := row.position()
		at, liveAt = built, built
		furthest := cur.Checkpoint // the lowest partition's; the furthest one's below
		for _, cp := range cur.Partitions {
			if furthest.Less(cp) {
				furthest = cp
			}
		}
		sameVersion := cur.Version == p.Version()
		switch {
		case !sameVersion && cur.Checkpoint.Less(built):
			liveAt = cur.Checkpoint
		case built.Less(furthest):
			at, liveAt = furthest, furthest
			if err := foldInTx(ctx, tx, store, p, row.Generation, built, at, opts.BatchSize, allEvents); err != nil {
				return err
			}
		}
		// A live partition that is behind (or stopped): do its work, as its runner would
		// have; not when another version of the code wrote it (see above).
		for k, cp := range cur.Partitions {
			if !sameVersion || !cp.Less(at) {
				continue
			}
			if err := foldInTx(ctx, tx, store, p, cur.Generation, cp, at, opts.BatchSize, inPartition(k, len(cur.Partitions))); err != nil {
				return err
			}
			part := cur
			part.Partition, part.Checkpoint, part.Owner = k, cp, "" // the owner stays the runner that holds it
			if err := advance(ctx, tx, part, at, nil); err != nil {
				return err
			}
		}
		for _, logical := range p.Tables() {
			d, err := diffTables(ctx, tx, logical, PhysicalName(logical, cur.Generation), PhysicalName(logical, row.Generation), opts.SampleSize)
			if err != nil {
				return err
			}
			diffs = append(diffs, d)
		}
		if opts.DryRun {
			if err := dropGeneration(ctx, tx, p, row.Generation); err != nil {
				return err
			}
			if _, err := tx.NewDelete().Model((*deadLetterRow)(nil)).
				Where("projection = ?", p.Name()).Where("generation = ?", row.Generation).Exec(ctx); err != nil {
				return fmt.Errorf("clear dead letters: %w", err)
			}
		} else if err := swapInTx(ctx, tx, p, cur.Generation, row.Generation, at); err != nil {
			return err
		}
		return finishRebuild(ctx, tx, row, RebuildDone, "")
	})
	if err != nil {
		return compared{}, fmt.Errorf("compare and swap: %w", err)
	}
	return compared{tables: diffs, built: at, live: liveAt}, nil
}

// swapInTx makes generation to, at position at, the live one: state row, views, and
// the old generation's tables dropped.
func swapInTx(ctx context.Context, tx bun.Tx, p Projection, from, to int, at eventstore.Position) error {
	_, err := tx.NewUpdate().Model((*stateRow)(nil)).
		Set("version = ?", p.Version()).Set("generation = ?", to).
		Set("checkpoint_commit = ?", int64(at.Commit)).Set("checkpoint_prepare = ?", int64(at.Prepare)).
		Set("status = ?", string(StatusLive)).Set("error = ''").Set("updated_at = ?", time.Now().UTC()).
		Where("name = ?", p.Name()).Where("generation = ?", from).Exec(ctx)
	if err != nil {
		return fmt.Errorf("swap %s to generation %d: %w", p.Name(), to, err)
	}
	if err := pointViews(ctx, tx, p, to); err != nil {
		return err
	}
	return dropGeneration(ctx, tx, p, from)
}

// allEvents keeps every event of the log; inPartition(k, n) those of partition k of n.
func allEvents(eventstore.RecordedEvent) bool { return true }

func inPartition(k, n int) func(eventstore.RecordedEvent) bool {
	return func(ev eventstore.RecordedEvent) bool { return partition.OfStream(ev.Stream, n) == k }
}

// foldInTx folds the events after from up to and including to that keep selects into
// generation gen, inside tx. A refused event fails the whole step: the transaction rolls back and the
// rebuild can be run again.
func foldInTx(ctx context.Context, tx bun.Tx, store EventLog, p Projection, gen int, from, to eventstore.Position, batchSize int, keep func(eventstore.RecordedEvent) bool) error {
	tables := TablesFor(p, gen)
	batch := make([]eventstore.RecordedEvent, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := p.Apply(ctx, tx, tables, batch); err != nil {
			return fmt.Errorf("generation %d: apply up to %s: %w", gen, batch[len(batch)-1].Position, err)
		}
		batch = batch[:0]
		return nil
	}
	for ev, err := range store.ReadAll(ctx, from) {
		if err != nil {
			return fmt.Errorf("read the log: %w", err)
		}
		if to.Less(ev.Position) {
			break
		}
		if !keep(ev) {
			continue
		}
		batch = append(batch, ev)
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
