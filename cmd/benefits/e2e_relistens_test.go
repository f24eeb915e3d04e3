package main

import (
	"testing"

	"ledger/infra/metrics/metricstest"
)

// A process on the PostgreSQL event store serves the count of its LISTEN reconnects
// (infra/metrics proves it counts them), so ops can alert on one that keeps climbing.
func TestAProcessOnPostgreSQLServesItsLISTENReconnectsOnMetrics(t *testing.T) {
	s := startSystem(t, postgresConfig(t), wireOptions{})
	page, err := metricstest.Scrape(s.client, s.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := page.Value("benefits_event_store_relistens_total", nil); !ok || v != 0 {
		t.Fatalf("benefits_event_store_relistens_total %v (served %v), want 0 on a fresh process", v, ok)
	}
}
