package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/commands"
	"ledger/infra/eventstore"
	"ledger/infra/metrics"
	"ledger/infra/metrics/metricstest"
	"ledger/infra/natsbus"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
	"ledger/infra/testkit"
	"ledger/projections"
)

// eventCounts is a small real read model: how many events of each type it has folded.
type eventCounts struct{}

func (eventCounts) Name() string     { return "event_counts" }
func (eventCounts) Version() int     { return 1 }
func (eventCounts) Tables() []string { return []string{"event_counts"} }
func (eventCounts) Create(ctx context.Context, db bun.IDB, t projections.Tables) error {
	_, err := db.ExecContext(ctx, "CREATE TABLE "+t["event_counts"]+" (type TEXT PRIMARY KEY, n INTEGER NOT NULL)")
	return err
}
func (eventCounts) Apply(ctx context.Context, tx bun.Tx, t projections.Tables, batch []eventstore.RecordedEvent) error {
	for _, ev := range batch {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+t["event_counts"]+" (type, n) VALUES (?, 1) "+
			"ON CONFLICT (type) DO UPDATE SET n = "+t["event_counts"]+".n + 1", ev.Type); err != nil {
			return err
		}
	}
	return nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return len(p), nil }

// world is the real path on one machine: a SQLite event store, an embedded NATS server,
// the forwarder, the projection runner and a SQLite read database.
type world struct {
	t     testing.TB
	m     *metrics.Metrics
	store *metrics.Store
	raw   *sqlstore.Store
	js    *natsbus.Conn
	db    *bun.DB
	cps   *projections.Checkpoints
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	raw, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	nats, err := natsbus.StartEmbedded(ctx, natsbus.EmbeddedOptions{StoreDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	conn, err := natsbus.Connect(ctx, nats.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "read.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := metrics.New(quietLogger())
	return &world{t: t, m: m, store: m.ObserveStore(raw), raw: raw, js: conn, db: db, cps: projections.NewCheckpoints(db)}
}

// background runs fn until the returned stop, which waits for it to return.
func (w *world) background(fn func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = fn(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	w.t.Cleanup(stop)
	return stop
}

func (w *world) appendEvents(stream string, n int) eventstore.Position {
	w.t.Helper()
	var last eventstore.Position
	for i := range n {
		res, err := w.store.Append(context.Background(), stream, eventstore.Any(), eventstore.EventData{
			ID: uuid.NewString(), Type: "Tick", Data: fmt.Appendf(nil, `{"i":%d}`, i)})
		if err != nil {
			w.t.Fatal(err)
		}
		last = res.Position
	}
	return last
}

func (w *world) scrape() metricstest.Page {
	w.t.Helper()
	srv := httptest.NewServer(w.m.Handler())
	defer srv.Close()
	page, err := metricstest.Scrape(srv.Client(), srv.URL)
	if err != nil {
		w.t.Fatal(err)
	}
	return page
}

func value(t testing.TB, page metricstest.Page, name string, labels metricstest.Labels) float64 {
	t.Helper()
	v, ok := page.Value(name, labels)
	if !ok {
		t.Fatalf("%s%v missing from the scrape; families: %s", name, labels, page)
	}
	return v
}

func TestScrapeShowsCheckpointsLagBatchesAndForwarderProgress(t *testing.T) {
	w := newWorld(t)
	fwd, err := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: w.store, JetStream: w.js.JetStream, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stopForwarder := w.background(fwd.Run)
	runner, err := projections.NewRunner(projections.RunnerConfig{DB: w.db, JetStream: w.js.JetStream, Store: w.store,
		Logger: quietLogger()}, w.m.ObserveProjections(eventCounts{})...)
	if err != nil {
		t.Fatal(err)
	}
	// Set up before running in the background, as the process does: a WaitFor before
	// the checkpoint row exists answers "unknown projection".
	if err := runner.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopRunner := w.background(runner.Run)
	if err := w.m.WatchProgress(metrics.Progress{Log: w.store, Projections: w.cps, Runner: runner, Forwarder: fwd}); err != nil {
		t.Fatal(err)
	}
	proj := metricstest.Labels{"projection": "event_counts"}

	head := w.appendEvents("ticks-1", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := w.cps.WaitFor(ctx, "event_counts", head); err != nil {
		t.Fatal(err)
	}
	// The runner may commit an event before its PubAck reaches the forwarder.
	testkit.Eventually(t, "the forwarder sees the head acknowledged", func() bool { return fwd.Forwarded() == head })
	page := w.scrape()
	for _, c := range []struct {
		name   string
		metric string
		labels metricstest.Labels
		want   float64
	}{
		{"caught up: head is the fifth event", "benefits_event_store_head_position", nil, 5},
		{"caught up: checkpoint at the head", "benefits_projection_checkpoint_position", proj, 5},
		{"caught up: no events behind", "benefits_projection_lag_events", proj, 0},
		{"caught up: no seconds behind", "benefits_projection_lag_seconds", proj, 0},
		{"every event applied once by this runner", "benefits_projection_events_applied_total", proj, 5},
		{"nothing dead-lettered", "benefits_projection_dead_letters", proj, 0},
		{"status live", "benefits_projection_status", metricstest.Labels{"projection": "event_counts", "status": "live"}, 1},
		{"forwarder at the head", "benefits_forwarder_position", nil, 5},
		{"forwarder not behind", "benefits_forwarder_lag_events", nil, 0},
		{"five appends succeeded", "benefits_event_store_appends_total", metricstest.Labels{"outcome": "ok"}, 5},
		{"five events appended", "benefits_event_store_appended_events_total", nil, 5},
	} {
		if got := value(t, page, c.metric, c.labels); got != c.want {
			t.Errorf("%s: %s%v = %v, want %v", c.name, c.metric, c.labels, got, c.want)
		}
	}
	if sum, _ := page.HistogramSum("benefits_projection_batch_size_events", proj); sum != 5 {
		t.Errorf("batch sizes sum to %v events, want the 5 applied", sum)
	}

	// The projector stops; the forwarder goes on: the projection falls behind by what
	// follows, and the age of its oldest unapplied event grows.
	stopRunner()
	w.appendEvents("ticks-2", 3)
	testkit.Eventually(t, "the forwarder to publish event 8", func() bool { return fwd.Forwarded().Commit == 8 })
	time.Sleep(20 * time.Millisecond)
	page = w.scrape()
	if got := value(t, page, "benefits_projection_lag_events", proj); got != 3 {
		t.Errorf("stopped projector: lag %v events, want 3", got)
	}
	if got := value(t, page, "benefits_projection_lag_seconds", proj); got < 0.02 {
		t.Errorf("stopped projector: lag %v s, want at least the 20 ms waited", got)
	}
	if got := value(t, page, "benefits_projection_checkpoint_position", proj); got != 5 {
		t.Errorf("stopped projector: checkpoint %v, want it still at 5", got)
	}

	// The forwarder stops too: it falls behind by what is appended next.
	stopForwarder()
	w.appendEvents("ticks-3", 2)
	page = w.scrape()
	if got := value(t, page, "benefits_forwarder_lag_events", nil); got != 2 {
		t.Errorf("stopped forwarder: lag %v events, want 2", got)
	}
	if got := value(t, page, "benefits_forwarder_lag_seconds", nil); got <= 0 {
		t.Errorf("stopped forwarder: lag %v s, want > 0", got)
	}
	if got := value(t, page, "benefits_projection_lag_events", proj); got != 5 {
		t.Errorf("stopped projector: lag %v events, want 5", got)
	}
}

func TestAppendsAreCountedByOutcome(t *testing.T) {
	w := newWorld(t)
	w.appendEvents("s", 1)
	_, err := w.store.Append(context.Background(), "s", eventstore.NoStream(),
		eventstore.EventData{ID: uuid.NewString(), Type: "Tick", Data: []byte(`{}`)})
	if !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("append to an existing stream expecting none: %v", err)
	}
	page := w.scrape()
	for outcome, want := range map[string]float64{"ok": 1, "wrong_expected_revision": 1} {
		if got := value(t, page, "benefits_event_store_appends_total", metricstest.Labels{"outcome": outcome}); got != want {
			t.Errorf("appends %s = %v, want %v", outcome, got, want)
		}
		if got := value(t, page, "benefits_event_store_append_duration_seconds", metricstest.Labels{"outcome": outcome}); got != want {
			t.Errorf("append latency count %s = %v, want %v", outcome, got, want)
		}
	}
	if got := value(t, page, "benefits_event_store_appended_events_total", nil); got != 1 {
		t.Errorf("appended events %v, want 1 (the refused append stored nothing)", got)
	}
}

// The executor guards its appends by the rules stream's revision through this wrapper:
// the guard must reach the store (a moved rules stream refuses the append) and the
// append be counted like any other.
func TestGuardedAppendsKeepTheirGuardAndAreCounted(t *testing.T) {
	w := newWorld(t)
	if !eventstore.AppendsCanBeGuarded(w.store) {
		t.Fatal("the observed SQLite store does not report guarded appends")
	}
	guarded := func(expected eventstore.ExpectedRevision) error {
		_, err := w.store.AppendGuarded(context.Background(), "partner", eventstore.Any(),
			eventstore.Guard{Stream: "rules", Expected: expected}, eventstore.EventData{ID: uuid.NewString(), Type: "Tick", Data: []byte(`{}`)})
		return err
	}
	if err := guarded(eventstore.NoStream()); err != nil {
		t.Fatalf("guarded by a missing stream expected missing: %v", err)
	}
	w.appendEvents("rules", 1)
	if err := guarded(eventstore.NoStream()); !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("guarded by a stream that moved: %v, want ErrWrongExpectedRevision", err)
	}
	page := w.scrape()
	for outcome, want := range map[string]float64{"ok": 2, "wrong_expected_revision": 1} {
		if got := value(t, page, "benefits_event_store_appends_total", metricstest.Labels{"outcome": outcome}); got != want {
			t.Errorf("appends %s = %v, want %v", outcome, got, want)
		}
	}
}

func TestCommandsAreCountedByTypeAndOutcome(t *testing.T) {
	w := newWorld(t)
	x := w.m.ObserveCommands(commands.New(w.store, commands.WithLogger(quietLogger())))
	platform := domain.Actor{UserID: "partner-center", SystemRoles: []string{domain.SystemPlatform}}
	nobody := domain.Actor{UserID: "someone"}
	ctx := context.Background()
	enroll := func(by domain.Actor, mpn string) error {
		_, err := x.Partner(ctx, mpn, domain.EnrollPartner{MPNID: mpn, By: by, Name: "Contoso"}, commands.Meta{Actor: by})
		return err
	}
	if err := enroll(platform, "100001"); err != nil {
		t.Fatal(err)
	}
	if err := enroll(platform, "100002"); err != nil {
		t.Fatal(err)
	}
	if err := enroll(nobody, "100003"); err == nil {
		t.Fatal("R-platform: enrolment by a non-platform actor was accepted")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := x.Partner(canceled, "100004", domain.EnrollPartner{MPNID: "100004", By: platform, Name: "Fabrikam"},
		commands.Meta{Actor: platform}); err == nil {
		t.Fatal("a command on a cancelled context succeeded")
	}
	page := w.scrape()
	for outcome, want := range map[string]float64{metrics.OutcomeAccepted: 2, metrics.OutcomeRefused: 1, metrics.OutcomeCanceled: 1} {
		got := value(t, page, "benefits_commands_total", metricstest.Labels{"command": "EnrollPartner", "outcome": outcome})
		if got != want {
			t.Errorf("EnrollPartner %s = %v, want %v", outcome, got, want)
		}
	}
	if got := value(t, page, "benefits_commands_duration_seconds", metricstest.Labels{"command": "EnrollPartner"}); got != 4 {
		t.Errorf("command latency count %v, want 4", got)
	}
}
