package main

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"ledger/handlers"
	"ledger/infra/metrics/metricstest"
	"ledger/projections"
)

// BenchmarkTopologyFailoverAfterKill9 measures, in the multi-process topology under a
// steady load of commands, how long after kill -9 of a projector the other one has
// applied an event in every partition the killed one held (of the remaining_incidents
// read model): the partitions' failover time. Each iteration kills one projector and
// starts a new one, which takes its share back before the next kill. Run it with
// -benchtime=10x for the figures (the framework runs it once with b.N = 1 first): p50
// and max are reported; every acknowledged command is then checked in the read models
// (none lost, none doubled).
func BenchmarkTopologyFailoverAfterKill9(b *testing.B) {
	tp := startTopology(b)
	api, _, projA, projB := tp.startRoles()
	platform := topoToken(b, "partner-center", handlers.RolePlatform)
	mpns := topoPartnerIDs(b, 2)
	partners := make([]topoPartner, len(mpns))
	var wg sync.WaitGroup
	for i, mpn := range mpns {
		wg.Go(func() { partners[i] = enrolGoldPartner(b, api.api, platform, mpn) })
	}
	wg.Wait()
	load := startLoad(b, partners, api.api)
	model := projections.RemainingIncidentsName

	var took []time.Duration
	victim, survivor := projA, projB
	b.ResetTimer()
	for i := range b.N {
		parts := waitHolding(b, victim, model)
		base := scrapeRole(b, survivor)
		start := time.Now()
		victim.proc.signal(b, syscall.SIGKILL)
		victim.proc.exited(b, 10*time.Second)
		deadline := start.Add(60 * time.Second)
		for !tookOver(scrapeRole(b, survivor), base, model, parts) {
			if time.Now().After(deadline) {
				b.Fatalf("run %d: partitions %v not taken over within 60s", i, parts)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		victim, survivor = survivor, tp.start(fmt.Sprintf("projector-%d", i), RoleProjector)
		b.StartTimer()
	}
	b.StopTimer()
	acked := load.stop(b)
	truth := readTruth(b, tp.esdbURL)
	checkAckedStored(b, acked, truth)
	checkReadModels(b, api.api, partners, truth)
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-failover-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-failover-ms")
	b.Logf("failover after kill -9 (pin TTL %s), %d runs: %v", topoPinTTL, len(took), took)
}

// waitHolding waits until r holds at least one partition of model and returns them.
func waitHolding(tb testing.TB, r *topoRole, model string) []int {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		page := scrapeRole(tb, r)
		var parts []int
		for k := range topoPartitions {
			if partitionHeld(page, model, k) == 1 {
				parts = append(parts, k)
			}
		}
		if len(parts) > 0 {
			return parts
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s holds no partition of %s after 60s", r.name, model)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tookOver: the survivor applied an event in every one of parts since base.
func tookOver(page, base metricstest.Page, model string, parts []int) bool {
	for _, k := range parts {
		if partitionApplied(page, model, k) <= partitionApplied(base, model, k) {
			return false
		}
	}
	return true
}
