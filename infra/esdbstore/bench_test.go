package esdbstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
)

// These measure the adapter and the esdb client over loopback gRPC against the
// in-memory protocol server: the client-side cost, one gRPC append per Append since the
// event-id claims are gone (before, one more per event), not EventStoreDB's own write
// path.

func BenchmarkAppendSingleEvent(b *testing.B) {
	s := open(b, esdbprotocolserver.Start(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, "bench-"+uuid.NewString(), eventstore.NoStream(), event("x")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func BenchmarkAppendBatch100(b *testing.B) {
	s := open(b, esdbprotocolserver.Start(b))
	ctx := context.Background()
	for b.Loop() {
		batch := make([]eventstore.EventData, 100)
		for i := range batch {
			batch[i] = event("x")
		}
		if _, err := s.Append(ctx, "bench-"+uuid.NewString(), eventstore.NoStream(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkReadAll(b *testing.B) {
	s := open(b, esdbprotocolserver.Start(b))
	ctx := context.Background()
	const total = 10_000
	for i := 0; i < total; i += 100 {
		batch := make([]eventstore.EventData, 100)
		for j := range batch {
			batch[j] = event("x")
		}
		if _, err := s.Append(ctx, "bench-"+uuid.NewString(), eventstore.NoStream(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		n := 0
		for _, err := range s.ReadAll(ctx, eventstore.Start) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != total {
			b.Fatalf("read %d events, want %d", n, total)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "events/s")
}
