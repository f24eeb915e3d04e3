package privacy

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
)

// CompactSQLite rewrites a SQLite database without its free pages and empties its WAL,
// so bytes of deleted rows (an erased key, a dropped snapshot or read-model row) are
// gone from the files, not merely unlinked. On PostgreSQL it does nothing: deleted
// tuples are reclaimed by VACUUM, which operators schedule (see the README).
func CompactSQLite(db *bun.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if sqldb.DialectOf(db) != sqldb.SQLite {
			return nil
		}
		for _, stmt := range []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("compact: %s: %w", stmt, err)
			}
		}
		return nil
	}
}
