package metrics_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
	"ledger/infra/sqlstore"
)

// The command executor's cache of partner states shows on /metrics: with room for
// about two enrolled partners' states by bytes, commands on five evict the least
// recently used, the kept bytes stay within the bound, and a command on a partner
// still kept is a hit while one on an evicted partner is a miss.
func TestStateCacheEvictionsByBytesShowOnMetrics(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	platform := domain.Actor{SystemRoles: []string{domain.SystemPlatform}}
	enrol := func(x *commands.Executor, mpn string) {
		t.Helper()
		if _, err := x.Partner(ctx, mpn, domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso " + mpn}, commands.Meta{Actor: platform}); err != nil {
			t.Fatal(err)
		}
	}
	probe := commands.New(store, commands.WithSnapshotEvery(0))
	enrol(probe, "4714000")
	one := probe.StateCacheStats().Bytes // an enrolled partner's state
	probe.Close()

	bound := one * 5 / 2
	x := commands.New(store, commands.WithSnapshotEvery(0), commands.WithStateCacheBytes(bound))
	t.Cleanup(func() { x.Close() })
	m := metrics.New(quietLogger())
	if err := m.WatchStates(x); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	for i := range 5 {
		enrol(x, fmt.Sprintf("471400%d", i+1))
	}
	if _, _, err := x.LoadPartner(ctx, "4714005"); err != nil { // kept: a hit
		t.Fatal(err)
	}
	if _, _, err := x.LoadPartner(ctx, "4714001"); err != nil { // evicted: a miss
		t.Fatal(err)
	}
	page := scrapeAt(t, srv)
	states, bytes := value(t, page, "benefits_state_cache_states", metricstest.Labels{}), value(t, page, "benefits_state_cache_bytes", metricstest.Labels{})
	hits, misses := value(t, page, "benefits_state_cache_hits_total", metricstest.Labels{}), value(t, page, "benefits_state_cache_misses_total", metricstest.Labels{})
	evictions := value(t, page, "benefits_state_cache_evictions_total", metricstest.Labels{})
	if states != 2 || bytes <= 0 || bytes > float64(bound) || evictions != 4 || hits != 1 || misses != 6 {
		t.Fatalf("five partners through room for two (%d bytes each, bound %d): %v states, %v bytes, %v hits, %v misses, %v evictions; want 2 states within the bound, 1 hit, 6 misses (5 enrolments, 1 evicted), 4 evictions",
			one, bound, states, bytes, hits, misses, evictions)
	}
}
