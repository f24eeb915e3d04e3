package privacy

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
)

// Compact returns a follow-up that rewrites tables so bytes of deleted rows (an erased
// key, a dropped snapshot or read-model row) are gone from the database's files, not
// merely unlinked or marked dead:
//   - SQLite: the whole file without its free pages (VACUUM) and an empty WAL; tables
//     are not needed.
//   - PostgreSQL: VACUUM FULL of tables (every table of the database when none is
//     named), which writes each table and its indexes anew and unlinks the old files;
//     a plain VACUUM would only mark the dead tuples' space reusable, bytes intact.
//
// The rewrite takes an exclusive lock on each table for its duration; erasures are rare.
// PostgreSQL's WAL still holds the rows as inserted: see PurgeWAL.
func Compact(db *bun.DB, tables ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var stmts []string
		var args []any
		switch sqldb.DialectOf(db) {
		case sqldb.SQLite:
			stmts = []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"}
		case sqldb.Postgres:
			placeholders := make([]string, len(tables))
			for i, t := range tables {
				placeholders[i], args = "?", append(args, bun.Ident(t))
			}
			stmts = []string{strings.TrimSpace("VACUUM FULL " + strings.Join(placeholders, ", "))}
		}
		for _, stmt := range stmts {
			if _, err := db.ExecContext(ctx, stmt, args...); err != nil {
				return fmt.Errorf("compact: %s %v: %w", stmt, tables, err)
			}
		}
		return nil
	}
}

// PurgeWAL returns a follow-up that, on PostgreSQL, ends the WAL segment holding the
// rows written before the erasure and checkpoints past it, so the server removes (or,
// with wal_recycle on, renames for reuse) the segments that held the plaintext. It
// must run after every other follow-up, whose writes land in the WAL too. It needs the
// pg_checkpoint role and EXECUTE on pg_switch_wal (or a superuser). Segments kept for
// archiving, replication slots or wal_keep_size stay: the operator owns those. On
// SQLite it does nothing (Compact empties the WAL).
func PurgeWAL(db *bun.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if sqldb.DialectOf(db) != sqldb.Postgres {
			return nil
		}
		for _, stmt := range []string{"CHECKPOINT", "SELECT pg_switch_wal()", "CHECKPOINT"} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("purge WAL: %s: %w", stmt, err)
			}
		}
		return nil
	}
}
