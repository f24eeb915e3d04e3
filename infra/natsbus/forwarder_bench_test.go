package natsbus

import (
	"context"
	"ledger/infra/eventstore/eventstoretest"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"ledger/infra/sqlstore"
)

// BenchmarkForwarder measures catch-up forwarding from a SQLite store into the embedded
// server through the publish window.
func BenchmarkForwarder(b *testing.B) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	e, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown()
	c, err := Connect(ctx, e.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	head := eventstoretest.Fill(ctx, b, store, b.N)
	f, err := NewForwarder(ForwarderConfig{Store: store, JetStream: c.JetStream, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	b.ResetTimer()
	go func() { stopped <- f.Run(runCtx) }()
	for f.Forwarded() != head {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-stopped
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
