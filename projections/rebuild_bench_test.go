package projections

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
)

// benchEvents is the log size; BENEFITS_BENCH_EVENTS overrides the 1,000,000 default.
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("BENEFITS_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// writeBenchLog writes partners of 20 events each (enrolled, granted, a user,
// activated, then 16 incidents), sealed like the executor's, one partner per append.
func writeBenchLog(path string, events int) error {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer store.Close()
	t0 := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	partners := events / 20
	for w := range 8 { // concurrent appends share group commits
		wg.Go(func() {
			for i := w; i < partners; i += 8 {
				mpn := strconv.Itoa(1_000_000 + i)
				if _, err := store.Append(ctx, domain.PartnerStream(mpn), eventstore.NoStream(), benchPartner(mpn, t0)...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func benchPartner(mpn string, t0 time.Time) []eventstore.EventData {
	meta := domain.EventMeta{OccurredAt: t0, RulesVersion: 1}
	granted := 20
	contract := domain.ContractID(mpn, "BENCH")
	evs := []domain.Event{
		domain.PartnerEnrolled{EventMeta: meta, MPNID: mpn, Name: "Partner " + mpn, EnrolledBy: "pc"},
		domain.MembershipGranted{EventMeta: meta, MPNID: mpn, MembershipID: "MS-1", Level: domain.LevelGold,
			Competency: "Cloud Platform", ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0)},
		domain.UserRegistered{EventMeta: meta, MPNID: mpn, UserID: "admin@" + mpn, AccountType: domain.AccountAAD,
			MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
		domain.BenefitActivated{EventMeta: meta, MPNID: mpn, AccessID: "AC-" + mpn, ContractID: contract, ActivatedBy: "admin@" + mpn,
			Level: domain.LevelGold, ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0),
			Pools: []domain.PoolGranted{{Kind: domain.PoolProductSupport, Granted: &granted}, {Kind: domain.PoolSignatureCloud}}},
	}
	for i := range 16 {
		pool, plan := domain.PoolProductSupport, domain.PlanProductSupport
		if i%2 == 1 {
			pool, plan = domain.PoolSignatureCloud, domain.PlanSignatureCloud
		}
		evs = append(evs, domain.IncidentOpened{EventMeta: meta, MPNID: mpn, IncidentID: domain.IncidentID(mpn, i+1), Plan: plan,
			ContractID: contract, Pool: pool, Product: "SQL Server", Version: "2025", OpenedBy: "admin@" + mpn})
	}
	out := make([]eventstore.EventData, len(evs))
	prev := eventmeta.GenesisHash
	for i, e := range evs {
		typ, data, _ := domain.Encode(e)
		m, _ := eventmeta.Seal(eventmeta.Metadata{Actor: "admin@" + mpn, CorrelationID: "bench", RulesVersion: 1, RecordedAt: t0, PrevHash: prev}, typ, data, uint64(i))
		sm, _ := eventmeta.Parse(m)
		prev = sm.Hash
		out[i] = eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: data, Metadata: m}
	}
	return out
}

// BenchmarkRebuild1M rebuilds remaining_incidents from a SQLite event log of a million
// events (BENEFITS_BENCH_EVENTS to change; written before the timer starts) into a
// SQLite read database, diff and swap
// included, next to a live generation that is caught up, and reports events/s and the
// peak Go heap seen during the run. Run with -benchtime=1x.
func BenchmarkRebuild1M(b *testing.B) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	path := filepath.Join(b.TempDir(), "events.db")
	if err := writeBenchLog(path, benchEvents()); err != nil {
		b.Fatal(err)
	}
	store, err := sqlstore.OpenSQLite(ctx, path, sqlstore.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	head, _ := store.Head(ctx)
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(b.TempDir(), "read.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	p := RemainingIncidentsProjection{}
	if err := EnsureSchema(ctx, db); err != nil {
		b.Fatal(err)
	}
	// The live generation is caught up before the timer starts, as a running system's
	// is: the timed rebuild builds the next one beside it, diffs the two and swaps.
	if _, err := RebuildAndCompare(ctx, db, store, p, RebuildOptions{Logger: quiet}); err != nil {
		b.Fatal(err)
	}
	var peak uint64
	var ms runtime.MemStats
	batches := 0
	opts := RebuildOptions{Logger: quiet, BatchSize: benchBatch(), Progress: func(RebuildProgress) {
		if batches++; batches%50 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}}
	runtime.GC()
	b.ResetTimer()
	start := time.Now()
	var events int64
	for range b.N {
		rep, err := RebuildAndCompare(ctx, db, store, p, opts)
		if err != nil {
			b.Fatal(err)
		}
		events += rep.Events
	}
	secs := time.Since(start).Seconds()
	b.StopTimer()
	b.ReportMetric(float64(events)/secs, "events/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(head.Commit), "log-events")
}

// benchBatch is the rebuild's batch size; BENEFITS_BENCH_BATCH overrides the default.
func benchBatch() int {
	n, _ := strconv.Atoi(os.Getenv("BENEFITS_BENCH_BATCH"))
	return n
}
