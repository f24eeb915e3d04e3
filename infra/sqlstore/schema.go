package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"

	"ledger/infra/sqldb"
)

// eventRow is one row of the event log, the only table the store writes.
type eventRow struct {
	bun.BaseModel `bun:"table:event_log"`

	Position   int64     `bun:"position,pk"` // 1, 2, 3 ... in commit order
	EventID    string    `bun:"event_id"`    // canonical UUID, unique across the log
	Stream     string    `bun:"stream"`
	Revision   int64     `bun:"revision"` // 0, 1, 2 ... within the stream
	Type       string    `bun:"type"`
	Data       []byte    `bun:"data"`     // bytes as appended, not re-encoded JSON
	Metadata   []byte    `bun:"metadata"` // empty when none
	RecordedAt time.Time `bun:"recorded_at"`
}

// The schema is plain SQL per dialect so that types are exactly what we mean: bytea and
// blob keep the JSON bytes as appended (jsonb would reorder keys), and
// unique (stream, revision) is both the stream index and the last line of defence
// against two writers taking the same revision.
var schemaV1 = map[sqldb.Dialect][]string{
	sqldb.SQLite: {`CREATE TABLE IF NOT EXISTS event_log (
		position    INTEGER PRIMARY KEY,
		event_id    TEXT    NOT NULL UNIQUE,
		stream      TEXT    NOT NULL,
		revision    INTEGER NOT NULL,
		type        TEXT    NOT NULL,
		data        BLOB    NOT NULL,
		metadata    BLOB    NOT NULL,
		recorded_at TIMESTAMP NOT NULL,
		UNIQUE (stream, revision)
	)`},
	sqldb.Postgres: {`CREATE TABLE IF NOT EXISTS event_log (
		position    BIGINT      PRIMARY KEY,
		event_id    TEXT        NOT NULL UNIQUE,
		stream      TEXT        NOT NULL,
		revision    BIGINT      NOT NULL,
		type        TEXT        NOT NULL,
		data        BYTEA       NOT NULL,
		metadata    BYTEA       NOT NULL,
		recorded_at TIMESTAMPTZ NOT NULL,
		UNIQUE (stream, revision)
	)`},
}

// snapshotSchema is a table beside the log, one row per stream (snapshot.go): never in
// the log, so nothing that reads the log can mistake a snapshot for an event.
var snapshotSchema = map[sqldb.Dialect][]string{
	sqldb.SQLite: {`CREATE TABLE IF NOT EXISTS stream_snapshot (
		stream   TEXT    PRIMARY KEY,
		revision INTEGER NOT NULL,
		version  INTEGER NOT NULL,
		data     BLOB    NOT NULL
	)`},
	sqldb.Postgres: {`CREATE TABLE IF NOT EXISTS stream_snapshot (
		stream   TEXT    PRIMARY KEY,
		revision BIGINT  NOT NULL,
		version  INTEGER NOT NULL,
		data     BYTEA   NOT NULL
	)`},
}

// migrations lists schema versions in order; add new ones at the end, never edit one
// that has shipped.
func migrations(d sqldb.Dialect) *migrate.Migrations {
	ms := migrate.NewMigrations()
	ms.Add(migrate.Migration{
		Name:    "20260101000001",
		Comment: "event_log",
		Up:      execAll(schemaV1[d]),
		Down:    execAll([]string{`DROP TABLE IF EXISTS event_log`}),
	})
	ms.Add(migrate.Migration{
		Name:    "20261130000001",
		Comment: "stream_snapshot",
		Up:      execAll(snapshotSchema[d]),
		Down:    execAll([]string{`DROP TABLE IF EXISTS stream_snapshot`}),
	})
	return ms
}

func execAll(stmts []string) func(context.Context, *migrate.Migrator, *migrate.Migration) error {
	return func(ctx context.Context, m *migrate.Migrator, _ *migrate.Migration) error {
		return m.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// migrationLockKey serialises schema upgrades of processes starting together on one
// PostgreSQL database (an arbitrary constant: "ledger-event-log-migrate").
const migrationLockKey = 0x6c6564676572_01

// migrateSchema brings the event log's schema up to date. Its bookkeeping tables have
// their own names so read models may run bun/migrate in the same database.
func migrateSchema(ctx context.Context, db *bun.DB) error {
	d := sqldb.DialectOf(db)
	if d == sqldb.Postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("event store schema: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLockKey); err != nil {
			return fmt.Errorf("event store schema: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLockKey)
	}
	m := migrate.NewMigrator(db, migrations(d),
		migrate.WithTableName("event_log_migrations"),
		migrate.WithLocksTableName("event_log_migration_locks"),
		migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("event store schema: init migrations: %w", err)
	}
	if _, err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("event store schema: %w", err)
	}
	return nil
}
