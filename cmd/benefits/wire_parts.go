package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"ledger/infra/esdbstore"
	"ledger/infra/natsbus"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
	"ledger/projections"
)

// Files and directories of the embedded default under --data-dir.
const (
	eventsFileName     = "events.db"
	readModelsFileName = "readmodels.db"
	natsDirName        = "nats"
)

// openEventStore opens the store cfg.EventStore names.
func (p *process) openEventStore(ctx context.Context, cfg Config, logger *slog.Logger) error {
	var err error
	switch cfg.EventStore.Backend {
	case BackendSQLite:
		path := filepath.Join(cfg.DataDir, eventsFileName)
		p.store, err = sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Logger: logger, MaxConns: cfg.EventStoreMaxConns})
	case BackendPostgres:
		p.store, err = sqlstore.OpenPostgres(ctx, cfg.EventStore.DSN, sqlstore.Options{Logger: logger, MaxConns: cfg.EventStoreMaxConns})
	case BackendESDB:
		p.store, err = esdbstore.Open(ctx, cfg.EventStore.DSN)
	default:
		err = fmt.Errorf("unknown backend %q", cfg.EventStore.Backend)
	}
	if err != nil {
		return fmt.Errorf("open the event store (--event-store %s): %w", cfg.EventStore.Backend, err)
	}
	p.closers = append(p.closers, p.store.Close)
	p.check("event store", func(ctx context.Context) error {
		_, err := p.store.Head(ctx)
		return err
	})
	return nil
}

// openReadDB opens the read models' database cfg.ReadDB names, with at most
// --read-db-max-conns connections: queries beyond them wait for one rather than open
// more (waiting for minPosition takes none).
func (p *process) openReadDB(ctx context.Context, cfg Config) error {
	db, err := openReadDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	p.readDB = db
	p.closers = append(p.closers, p.readDB.Close)
	p.check("read database", p.readDB.PingContext)
	return nil
}

// openReadDatabase opens cfg.ReadDB with the options given beside the connection bound.
func openReadDatabase(ctx context.Context, cfg Config, opts ...sqldb.Option) (*bun.DB, error) {
	var (
		db  *bun.DB
		err error
	)
	opts = append(opts, sqldb.MaxConns(cfg.ReadDBMaxConns))
	switch cfg.ReadDB.Backend {
	case BackendSQLite:
		db, err = sqldb.OpenSQLite(ctx, filepath.Join(cfg.DataDir, readModelsFileName), opts...)
	case BackendPostgres:
		db, err = sqldb.OpenPostgres(ctx, cfg.ReadDB.DSN, opts...)
	default:
		err = fmt.Errorf("unknown backend %q", cfg.ReadDB.Backend)
	}
	if err != nil {
		return nil, fmt.Errorf("open the read database (--read-db %s): %w", cfg.ReadDB.Backend, err)
	}
	return db, nil
}

// startNATS starts the embedded server under <data-dir>/nats when no URL is configured,
// and makes sure the events stream exists.
func (p *process) startNATS(ctx context.Context, cfg Config, logger *slog.Logger) error {
	p.natsURL = cfg.NATSURL
	if p.natsURL == "" {
		e, err := natsbus.StartEmbedded(ctx, natsbus.EmbeddedOptions{
			StoreDir: filepath.Join(cfg.DataDir, natsDirName), Logger: logger})
		if err != nil {
			return err
		}
		p.embedded = e
		p.closers = append(p.closers, func() error { e.Shutdown(); return nil })
		p.natsURL = e.ClientURL()
	}
	conn, err := p.connectNATS(ctx)
	if err != nil {
		return err
	}
	if _, err := natsbus.EnsureStream(ctx, conn.JetStream, natsbus.StreamOptions{}); err != nil {
		return err
	}
	p.check("nats", conn.NATS.FlushWithContext)
	return nil
}

// connectNATS opens one more client connection, closed with the process. The forwarder
// and the projectors each get their own, so that one losing its connection does not
// take the other down.
func (p *process) connectNATS(ctx context.Context) (*natsbus.Conn, error) {
	conn, err := natsbus.Connect(ctx, p.natsURL)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() error { conn.Close(); return nil })
	return conn, nil
}

func (p *process) addForwarder(ctx context.Context, cfg Config, logger *slog.Logger) error {
	conn, err := p.connectNATS(ctx)
	if err != nil {
		return err
	}
	f, err := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: p.store, JetStream: conn.JetStream, Logger: logger,
		Tracer: p.tracing.Tracer("ledger/forwarder"), Partitions: cfg.Partitions, OnForwarded: p.metrics.Forwarded})
	if err != nil {
		return err
	}
	p.forwarder = f
	p.background = append(p.background, func(ctx context.Context) error {
		p.awaitConsumers(ctx, conn.JetStream)
		return f.Run(ctx)
	})
	return nil
}

// awaitConsumers holds the forwarder back, for at most a few seconds, until the
// projectors of this process have created their consumers. The forwarder updates the
// stream's configuration when it starts, and nats-server v2.15.2 races (data race in
// fileStore.UpdateConfig against ConsumerStore) when a stream update and a consumer
// creation meet; the race detector catches it in the end-to-end tests.
func (p *process) awaitConsumers(ctx context.Context, js jetstream.JetStream) {
	if p.runner == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, name := range p.runner.ConsumerNames() {
		for {
			if _, err := js.Consumer(ctx, natsbus.StreamName, name); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// addProjectors sets the read models up before the API serves (so a query never meets
// a missing table) and runs them in the background.
func (p *process) addProjectors(ctx context.Context, cfg Config, logger *slog.Logger, opts wireOptions) error {
	conn, err := p.connectNATS(ctx)
	if err != nil {
		return err
	}
	models := projections.All()
	if opts.wrapProjection != nil {
		for i, m := range models {
			models[i] = opts.wrapProjection(m)
		}
	}
	models = p.metrics.ObserveProjections(models...)
	// The runner writes only what it can apply again from the store, so its commits do
	// not wait for the disk (sqldb.DerivedData): on the way from a command's answer to
	// the query that shows it, that wait was the longest step. Queries and operators'
	// writes keep p.readDB.
	db, err := openReadDatabase(ctx, cfg, sqldb.DerivedData())
	if err != nil {
		return err
	}
	p.closers = append(p.closers, db.Close)
	p.background = append(p.background, func(ctx context.Context) error {
		sqldb.CheckpointWAL(ctx, db, sqldb.DefaultWALCheckpointInterval, logger) // returns at once on PostgreSQL
		return nil
	})
	r, err := projections.NewRunner(projections.RunnerConfig{DB: db, JetStream: conn.JetStream,
		Store: p.store, Logger: logger, GapGrace: cfg.GapGrace, Tracer: p.tracing.Tracer("ledger/projections"),
		Partitions: cfg.Partitions, PinnedTTL: cfg.PinnedTTL, OnApplied: p.metrics.Applied}, models...)
	if err != nil {
		return err
	}
	if err := r.Setup(ctx); err != nil {
		return wrapf(err, "set up the read models")
	}
	p.runner, p.projectorConn = r, conn
	p.background = append(p.background, r.Run)
	return nil
}
