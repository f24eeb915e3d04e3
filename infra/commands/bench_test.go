package commands

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
)

// Benchmarks of issue 10: a command's cost must not grow with the partner's history.
//
//	go test ./infra/commands -run '^$' -bench . -benchmem -count 3

func benchStore(b *testing.B) *sqlstore.Store {
	b.Helper()
	s, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

var benchAdmin = func(mpn string) domain.Actor { return domain.Actor{UserID: "admin@" + mpn} }

// premierIncident draws on no pool, so a benchmark can open as many as it likes.
func premierIncident(mpn string) domain.OpenIncident {
	return domain.OpenIncident{MPNID: mpn, By: benchAdmin(mpn), Plan: domain.PlanPremier, Product: "SQL Server", Version: "2025", Title: "bench"}
}

// writeHistory gives partner mpn a history of n events (n ≥ 3): enrolment, its admin, a
// Premier plan, then incidents opened and closed. The events are decided by the domain
// and sealed by the executor's own code, in appends of up to 1,000, so 50,000 take
// seconds rather than 50,000 commands.
func writeHistory(b *testing.B, store eventstore.Store, mpn string, n int) {
	b.Helper()
	writeHistoryOf(b, store, mpn, n, true)
}

// writeOpenHistory is writeHistory's history with every incident left open: a partner
// that never closes its incidents.
func writeOpenHistory(b *testing.B, store eventstore.Store, mpn string, n int) {
	b.Helper()
	writeHistoryOf(b, store, mpn, n, false)
}

func writeHistoryOf(b *testing.B, store eventstore.Store, mpn string, n int, closing bool) {
	b.Helper()
	ctx := context.Background()
	x := New(store, WithClock(func() time.Time { return now }))
	rules := domain.DefaultRules()
	head, state := newHead(), domain.Partner{}
	var pending []sealing
	pendingEvents := 0
	flush := func() {
		var err error
		if head, err = x.appendSealed(ctx, domain.PartnerStream(mpn), head, nil, pending, rules.Version, now); err != nil {
			b.Fatal(err)
		}
		pending, pendingEvents = nil, 0
	}
	admin := benchAdmin(mpn)
	setup := []domain.Command{
		domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso"},
		domain.RegisterUser{MPNID: mpn, By: platform, UserID: admin.UserID, AccountType: domain.AccountAAD, MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
		domain.PurchaseSupportPlan{MPNID: mpn, By: admin, Plan: domain.PlanPremier, ValidFrom: now.AddDate(0, -1, 0), ValidUntil: now.AddDate(5, 0, 0)},
	}
	for written := 0; written < n; {
		var cmd domain.Command
		switch {
		case written < len(setup):
			cmd = setup[written]
		case closing && state.IncidentCount > 0 && written%2 == 0:
			cmd = domain.CloseIncident{MPNID: mpn, By: admin, IncidentID: domain.IncidentID(mpn, state.IncidentCount), Resolution: "fixed"}
		default:
			cmd = premierIncident(mpn)
		}
		events, err := domain.Decide(state, cmd, rules, now, domain.RandomIDs{})
		if err != nil || len(events) != 1 {
			b.Fatalf("history of %s at %d: %d events, %v", mpn, written, len(events), err)
		}
		state = domain.FoldOnto(state, events)
		pending = append(pending, sealing{events: events, meta: Meta{Actor: admin, CorrelationID: "history", CausationID: fmt.Sprintf("command-history-%d", written)}})
		written, pendingEvents = written+1, pendingEvents+1
		if pendingEvents == 1000 {
			flush()
		}
	}
	if len(pending) > 0 {
		flush()
	}
}

func benchmarkCommandAt(b *testing.B, events int, opts ...Option) {
	store := benchStore(b)
	mpn := "5200001"
	writeHistory(b, store, mpn, events)
	x := New(store, append([]Option{WithClock(func() time.Time { return now })}, opts...)...)
	b.Cleanup(func() { x.Close() }) // before the store closes
	ctx := context.Background()
	// Steady state: the state is kept and a snapshot is recent (it is saved every 1,000
	// events in the background; the first one of a long history would land in the loop).
	st, err := x.current(ctx, domain.PartnerStream(mpn))
	if err != nil {
		b.Fatal(err)
	}
	x.saveSnapshot(ctx, domain.PartnerStream(mpn), st)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := x.Partner(ctx, mpn, premierIncident(mpn), Meta{Actor: benchAdmin(mpn)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommandAt5Events: one command on a partner with a fresh history.
func BenchmarkCommandAt5Events(b *testing.B) { benchmarkCommandAt(b, 5) }

// BenchmarkCommandAt50000Events: the same command on a partner with 50,000 events.
func BenchmarkCommandAt50000Events(b *testing.B) { benchmarkCommandAt(b, 50_000) }

// BenchmarkExecutorCommandsPerSecond: 32 goroutines sending commands to one hot
// partner, or spread over 200 partners; compare with BenchmarkBareSQLiteOneRowPerTx.
func BenchmarkExecutorCommandsPerSecond(b *testing.B) {
	type variant struct {
		partners int
		keyed    bool // every command sent with an idempotency key of its own
	}
	for _, v := range []variant{{1, false}, {1, true}, {200, false}, {200, true}} {
		partners, name := v.partners, fmt.Sprintf("partners=%d/goroutines=32", v.partners)
		if v.keyed {
			name += "/idempotency-keys"
		}
		b.Run(name, func(b *testing.B) {
			store := benchStore(b)
			x := New(store, WithClock(func() time.Time { return now }))
			b.Cleanup(func() { x.Close() }) // before the store closes
			mpns := make([]string, partners)
			for i := range mpns {
				mpns[i] = fmt.Sprintf("53%05d", i)
				writeHistory(b, store, mpns[i], 5)
			}
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			parallel(32, b.N, func(i int) {
				n := next.Add(1)
				mpn := mpns[int(n)%partners]
				meta := Meta{Actor: benchAdmin(mpn)}
				if v.keyed {
					meta.IdempotencyKey, meta.RequestDigest = fmt.Sprint("bench-", n), "d"
				}
				if _, err := x.Partner(ctx, mpn, premierIncident(mpn), meta); err != nil {
					b.Error(err)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commands/s")
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			stats := store.Stats()
			b.ReportMetric(float64(stats.Appends)/float64(max(stats.Commits, 1)), "appends/commit")
		})
	}
}

// BenchmarkBareSQLiteOneRowPerTx is the yardstick: one row per transaction into a
// SQLite file opened as the event store opens it (sqldb.OpenSQLite: WAL,
// synchronous=FULL, BEGIN IMMEDIATE, the same busy timeout, 32 idle connections), from
// one goroutine (the plain loop) and from 32 (which SQLite's busy handler serialises).
// Each row is as large as an incident's event; the table has none of the event log's
// two unique indexes, so the yardstick does less per row than the store.
func BenchmarkBareSQLiteOneRowPerTx(b *testing.B) {
	for _, workers := range []int{1, 32} {
		b.Run(fmt.Sprintf("goroutines=%d", workers), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqldb.OpenSQLite(ctx, filepath.Join(b.TempDir(), "bare.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxIdleConns(32) // the event store's pool (sqlstore idleConns): no connection churn
			if _, err := db.ExecContext(ctx, `CREATE TABLE bare (id INTEGER PRIMARY KEY, body BLOB NOT NULL)`); err != nil {
				b.Fatal(err)
			}
			// An IncidentOpened row's bytes: data ~242, sealed metadata ~333, the ID,
			// stream, type and time ~100.
			body := make([]byte, 675)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), processCPU()
			parallel(workers, b.N, func(int) {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO bare (body) VALUES (?)`, body); err != nil {
					tx.Rollback()
					b.Error(err)
					return
				}
				if err := tx.Commit(); err != nil {
					b.Error(err)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is the CPU time the process has used, user and system: on a shared
// machine the cost per operation is steadier than the rate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parallel runs n calls of fn on workers goroutines.
func parallel(workers, n int, fn func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// BenchmarkCachedPartnerBytes reports the heap a kept partner state holds: many small
// partners, or one with 50,000 or 100,000 events (half of them incidents, all but the
// last closed), or one with 50,000 incidents all open; and the bytes the cache of
// states estimates them at (domain.Partner.SizeEstimate).
func BenchmarkCachedPartnerBytes(b *testing.B) {
	for _, c := range []struct {
		partners, events int
		open             bool
	}{{200, 5, false}, {1, 50_000, false}, {1, 100_000, false}, {1, 50_003, true}} {
		name := fmt.Sprintf("events=%d", c.events)
		if c.open {
			name = fmt.Sprintf("open-incidents=%d", c.events-3)
		}
		b.Run(name, func(b *testing.B) {
			store := benchStore(b)
			mpns := make([]string, c.partners)
			for i := range mpns {
				mpns[i] = fmt.Sprintf("54%05d", i)
				writeHistoryOf(b, store, mpns[i], c.events, !c.open)
			}
			ctx := context.Background()
			var perPartner, estimated float64
			for b.Loop() {
				x := New(store, WithSnapshotEvery(0))
				before := heapInUse()
				for _, mpn := range mpns {
					if _, _, err := x.LoadPartner(ctx, mpn); err != nil {
						b.Fatal(err)
					}
				}
				perPartner = float64(heapInUse()-before) / float64(c.partners)
				estimated = float64(x.StateCacheStats().Bytes) / float64(c.partners)
				runtime.KeepAlive(x)
			}
			b.ReportMetric(perPartner, "bytes/partner")
			// What the cache counts against --state-cache-mib for the same states.
			b.ReportMetric(estimated, "estimated-bytes/partner")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkTenConcurrentColdLoads: ten requests at once for a partner with 50,000
// events that a fresh executor has not loaded (a restart under load, no snapshot).
// B/op is what the ten cost between them: one shared read and fold, not ten.
func BenchmarkTenConcurrentColdLoads(b *testing.B) {
	store := benchStore(b)
	mpn := "5500001"
	writeHistory(b, store, mpn, 50_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x := New(store, WithSnapshotEvery(0))
		parallel(10, 10, func(int) {
			if _, _, err := x.LoadPartner(ctx, mpn); err != nil {
				b.Error(err)
			}
		})
	}
}
