package projections

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/sqldb"
)

// BenchmarkReadYourWritesAcrossPartitions measures, with a read model in 4 partitions
// and the runner's default pull wait (1 s, the idle raise's interval), how long a query
// with minPosition waits after a command: from the append of one partner's event until
// the wait returns, for a query reading every partition (reader=all) and one for a
// partner of another partition (reader=other-partner), waiting in the projector's
// process (woken by its commits) or in an API-only process (polling the read
// database). Each iteration writes to the next partition's partner, so three of the
// four partitions are idle for it. median-ms, p90-ms, max-ms: over the iterations.
// Run it with -benchtime=20x.
func BenchmarkReadYourWritesAcrossPartitions(b *testing.B) {
	const parts = 4
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	store, e := benchStoreAndBus(b, quiet)
	conn := benchConn(b, e)
	dbPath := filepath.Join(b.TempDir(), "read.db")
	db, err := sqldb.OpenSQLite(ctx, dbPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	apiDB, err := sqldb.OpenSQLite(ctx, dbPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { apiDB.Close() })

	f, err := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: store, JetStream: conn.JetStream, Logger: quiet, Partitions: parts})
	if err != nil {
		b.Fatal(err)
	}
	p := newCounter("ryw")
	r, err := NewRunner(RunnerConfig{DB: db, JetStream: conn.JetStream, Store: store, Logger: quiet, Partitions: parts}, p)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = f.Run(runCtx); done <- struct{}{} }()
	go func() { _ = r.Run(runCtx); done <- struct{}{} }()
	b.Cleanup(func() { stop(); <-done; <-done })

	mpns := partnersByPartition(b, parts)
	appendFor := func(mpn string) eventstore.Position {
		res, err := store.Append(ctx, "partner-"+mpn, eventstore.Any(),
			eventstore.EventData{ID: uuid.NewString(), Type: "TestHappened", Data: []byte(`{}`)})
		if err != nil {
			b.Fatal(err)
		}
		return res.Position
	}
	var last eventstore.Position
	for _, mpn := range mpns { // every partition has applied something
		last = appendFor(mpn)
	}
	if _, err := r.Checkpoints().WaitFor(ctx, p.Name(), last); err != nil {
		b.Fatal(err)
	}

	processes := []struct {
		name string
		c    *Checkpoints
	}{{"projector", r.Checkpoints()}, {"api", NewCheckpoints(apiDB)}}
	for _, proc := range processes {
		for _, reader := range []string{"all", "other-partner"} {
			b.Run(fmt.Sprintf("process=%s/reader=%s", proc.name, reader), func(b *testing.B) {
				lats := make([]time.Duration, 0, b.N)
				for i := range b.N {
					busy := i % parts
					key := allPartitions
					if reader == "other-partner" {
						key = mpns[(busy+1)%parts]
					}
					start := time.Now()
					pos := appendFor(mpns[busy])
					wctx, cancel := context.WithTimeout(ctx, time.Minute)
					_, err := proc.c.WaitForPartner(wctx, p.Name(), key, pos)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
					lats = append(lats, time.Since(start))
				}
				slices.Sort(lats)
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
				b.ReportMetric(ms(lats[len(lats)/2]), "median-ms")
				b.ReportMetric(ms(lats[len(lats)*9/10]), "p90-ms")
				b.ReportMetric(ms(lats[len(lats)-1]), "max-ms")
			})
		}
	}
}
