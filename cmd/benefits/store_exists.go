package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"ledger/infra/sqldb"
)

// errNoStore: an operator's command named a store that does not exist. Opening it as
// serve does would create an empty one and report on nothing ("intact: 0 events"), so
// the command refuses instead, before anything is created.
var errNoStore = errors.New("no such store")

// requireExistingStores checks that the event store (and, when readDB, the read
// database: projections list reads it, a rebuild may create it) cfg names already exists, without creating anything: for SQLite the file
// under --data-dir, for PostgreSQL the ledger's table in the database. EventStoreDB has
// no schema to look for: an empty server is a valid empty log, and a wrong URL already
// fails to connect.
func requireExistingStores(ctx context.Context, cfg Config, readDB bool) error {
	err := requireExisting(ctx, cfg, cfg.EventStore, eventsFileName, "event_log", "--event-store / BENEFITS_EVENT_STORE")
	if err == nil && readDB {
		err = requireExisting(ctx, cfg, cfg.ReadDB, readModelsFileName, "projection_state", "--read-db / BENEFITS_READ_DB")
	}
	return err
}

func requireExisting(ctx context.Context, cfg Config, t StoreTarget, file, table, flag string) error {
	switch t.Backend {
	case BackendSQLite:
		path := filepath.Join(cfg.DataDir, file)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return usageError{fmt.Errorf("%w: %s does not exist; check --data-dir / BENEFITS_DATA_DIR (%q), this command never creates a store", errNoStore, path, cfg.DataDir)}
		} else if err != nil {
			return err
		}
	case BackendPostgres:
		db, err := sqldb.OpenPostgres(ctx, t.DSN, sqldb.MaxConns(1))
		if err != nil {
			return fmt.Errorf("open %s: %w", flag, err)
		}
		defer db.Close()
		var found *string
		if err := db.QueryRowContext(ctx, "SELECT to_regclass(?)::text", table).Scan(&found); err != nil {
			return fmt.Errorf("look for table %s (%s): %w", table, flag, err)
		}
		if found == nil {
			return usageError{fmt.Errorf("%w: the database %s holds no %s table; check %s, this command never creates a store", errNoStore, redactURL(t.DSN), table, flag)}
		}
	}
	return nil
}
