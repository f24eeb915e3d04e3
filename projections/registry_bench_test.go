package projections

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
)

// BenchmarkRebuild measures how fast each read model is built from the store by the
// one engine (RebuildAndCompare, as a version bump at start-up and an ops rebuild run
// it) from a log of benchEvents events shaped like real partners: enrolment,
// membership, three users, activation, two links, then incidents opened and closed.
// A full live generation is built before the timer starts, so each timed run is what a
// version bump costs: build the next generation beside it, diff the two, swap
// (events/s), and the fold alone, up to the last batch (fold-events/s). The log is in
// memory, so the figure is the read model's own cost on the database.
//
//	go test -run '^$' -bench 'Rebuild$' -benchtime 1x ./projections
func BenchmarkRebuild(b *testing.B) {
	const benchEvents = 100_000
	log := syntheticLog(b, benchEvents)
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	for _, d := range []struct {
		name   string
		target func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "read.db") }},
		{"postgres", func(b *testing.B) string { return pgtest.NewDatabase(b) }},
	} {
		for _, p := range All() {
			b.Run(d.name+"/"+p.Name(), func(b *testing.B) {
				db, err := sqldb.Open(ctx, sqldb.Dialect(d.name), d.target(b))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if _, err := RebuildAndCompare(ctx, db, log, p, RebuildOptions{Logger: quiet}); err != nil {
					b.Fatal(err)
				}
				var events int64
				var building, buildingCPU time.Duration // from each start to its last progress: the fold alone
				start := time.Now()
				for b.Loop() {
					began, beganCPU := time.Now(), processCPU()
					caughtUp, caughtUpCPU := began, beganCPU
					rep, err := RebuildAndCompare(ctx, db, log, p, RebuildOptions{Logger: quiet, BatchSize: benchBatch(),
						Progress: func(RebuildProgress) { caughtUp, caughtUpCPU = time.Now(), processCPU() }})
					if err != nil {
						b.Fatal(err)
					}
					events += rep.Events
					building += caughtUp.Sub(began)
					buildingCPU += caughtUpCPU - beganCPU
				}
				b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
				b.ReportMetric(float64(events)/building.Seconds(), "fold-events/s")
				// CPU time of this process (Go and, for SQLite, the database) per event
				// folded: steadier than wall time on a shared machine.
				b.ReportMetric(float64(buildingCPU.Microseconds())/float64(events), "fold-cpu-µs/event")
			})
		}
	}
}

// memoryLog is an event log held in memory.
type memoryLog []eventstore.RecordedEvent

func (l memoryLog) ReadAll(_ context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for _, ev := range l {
			if from.Less(ev.Position) && !yield(ev, nil) {
				return
			}
		}
	}
}

// syntheticLog makes about n events over as many partners as it takes, each with 8
// set-up events and 40 incident events (27 opened, 13 closed).
func syntheticLog(tb testing.TB, n int) memoryLog {
	var log memoryLog
	add := func(mpn string, e domain.Event) {
		typ, data, err := domain.Encode(e)
		if err != nil {
			tb.Fatal(err)
		}
		pos := uint64(len(log) + 1)
		log = append(log, eventstore.RecordedEvent{ID: uuid.NewString(), Stream: domain.PartnerStream(mpn), Type: typ,
			Data: data, Position: eventstore.Position{Commit: pos, Prepare: pos}})
	}
	meta := domain.EventMeta{OccurredAt: t0, RulesVersion: 1}
	for partner := 0; len(log) < n; partner++ {
		mpn := fmt.Sprintf("%07d", 2000000+partner)
		contract := domain.ContractID(mpn, "BENCH")
		users := []string{"admin@" + mpn, "agent@" + mpn, "reader@" + mpn}
		add(mpn, domain.PartnerEnrolled{EventMeta: meta, MPNID: mpn, Name: "Partner " + mpn, CSP: partner%2 == 0})
		add(mpn, domain.MembershipGranted{EventMeta: meta, MPNID: mpn, MembershipID: "MS-1", Level: domain.LevelGold,
			Competency: "Cloud Platform", ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0)})
		for i, u := range users {
			add(mpn, domain.UserRegistered{EventMeta: meta, MPNID: mpn, UserID: u, AccountType: domain.AccountAAD,
				MPNLinked: true, Roles: []domain.Role{[]domain.Role{domain.RoleGlobalAdmin, domain.RoleAdminAgent, ""}[i]}})
		}
		add(mpn, domain.BenefitActivated{EventMeta: meta, MPNID: mpn, AccessID: "AC-BENCH", ContractID: contract,
			ActivatedBy: users[0], Level: domain.LevelGold, ValidFrom: t0, ValidUntil: t0.AddDate(1, 0, 0),
			Pools: []domain.PoolGranted{{Kind: domain.PoolProductSupport, Granted: ptr(20)}, {Kind: domain.PoolSignatureCloud}}})
		for _, u := range users[:2] {
			add(mpn, domain.ContractLinked{EventMeta: meta, MPNID: mpn, ContractID: contract, UserID: u, AccountType: domain.AccountAAD, LinkedBy: users[0]})
		}
		for i := 1; i <= 27; i++ {
			id := domain.IncidentID(mpn, i)
			add(mpn, domain.IncidentOpened{EventMeta: meta, MPNID: mpn, IncidentID: id, Plan: domain.PlanSignatureCloud,
				ContractID: contract, Pool: domain.PoolSignatureCloud, Product: "Azure", Title: "bench", OpenedBy: users[1]})
			if i%2 == 0 {
				add(mpn, domain.IncidentClosed{EventMeta: meta, MPNID: mpn, IncidentID: id, ClosedBy: users[1]})
			}
		}
	}
	return log
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
