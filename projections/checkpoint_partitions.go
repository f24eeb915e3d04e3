package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// repartition gives a read model exactly n partition rows, right after a rebuild swapped
// in a generation built from the store: every row then holds the build's position, so a
// new partition starts there too (every event up to it is applied, whatever partition it
// falls in now). It refuses rows that disagree: a runner with the old count still
// applying would make the copy wrong.
func repartition(ctx context.Context, db *bun.DB, name string, n int) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var rows []stateRow
		if err := tx.NewSelect().Model(&rows).Where("name = ?", name).Order("partition_no").Scan(ctx); err != nil {
			return fmt.Errorf("projection %s: repartition: %w", name, err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("%w: %s", ErrUnknownProjection, name)
		}
		if len(rows) == n {
			return nil
		}
		for _, r := range rows[1:] {
			if r.checkpoint() != rows[0].checkpoint() || r.Generation != rows[0].Generation {
				return fmt.Errorf("projection %s: repartition into %d: partitions at different positions "+
					"(another projector with the old --projection-partitions still runs?)", name, n)
			}
		}
		if _, err := tx.NewDelete().Model((*stateRow)(nil)).Where("name = ?", name).
			Where("partition_no >= ?", n).Exec(ctx); err != nil {
			return fmt.Errorf("projection %s: repartition: %w", name, err)
		}
		var add []stateRow
		for k := len(rows); k < n; k++ {
			r := rows[0]
			r.Partition, r.UpdatedAt = k, time.Now().UTC()
			add = append(add, r)
		}
		if len(add) > 0 {
			if _, err := tx.NewInsert().Model(&add).Exec(ctx); err != nil {
				return fmt.Errorf("projection %s: repartition: %w", name, err)
			}
		}
		return nil
	})
}

// migrateStateToPartitions turns a projection_state made before partitions (one row per
// read model, keyed by name) into partition 0 of each, keyed by (name, partition_no).
func migrateStateToPartitions(ctx context.Context, db bun.IDB) error {
	// Unquoted: SQLite reads an unknown double-quoted identifier as a string.
	if _, err := db.ExecContext(ctx, "SELECT partition_no FROM projection_state WHERE 1 = 0"); err == nil {
		return nil
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "ALTER TABLE projection_state RENAME TO projection_state_unpartitioned"); err != nil {
			return err
		}
		if _, err := tx.NewCreateTable().Model((*stateRow)(nil)).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO projection_state (name, partition_no, version, generation,
			checkpoint_commit, checkpoint_prepare, status, error, updated_at)
			SELECT name, 0, version, generation, checkpoint_commit, checkpoint_prepare, status, error, updated_at
			FROM projection_state_unpartitioned`)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DROP TABLE projection_state_unpartitioned")
		return err
	})
}
