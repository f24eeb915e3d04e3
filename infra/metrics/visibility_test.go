package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
	"ledger/infra/natsbus"
	"ledger/infra/testkit"
	"ledger/projections"
)

// Issue 10: ops tell which stage a slow read-your-writes query waited on: every event
// forwarded and every event a read model applied is timed from its recording, and every
// query's wait for a position by its outcome.
func TestEachStageFromCommandToVisibleIsTimedPerEvent(t *testing.T) {
	w := newWorld(t)
	fwd, err := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: w.store, JetStream: w.js.JetStream,
		Logger: quietLogger(), OnForwarded: w.m.Forwarded})
	if err != nil {
		t.Fatal(err)
	}
	w.background(fwd.Run)
	runner, err := projections.NewRunner(projections.RunnerConfig{DB: w.db, JetStream: w.js.JetStream, Store: w.store,
		Logger: quietLogger(), OnApplied: w.m.Applied}, eventCounts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.background(runner.Run)
	waits := w.m.ObserveWaits(runner.Checkpoints())

	recorded := time.Now()
	head := w.appendEvents("ticks-1", 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := waits.WaitForPartner(ctx, "event_counts", "", head); err != nil {
		t.Fatal(err)
	}
	// The forwarder times an event once its PubAck arrives, the runner once the event's
	// waiters are woken: either may come just after the wait returned.
	testkit.Eventually(t, "every event timed by the forwarder and by the read model", func() bool {
		page := w.scrape()
		forwarded, _ := page.Value("benefits_forwarder_delay_seconds", nil)
		applied, _ := page.Value("benefits_projection_delay_seconds", metricstest.Labels{"projection": "event_counts"})
		return forwarded >= 4 && applied >= 4
	})
	elapsed := time.Since(recorded).Seconds()
	// A query for no position only looks: it is not a wait.
	if _, err := waits.WaitForPartner(ctx, "event_counts", "", eventstore.Start); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 10*time.Millisecond)
	_, err = waits.WaitForPartner(short, "event_counts", "", eventstore.Position{Commit: head.Commit + 1, Prepare: head.Prepare + 1})
	stop()
	if !errors.Is(err, projections.ErrProjectionBehind) {
		t.Fatalf("wait for a position nobody appended: %v, want projection behind", err)
	}
	page := w.scrape()
	for _, c := range []struct {
		metric string
		labels metricstest.Labels
		want   float64
	}{
		{"benefits_forwarder_delay_seconds", nil, 4},
		{"benefits_projection_delay_seconds", metricstest.Labels{"projection": "event_counts"}, 4},
		{"benefits_query_wait_seconds", metricstest.Labels{"projection": "event_counts", "outcome": metrics.WaitReached}, 1},
		{"benefits_query_wait_seconds", metricstest.Labels{"projection": "event_counts", "outcome": metrics.WaitBehind}, 1},
	} {
		if got := value(t, page, c.metric, c.labels); got != c.want {
			t.Errorf("%s%v counts %v observations, want %v", c.metric, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"benefits_forwarder_delay_seconds", "benefits_projection_delay_seconds"} {
		sum, _ := page.HistogramSum(name, nil)
		if sum <= 0 || sum > 4*elapsed {
			t.Errorf("%s sums %v s over 4 events, want each within the %v s from recording to visible", name, sum, elapsed)
		}
	}
}
