package commands

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// BenchmarkSnapshotEncode is the work of one snapshot of a partner with 20,000 events
// (half of them incidents): on a hot partner a snapshot is written every tenth of the
// history, so this is what the stream's commands pay for, spread over that tenth.
func BenchmarkSnapshotEncode(b *testing.B) {
	store := benchStore(b)
	writeHistory(b, store, "5600001", 20_000)
	x := New(store, WithSnapshotEvery(0))
	st, err := x.current(context.Background(), domain.PartnerStream("5600001"))
	if err != nil {
		b.Fatal(err)
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		data, err := encodeSnapshot(st)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "snapshot-bytes")
}

// BenchmarkColdCommandFromSnapshot: one command on a partner with 50,000 incidents (all
// but the last closed, 100,000 events; or all open) by a process that has just started:
// its cache is empty, so the command reads the stream's snapshot, decodes it and
// decides. This is what every partner's first command after a restart costs. p50-ms is
// the median. Each command finds a snapshot of the stream up to the command before it.
func BenchmarkColdCommandFromSnapshot(b *testing.B) {
	b.Run("closed-incidents=50000", func(b *testing.B) {
		store := benchStore(b)
		writeHistory(b, store, "5600002", 100_000)
		benchmarkColdCommandFromSnapshot(b, store, "5600002")
	})
	b.Run("open-incidents=50000", func(b *testing.B) {
		store := benchStore(b)
		writeOpenHistory(b, store, "5600003", 50_003)
		benchmarkColdCommandFromSnapshot(b, store, "5600003")
	})
}

func benchmarkColdCommandFromSnapshot(b *testing.B, store eventstore.Store, mpn string) {
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	warm := New(store, clock, WithSnapshotEvery(0))
	st, err := warm.current(ctx, domain.PartnerStream(mpn))
	if err != nil {
		b.Fatal(err)
	}
	warm.saveSnapshot(ctx, domain.PartnerStream(mpn), st)
	snap, found, err := store.LoadSnapshot(ctx, domain.PartnerStream(mpn))
	if err != nil || !found {
		b.Fatalf("no snapshot saved: %v", err)
	}
	var took []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		x := New(store, clock, WithSnapshotEvery(0))
		start := time.Now()
		if _, err := x.Partner(ctx, mpn, premierIncident(mpn), Meta{Actor: benchAdmin(mpn)}); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		x.Close()
		b.StopTimer() // the next process starts from a snapshot as recent as this one's
		if st, err = warm.current(ctx, domain.PartnerStream(mpn)); err != nil {
			b.Fatal(err)
		}
		warm.saveSnapshot(ctx, domain.PartnerStream(mpn), st)
		runtime.GC() // the set-up's garbage is not the command's to collect
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(len(snap.Data)), "snapshot-bytes")
}
