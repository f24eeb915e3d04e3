package metrics_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ledger/infra/metrics"
	"ledger/projections"
)

// BenchmarkObserveHTTP is what every request pays for being counted and timed.
func BenchmarkObserveHTTP(b *testing.B) {
	m := metrics.New(quietLogger())
	for b.Loop() {
		m.ObserveHTTP("POST", "/v1/incidents", 201, 3*time.Millisecond)
	}
}

// BenchmarkScrapeWithProgress is one whole /metrics page of a projector process on
// SQLite whose read model is 1000 events behind: head, checkpoint, dead letters and the
// lag read over those 1000 events.
func BenchmarkScrapeWithProgress(b *testing.B) {
	w := newWorld(b)
	for range 1000 / 50 {
		w.appendEvents("bench", 50)
	}
	runner, err := projections.NewRunner(projections.RunnerConfig{DB: w.db, JetStream: w.js.JetStream, Store: w.store,
		Logger: quietLogger()}, eventCounts{})
	if err != nil {
		b.Fatal(err)
	}
	if err := runner.Setup(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := w.m.WatchProgress(metrics.Progress{Log: w.store, Projections: w.cps, Runner: runner}); err != nil {
		b.Fatal(err)
	}
	h := w.m.Handler()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `benefits_projection_lag_events{projection="event_counts"} 1000`) {
			b.Fatalf("scrape: %d\n%s", rec.Code, rec.Body)
		}
	}
}
