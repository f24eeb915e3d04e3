package projections

import (
	"context"
	"ledger/infra/eventstore/eventstoretest"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"ledger/infra/natsbus"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
)

// BenchmarkRunnerCatchUp measures a projection catching up from the NATS stream into a
// SQLite read database: decode, skip check, one transaction per batch, ack.
func BenchmarkRunnerCatchUp(b *testing.B) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	store, e := benchStoreAndBus(b, quiet)
	conn := benchConn(b, e)
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(b.TempDir(), "read.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	head := eventstoretest.Fill(ctx, b, store, b.N)
	f, _ := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: store, JetStream: conn.JetStream, Logger: quiet})
	fctx, stopForwarder := context.WithCancel(ctx)
	forwarderDone := make(chan error, 1)
	go func() { forwarderDone <- f.Run(fctx) }()
	defer func() { stopForwarder(); <-forwarderDone }()
	for f.Forwarded() != head {
		time.Sleep(time.Millisecond)
	}

	p := newCounter("bench")
	r, err := NewRunner(RunnerConfig{DB: db, JetStream: conn.JetStream, Store: store, Logger: quiet}, p)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	rctx, stopRunner := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	b.ResetTimer()
	go func() { stopped <- r.Run(rctx) }()
	if _, err := r.Checkpoints().WaitFor(ctx, p.Name(), head); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	stopRunner()
	<-stopped
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// benchStoreAndBus is a SQLite event store and an embedded NATS server, both closed when
// the benchmark ends.
func benchStoreAndBus(b *testing.B, log *slog.Logger) (*sqlstore.Store, *natsbus.Embedded) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "events.db"), sqlstore.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	e, err := natsbus.StartEmbedded(ctx, natsbus.EmbeddedOptions{StoreDir: b.TempDir(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Shutdown)
	return store, e
}

// benchConn is a connection to the benchmark's embedded NATS, closed after it.
func benchConn(b *testing.B, e *natsbus.Embedded) *natsbus.Conn {
	conn, err := natsbus.Connect(context.Background(), e.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(conn.Close)
	return conn
}
