package transparency

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"ledger/infra/sqldb"
)

// The tree's tables sit beside the event log in its SQL database (or, for EventStoreDB,
// in the read database): they are derived from the log and recomputable from it, and
// their authority comes from the signed checkpoints, not from where they are kept.
//
//   - tlog_hashes: tlog's stored-hash layout, one row per hash index, written once.
//   - tlog_leaves: leaf index -> the event's global position, and its leaf hash again
//     so an auditor's walk can page through the leaves in order.
//   - tlog_checkpoints: every signed checkpoint published, by signing key and tree
//     size: after a key rotation the old key's checkpoints stay, and the new key signs
//     the same tree afresh.
var schema = map[sqldb.Dialect][]string{
	sqldb.SQLite: {
		`CREATE TABLE IF NOT EXISTS tlog_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS tlog_leaves (idx INTEGER PRIMARY KEY, pos_commit INTEGER NOT NULL, pos_prepare INTEGER NOT NULL, leaf_hash BLOB NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS tlog_leaves_position ON tlog_leaves (pos_commit, pos_prepare)`,
		`CREATE TABLE IF NOT EXISTS tlog_checkpoints (size INTEGER NOT NULL, verifier_key TEXT NOT NULL, note TEXT NOT NULL, published_at TIMESTAMP NOT NULL, PRIMARY KEY (verifier_key, size))`,
	},
	sqldb.Postgres: {
		`CREATE TABLE IF NOT EXISTS tlog_hashes (idx BIGINT PRIMARY KEY, hash BYTEA NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS tlog_leaves (idx BIGINT PRIMARY KEY, pos_commit BIGINT NOT NULL, pos_prepare BIGINT NOT NULL, leaf_hash BYTEA NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS tlog_leaves_position ON tlog_leaves (pos_commit, pos_prepare)`,
		`CREATE TABLE IF NOT EXISTS tlog_checkpoints (size BIGINT NOT NULL, verifier_key TEXT NOT NULL, note TEXT NOT NULL, published_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (verifier_key, size))`,
	},
}

// createSchema makes the tables if they are not there yet.
func createSchema(ctx context.Context, db *bun.DB) error {
	for _, stmt := range schema[sqldb.DialectOf(db)] {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("transparency: create tables: %w", err)
		}
	}
	return nil
}
