package main

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/handlers"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
	"ledger/infra/sqldb/sqldbtest"
	"ledger/infra/sqlstore"
)

// Issue 9: the disk under events.db fills up. A command answers 503 store_unavailable
// with Retry-After instead of killing the process; nothing of it is stored; queries
// keep answering; once space is freed the same command succeeds.
func TestAFullEventStoreDiskAnswersCommands503AndTheProcessKeepsServing(t *testing.T) {
	cfg := testConfig(t)
	s := startSystem(t, cfg, wireOptions{})
	platform := s.platform(t)
	before := s.enrol(t, mpnFor(90, 1), false, actionPack)
	s.benefits(t, before.mpn, platform)
	head := s.head(t)

	free := sqldbtest.FillDisk(t, eventStoreDB(t, s), filepath.Join(cfg.DataDir, eventsFileName))
	// A name longer than a page: the event cannot fit in the free space of the pages
	// the file already has, so the append must grow the file.
	enrol := map[string]any{"mpnId": mpnFor(90, 2), "name": strings.Repeat("Full Disk Partner ", 400), "csp": false}
	start := time.Now()
	refused := s.post(t, "/v1/partners", platform, enrol)
	t.Logf("the command on a full disk answered %d after %s", refused.status, time.Since(start).Round(time.Millisecond))
	refused.refused(t, http.StatusServiceUnavailable, handlers.CodeStoreUnavailable)
	if got, want := refused.header.Get("Retry-After"), strconv.Itoa(int(handlers.StoreRetryAfter.Seconds())); got != want {
		t.Errorf("Retry-After %q, want %q", got, want)
	}
	if now := s.head(t); now != head {
		t.Errorf("the refused command moved the event store's head from %s to %s", head, now)
	}
	s.benefits(t, before.mpn, platform) // a query still answers 200 from the same process
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := page.Value("benefits_event_store_appends_total", metricstest.Labels{"outcome": metrics.AppendUnavailable}); n != 1 {
		t.Errorf("appends counted as %s: %v, want 1", metrics.AppendUnavailable, n)
	}

	free()
	s.post(t, "/v1/partners", platform, enrol).want(t, http.StatusCreated)
	if got := s.benefits(t, mpnFor(90, 2), platform); got.MPNID != mpnFor(90, 2) {
		t.Errorf("benefits of the partner enrolled after space was freed: %+v", got)
	}
}

// eventStoreDB is the SQLite database under the system's event store.
func eventStoreDB(t *testing.T, s *system) *bun.DB {
	t.Helper()
	observed, ok := s.proc.store.(*metrics.Store)
	if !ok {
		t.Fatalf("event store is a %T, want the metrics wrapper", s.proc.store)
	}
	store, ok := observed.Store.(*sqlstore.Store)
	if !ok {
		t.Fatalf("event store is a %T, want the SQL store", observed.Store)
	}
	return store.DB()
}
