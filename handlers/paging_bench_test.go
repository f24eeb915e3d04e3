package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/domain"
	"ledger/infra/eventmeta"
	"ledger/infra/eventstore"
	"ledger/infra/paging"
	"ledger/projections"
)

// seedBusyPartner appends a Gold partner with an MPN-linked admin and an activated
// contract, then n incidents on its unlimited Signature Cloud pool, sealed into the
// hash chain as the executor seals them, 1,000 events an append. Writing them through
// the executor would fold the growing stream for each of them.
func (w *auditWorld) seedBusyPartner(mpn string, n int) {
	w.t.Helper()
	ctx := context.Background()
	meta := domain.EventMeta{OccurredAt: auditT0, RulesVersion: 1}
	admin, contract := "admin@"+mpn, domain.ContractID(mpn, "BENCH")
	granted := 20
	events := []domain.Event{
		domain.PartnerEnrolled{EventMeta: meta, MPNID: mpn, Name: "Partner " + mpn, EnrolledBy: "pc"},
		domain.MembershipGranted{EventMeta: meta, MPNID: mpn, MembershipID: "MS-1", Level: domain.LevelGold,
			Competency: "Cloud Platform", ValidFrom: auditT0, ValidUntil: auditT0.AddDate(1, 0, 0)},
		domain.UserRegistered{EventMeta: meta, MPNID: mpn, UserID: admin, AccountType: domain.AccountAAD,
			MPNLinked: true, Roles: []domain.Role{domain.RoleGlobalAdmin}},
		domain.BenefitActivated{EventMeta: meta, MPNID: mpn, AccessID: "AC-" + mpn, ContractID: contract, ActivatedBy: admin,
			Level: domain.LevelGold, ValidFrom: auditT0, ValidUntil: auditT0.AddDate(1, 0, 0),
			Pools: []domain.PoolGranted{{Kind: domain.PoolProductSupport, Granted: &granted}, {Kind: domain.PoolSignatureCloud}}},
	}
	for i := range n {
		events = append(events, domain.IncidentOpened{EventMeta: meta, MPNID: mpn, IncidentID: domain.IncidentID(mpn, i+1),
			Plan: domain.PlanSignatureCloud, ContractID: contract, Pool: domain.PoolSignatureCloud, Product: "Azure",
			Title: fmt.Sprintf("incident %d of a busy partner", i+1), OpenedBy: admin})
	}
	prev, expected := eventmeta.GenesisHash, eventstore.NoStream()
	for start := 0; start < len(events); start += 1000 {
		chunk := events[start:min(start+1000, len(events))]
		data := make([]eventstore.EventData, len(chunk))
		for i, e := range chunk {
			typ, body, err := domain.Encode(e)
			if err != nil {
				w.t.Fatal(err)
			}
			sealed, err := eventmeta.Seal(eventmeta.Metadata{Actor: admin, CorrelationID: "seed", RulesVersion: 1,
				RecordedAt: auditT0, PrevHash: prev}, typ, body, uint64(start+i))
			if err != nil {
				w.t.Fatal(err)
			}
			m, _ := eventmeta.Parse(sealed)
			prev = m.Hash
			data[i] = eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: body, Metadata: sealed}
		}
		res, err := w.store.Append(ctx, domain.PartnerStream(mpn), expected, data...)
		if err != nil {
			w.t.Fatal(err)
		}
		expected = eventstore.Exact(res.NextRevision)
	}
}

// BenchmarkFirstPageOfIncidents measures the heap one first page (the default 100
// incidents) allocates, for a partner with 100 incidents and one with 50,000: the read
// model query alone, and GET /incidents, /state and /history as a client calls them. Compare
// B/op between the two sizes; speed is not the point. /state folds every event up to its
// instant, so its B/op still grows with them (each page of events read is garbage once
// folded), but what it keeps does not: BenchmarkTenConcurrentFirstPagesPeakHeap shows
// the heap that follows. Run with
// go test ./handlers/ -run '^$' -bench FirstPageOfIncidents -benchtime 20x
func BenchmarkFirstPageOfIncidents(b *testing.B) {
	w := newAuditWorld(b)
	sizes := map[string]int{"4700100": 100, "4750000": 50_000}
	for mpn, n := range sizes {
		w.seedBusyPartner(mpn, n)
	}
	w.rebuildAll()
	w.warmUp(sizes)
	rm := projections.NewReadModels(w.db)
	for _, mpn := range []string{"4700100", "4750000"} {
		b.Run(fmt.Sprintf("incidents=%d/query", sizes[mpn]), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				in, err := rm.Incidents(context.Background(), mpn, "", paging.Page{})
				if err != nil || len(in.Incidents) != 100 {
					b.Fatalf("%d incidents, %v", len(in.Incidents), err)
				}
			}
		})
		for _, route := range []string{"incidents", "state", "history"} {
			b.Run(fmt.Sprintf("incidents=%d/GET_%s", sizes[mpn], route), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if code, body := w.get("/v1/partners/"+mpn+"/"+route, "admin@"+mpn); code != http.StatusOK {
						b.Fatalf("%d %s", code, body)
					}
				}
			})
		}
	}
}

// BenchmarkTenConcurrentFirstPagesPeakHeap is the shape of the load that took a
// process over a gigabyte: ten clients asking at once for the first page of a partner
// with 50,000 incidents. It reports the peak of the heap's objects (live and not yet
// collected garbage, what the process's RSS follows) while the ten requests run.
// Run with go test ./handlers/ -run '^$' -bench TenConcurrent -benchtime 3x
func BenchmarkTenConcurrentFirstPagesPeakHeap(b *testing.B) {
	w := newAuditWorld(b)
	w.seedBusyPartner("4750000", 50_000)
	w.rebuildAll()
	w.warmUp(map[string]int{"4750000": 50_000})
	for _, route := range []string{"incidents", "state"} {
		b.Run("GET_"+route, func(b *testing.B) {
			var peak, idle uint64
			for b.Loop() {
				runtime.GC()
				idle = max(idle, heapObjects())
				stop := sampleHeapPeak(&peak)
				var wg sync.WaitGroup
				for range 10 {
					wg.Go(func() {
						if code, body := w.get("/v1/partners/4750000/"+route, "admin@4750000"); code != http.StatusOK {
							b.Errorf("%d %s", code, body)
						}
					})
				}
				wg.Wait()
				stop()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			// The bound is on what the ten requests add to an idle process.
			b.ReportMetric(float64(peak-min(peak, idle))/(1<<20), "above-idle-MB")
		})
	}
}

// warmUp reads each partner once before anything is measured, as a running process
// has: what the process keeps between requests (the command executor's states, when it
// keeps them) is not counted against one request.
func (w *auditWorld) warmUp(partners map[string]int) {
	for mpn := range partners {
		if code, body := w.get("/v1/partners/"+mpn+"/incidents", "admin@"+mpn); code != http.StatusOK {
			w.t.Fatalf("%d %s", code, body)
		}
	}
}

// heapObjects is the heap's objects now, live and not yet collected.
func heapObjects() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// sampleHeapPeak records the largest heap-objects size seen until stop is called.
func sampleHeapPeak(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			*peak = max(*peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
