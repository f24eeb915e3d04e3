package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"ledger/infra/eventstore"
)

// Benchmarks behind the README's figures; run briefly, e.g.
//
//	go test -run '^$' -bench . -benchtime 2s -count 3 ./infra/sqlstore/
//
// Each reports its rate with b.ReportMetric; the data is a small realistic event.

func benchEvent() eventstore.EventData {
	e := event("bench")
	e.Data = []byte(`{"partnerId":"1234567","pool":"product-support","incidents":1,"note":"benchmark event"}`)
	e.Metadata = []byte(`{"actor":"bench","correlationId":"c-1","rulesVersion":3}`)
	return e
}

func forEachDialect(b *testing.B, run func(b *testing.B, s *Store)) {
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) { run(b, d.open(b, Options{})) })
	}
}

// BenchmarkAppendSingle: one event per append, from 1 and from 32 concurrent appenders,
// each on its own stream with an exact expected revision, as command handlers do.
func BenchmarkAppendSingle(b *testing.B) {
	for _, appenders := range []int{1, 32} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			forEachDialect(b, func(b *testing.B, s *Store) {
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for a := range appenders {
					wg.Go(func() {
						stream := fmt.Sprintf("bench-%d", a)
						exp := eventstore.NoStream()
						for next.Add(1) <= int64(b.N) {
							res, err := s.Append(context.Background(), stream, exp, benchEvent())
							if err != nil {
								b.Error(err)
								return
							}
							exp = eventstore.Exact(res.NextRevision)
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			})
		})
	}
}

// BenchmarkAppendBatch100: 100 events per append, one appender.
func BenchmarkAppendBatch100(b *testing.B) {
	forEachDialect(b, func(b *testing.B, s *Store) {
		exp := eventstore.NoStream()
		b.ResetTimer()
		for range b.N {
			batch := make([]eventstore.EventData, 100)
			for i := range batch {
				batch[i] = benchEvent()
			}
			res, err := s.Append(context.Background(), "batch", exp, batch...)
			if err != nil {
				b.Fatal(err)
			}
			exp = eventstore.Exact(res.NextRevision)
		}
		b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
	})
}

// fill appends n events in batches of 1,000.
func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	for done := 0; done < n; done += 1000 {
		batch := make([]eventstore.EventData, min(1000, n-done))
		for i := range batch {
			batch[i] = benchEvent()
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("fill-%d", done), eventstore.NoStream(), batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAll: the global log read rate; one op is one event read.
func BenchmarkReadAll(b *testing.B) {
	const logSize = 50_000
	forEachDialect(b, func(b *testing.B, s *Store) {
		fill(b, s, logSize)
		b.ResetTimer()
		read := 0
		for read < b.N {
			for _, err := range s.ReadAll(context.Background(), eventstore.Start) {
				if err != nil {
					b.Fatal(err)
				}
				if read++; read == b.N {
					break
				}
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkSubscribeLive: events appended in batches of 100 while a subscriber is live;
// the clock stops when the subscriber has been handed the last one.
func BenchmarkSubscribeLive(b *testing.B) {
	forEachDialect(b, func(b *testing.B, s *Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		caughtUp, all := make(chan struct{}), make(chan struct{})
		var got int
		go s.Subscribe(ctx, eventstore.Start, func(m eventstore.SubscriptionMessage) error {
			if m.CaughtUp {
				close(caughtUp)
				return nil
			}
			if got++; got == b.N {
				close(all)
			}
			return nil
		})
		<-caughtUp
		b.ResetTimer()
		for done := 0; done < b.N; done += 100 {
			batch := make([]eventstore.EventData, min(100, b.N-done))
			for i := range batch {
				batch[i] = benchEvent()
			}
			if _, err := s.Append(ctx, "live", eventstore.Any(), batch...); err != nil {
				b.Fatal(err)
			}
		}
		<-all
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkReadAllTail: what a live forwarder does after each append, one op being one
// ReadAll from just before the log's end (one event, then the short page ends it).
func BenchmarkReadAllTail(b *testing.B) {
	const logSize = 1_000
	forEachDialect(b, func(b *testing.B, s *Store) {
		fill(b, s, logSize)
		head, err := s.Head(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		from := eventstore.Position{Commit: head.Commit - 1, Prepare: head.Prepare - 1}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			n := 0
			for _, err := range s.ReadAll(context.Background(), from) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 1 {
				b.Fatalf("read %d events after %v, want 1", n, from)
			}
		}
	})
}
