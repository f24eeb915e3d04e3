package metrics_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
	"ledger/infra/pgtest"
	"ledger/infra/sqlstore"
	"ledger/infra/testkit"
)

const relistensFamily = "benefits_event_store_relistens_total"

// Ops see each time the PostgreSQL event store's LISTEN connection was lost and
// confirmed again: the counter is served from the start, at 0, and counts a reconnect.
func TestTheEventStoresLISTENReconnectsAreCountedOnMetrics(t *testing.T) {
	store, err := sqlstore.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := watchedListener(t, store)
	if v, ok := scrapeAt(t, srv).Value(relistensFamily, nil); !ok || v != 0 {
		t.Fatalf("before any reconnect: %s %v (served %v), want 0", relistensFamily, v, ok)
	}

	if ended := pgtest.TerminateListeners(t, store.DB().DB, ""); ended != 1 {
		t.Fatalf("terminated %d listener backends, want the store's one", ended)
	}
	testkit.Eventually(t, "/metrics counts the reconnect", func() bool {
		v, _ := scrapeAt(t, srv).Value(relistensFamily, nil)
		return v == 1
	})
}

// A store that keeps no LISTEN connection (SQLite) serves no reconnect counter: a 0
// would claim a listener that never dropped.
func TestAStoreThatDoesNotListenServesNoReconnectCounter(t *testing.T) {
	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if page := scrapeAt(t, watchedListener(t, store)); page[relistensFamily] != nil {
		t.Fatalf("a SQLite store serves %s", relistensFamily)
	}
}

// watchedListener serves the /metrics of a process watching store's listener.
func watchedListener(t *testing.T, store metrics.ListeningStore) *httptest.Server {
	t.Helper()
	m := metrics.New(quietLogger())
	if err := m.WatchListener(store); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return srv
}

func scrapeAt(t *testing.T, srv *httptest.Server) metricstest.Page {
	t.Helper()
	page, err := metricstest.Scrape(srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return page
}
