// Package sqlstore is the event store on SQL through bun: SQLite (the embedded default)
// and PostgreSQL, one code path for both. It passes the contract suite in
// infra/eventstore/eventstoretest.
//
// Writes go through one writer goroutine per Store that group-commits: appends that
// arrive while a transaction is committing wait and then share the next transaction and
// its one fsync, each still checked against its own expected revision (see commit.go).
// Positions are 1, 2, 3 ... with no gaps, assigned inside the write transaction while
// no other writer can run (SQLite's write lock; on PostgreSQL a transaction-level
// advisory lock), so a reader never sees position N+1 before N.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/broadcast"
	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// ErrClosed is returned by calls on a closed Store.
var ErrClosed = errors.New("event store is closed")

// Options tune a Store; the zero value is good for production.
type Options struct {
	// PageSize is how many rows ReadAll and Subscribe fetch per query (default 1,000),
	// so memory stays flat however long the log grows.
	PageSize int
	// PollInterval bounds how late a subscriber sees events appended by another process
	// (default 250ms on SQLite, 1s on PostgreSQL, where LISTEN/NOTIFY wakes it at once).
	// Appends through this Store wake its subscribers immediately.
	PollInterval time.Duration
	// MaxBatchEvents caps the events one group commit writes (default 10,000).
	MaxBatchEvents int
	// Logger gets the store's few log lines (default slog.Default()).
	Logger *slog.Logger
	// MaxConns bounds the connections a store that opens its own database keeps open
	// at once (0: no bound). Without it, each concurrent read opens another connection
	// until the process runs out of file descriptors.
	MaxConns int
}

func (o Options) withDefaults(d sqldb.Dialect) Options {
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
		if d == sqldb.Postgres {
			o.PollInterval = time.Second
		}
	}
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = 10_000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is an eventstore.Store on a bun database.
type Store struct {
	db       *bun.DB
	ownsDB   bool
	dialect  sqldb.Dialect
	opts     Options
	appended *broadcast.Signal // closed-and-replaced after every commit that wrote events

	requests chan *appendRequest
	stop     chan struct{} // closed by Close
	stopped  chan struct{} // closed when the writer has answered its last request
	stopOnce sync.Once
	workers  sync.WaitGroup

	commits atomic.Uint64 // write transactions committed
	appends atomic.Uint64 // appends acknowledged (including idempotent ones)
	writing atomic.Int64  // appends in the transaction being written now

	relistens atomic.Uint64 // LISTENs confirmed again after the listener's connection was lost (listen.go)

	reads  readStatements  // ReadStream's and readPage's prepared queries (read.go)
	writes writeStatements // the writer's prepared queries (writestatements.go)

	ownNotifySent func() // tests only: runs after each NOTIFY sent to confirm LISTEN
}

var _ eventstore.Store = (*Store)(nil)

// Open migrates the schema and starts the writer. The caller keeps owning db and closes
// it after the Store.
func Open(ctx context.Context, db *bun.DB, opts Options) (*Store, error) {
	d := sqldb.DialectOf(db)
	s := &Store{
		db:       db,
		dialect:  d,
		opts:     opts.withDefaults(d),
		appended: broadcast.New(),
		requests: make(chan *appendRequest, 1024),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if err := migrateSchema(ctx, db); err != nil {
		return nil, err
	}
	s.workers.Go(s.writeLoop)
	if d == sqldb.Postgres {
		s.listen(ctx)
	}
	return s, nil
}

// OpenSQLite opens (creating if needed) the SQLite file at path as an event store that
// owns its database.
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	return openOwned(ctx, sqldb.SQLite, path, opts)
}

// OpenPostgres opens the PostgreSQL database at dsn as an event store that owns its
// database handle.
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*Store, error) {
	return openOwned(ctx, sqldb.Postgres, dsn, opts)
}

// idleConns is how many connections an owned store keeps open between uses. With
// database/sql's default of 2, concurrent stream reads (one per command being
// executed) opened and closed connections all the time, and every new SQLite
// connection parses its pragmas and re-prepares the store's statements: under 32
// concurrent commands that was most of the remaining statement-parse CPU.
const idleConns = 32

func openOwned(ctx context.Context, d sqldb.Dialect, target string, opts Options) (*Store, error) {
	db, err := sqldb.Open(ctx, d, target, sqldb.MaxConns(opts.MaxConns))
	if err != nil {
		return nil, fmt.Errorf("event store: %w", err)
	}
	db.SetMaxIdleConns(idleConns)
	s, err := Open(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.ownsDB = true
	return s, nil
}

// Close stops the writer (appends still queued fail with ErrClosed; none is half
// written) and the PostgreSQL listener, then closes the database if the Store owns it.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.workers.Wait()
	s.reads.close()
	s.writes.close()
	if s.ownsDB {
		return s.db.Close()
	}
	return nil
}

// Stats counts the writer's work: group commit shows as Commits well below Appends.
type Stats struct {
	Appends uint64 // appends acknowledged
	Commits uint64 // write transactions committed
	Queued  int    // appends waiting for the writer now
	Writing int    // appends in the transaction being written now
	// Relistens counts the times the PostgreSQL listener lost its connection and got a
	// confirmed LISTEN back (each woke the subscribers to read what they missed).
	Relistens uint64
}

func (s *Store) Stats() Stats {
	return Stats{Appends: s.appends.Load(), Commits: s.commits.Load(), Queued: len(s.requests), Writing: int(s.writing.Load()), Relistens: s.relistens.Load()}
}

// Listens says whether the store keeps a LISTEN connection to hear other processes'
// appends, whose losses Stats().Relistens counts: on PostgreSQL. On SQLite it sees
// them by polling.
func (s *Store) Listens() bool { return s.dialect == sqldb.Postgres }

// DB is the database the store writes to (for tests and tools that inspect it).
func (s *Store) DB() *bun.DB { return s.db }
