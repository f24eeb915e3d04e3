// Package sqldb opens the two SQL databases the ledger runs on, SQLite and PostgreSQL,
// as bun.DB handles with one set of settings, so the event store and the read models
// cannot drift apart in how they talk to a database.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// Dialect names a supported database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DefaultBusyTimeout is how long a SQLite connection waits for another connection's
// write lock before its statement fails with SQLITE_BUSY.
const DefaultBusyTimeout = 10 * time.Second

// Option changes one setting of a database handle as it is opened.
type Option func(*settings)

type settings struct {
	busyTimeout time.Duration // SQLite only
	maxConns    int           // 0: no bound, database/sql's default
	derived     bool          // DerivedData
}

func settingsOf(opts []Option) settings {
	set := settings{busyTimeout: DefaultBusyTimeout}
	for _, o := range opts {
		o(&set)
	}
	return set
}

// WithBusyTimeout replaces DefaultBusyTimeout on SQLite (tests that hold the lock on
// purpose); PostgreSQL ignores it.
func WithBusyTimeout(d time.Duration) Option {
	return func(s *settings) { s.busyTimeout = d }
}

// DerivedData opens a handle for rows that can all be made again from the event store
// (the read models and their checkpoints, as the projection runner writes them): its
// commits do not wait for the disk. On SQLite that is synchronous=NORMAL in WAL mode,
// with the WAL's checkpoints left to CheckpointWAL (up to DerivedWALBackstopPages); on
// PostgreSQL synchronous_commit=off. A killed process still loses nothing committed,
// and nothing is ever half applied; a power loss or an OS crash may roll the database
// back by its last commits, checkpoints together with the rows they count, and the
// runner applies those events again from the store (a delivery whose predecessors are
// missing is backfilled; an idle partition is never raised past what it holds).
// A read-model commit waited for an fsync of its own, on the path from a command's
// answer to the query that shows it; the event store keeps waiting for the disk, so no
// acknowledged command depends on this handle. Rows that cannot be made again (an
// operator's resolution of a dead letter, the personal-data keys under EventStoreDB)
// are written through a handle opened without it.
func DerivedData() Option {
	return func(s *settings) { s.derived = true }
}

// MaxConns bounds the connections open at once to n (0: no bound, database/sql's
// default); a caller beyond it waits for a connection to come free. As many are kept
// idle, so a busy pool reuses its connections instead of opening one per query.
func MaxConns(n int) Option {
	return func(s *settings) { s.maxConns = n }
}

func (s settings) applyPool(db *sql.DB) {
	if s.maxConns > 0 {
		db.SetMaxOpenConns(s.maxConns)
		db.SetMaxIdleConns(max(s.maxConns, 2)) // 2 is database/sql's default
	}
}

// OpenSQLite opens (creating if needed) a SQLite file in WAL mode with
// synchronous=FULL, so a committed transaction survives power loss (but DerivedData),
// and a busy timeout,
// so concurrent writers from several connections wait instead of failing.
// sqliteshim picks modernc.org/sqlite on linux/amd64: pure Go, no cgo, static binary.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*bun.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	set := settingsOf(opts)
	q := url.Values{}
	busy := fmt.Sprintf("busy_timeout(%d)", set.busyTimeout.Milliseconds())
	pragmas := []string{"journal_mode(WAL)", "synchronous(FULL)", busy, "foreign_keys(ON)"}
	if set.derived {
		pragmas[1] = "synchronous(NORMAL)"
		pragmas = append(pragmas, fmt.Sprintf("wal_autocheckpoint(%d)", DerivedWALBackstopPages))
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	sqldb, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	set.applyPool(sqldb)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return db, nil
}

// OpenPostgres opens a PostgreSQL database from a DSN
// (postgres://user:pass@host:port/db?sslmode=disable). A pooled connection the server
// has ended is dropped before reuse (dropIfEndedByServer), so a database restart costs
// no statement an error.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*bun.DB, error) {
	set := settingsOf(opts)
	connector := pgdriver.NewConnector(pgdriver.WithDSN(dsn), pgdriver.WithResetSessionFunc(dropIfEndedByServer))
	if set.derived { // beside the parameters the DSN named, which WithConnParams would replace
		conf := connector.Config()
		if conf.ConnParams == nil {
			conf.ConnParams = map[string]any{}
		}
		conf.ConnParams["synchronous_commit"] = "off"
	}
	sqldb := sql.OpenDB(connector)
	set.applyPool(sqldb)
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres %s: %w", redact(dsn), err)
	}
	return db, nil
}

// Open chooses by dialect; for SQLite target is a file path, for PostgreSQL a DSN.
func Open(ctx context.Context, d Dialect, target string, opts ...Option) (*bun.DB, error) {
	switch d {
	case SQLite:
		return OpenSQLite(ctx, target, opts...)
	case Postgres:
		return OpenPostgres(ctx, target, opts...)
	default:
		return nil, fmt.Errorf("unknown database dialect %q (want sqlite or postgres)", d)
	}
}

// DialectOf tells which dialect a bun.DB speaks.
func DialectOf(db bun.IDB) Dialect {
	if db.Dialect().Name().String() == "pg" {
		return Postgres
	}
	return SQLite
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return strings.SplitN(dsn, "@", 2)[len(strings.SplitN(dsn, "@", 2))-1]
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
