package projections

import (
	"context"
	"errors"
	"fmt"
	"ledger/infra/testlog"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
	"ledger/infra/sqlstore"
)

// readDialects are the read databases every runner test runs on.
var readDialects = []struct {
	name   string
	target func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "read.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

// forEachReadDialect runs test once per read database.
func forEachReadDialect(t *testing.T, test func(t *testing.T, h *harness)) {
	for _, d := range readDialects {
		t.Run(d.name, func(t *testing.T) {
			test(t, newHarness(t, sqldb.Dialect(d.name), d.target(t)))
		})
	}
}

// harness is the real path: a SQLite event store, an embedded NATS server in a temp
// dir, a forwarder, and a read database.
type harness struct {
	t        *testing.T
	store    *sqlstore.Store
	natsDir  string
	nats     *natsbus.Embedded
	natsPort int
	dialect  sqldb.Dialect
	target   string
	db       *bun.DB
	log      *slog.Logger
	// partitions splits the read models (forwarder and runners); 1 when zero.
	partitions int
	pinnedTTL  time.Duration
	// fetchWait bounds the runners' pulls, and so how soon an idle partition's
	// checkpoint is raised (RunnerConfig.FetchWait); 200 ms when zero.
	fetchWait time.Duration
	// ackWait is how long NATS waits for a runner's ack before redelivering; 1 s when
	// zero, so that redelivery tests do not wait long.
	ackWait time.Duration
	// owner names the projector process of the runners it builds (RunnerConfig.Owner):
	// two runners of one test are two processes only with two names; host:pid when empty.
	owner string
}

func newHarness(t *testing.T, d sqldb.Dialect, target string) *harness {
	t.Helper()
	h := &harness{t: t, dialect: d, target: target, natsDir: t.TempDir(), log: testLogger(t, slog.LevelInfo)}
	store, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlstore.Options{})
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	h.store = store
	h.startNATS()
	h.db = h.openReadDB()
	return h
}

func (h *harness) openReadDB() *bun.DB {
	h.t.Helper()
	db, err := sqldb.Open(context.Background(), h.dialect, h.target)
	if err != nil {
		h.t.Fatalf("open read db: %v", err)
	}
	h.t.Cleanup(func() { db.Close() })
	return db
}

// startNATS starts (or restarts, on the same port and directory) the embedded server.
func (h *harness) startNATS() {
	h.t.Helper()
	e, err := natsbus.StartEmbedded(context.Background(), natsbus.EmbeddedOptions{
		StoreDir: h.natsDir, Port: h.natsPort, Logger: testLogger(h.t, slog.LevelWarn)})
	if err != nil {
		h.t.Fatalf("start nats: %v", err)
	}
	h.t.Cleanup(e.Shutdown)
	h.nats = e
	if h.natsPort == 0 {
		url := e.ClientURL()
		fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &h.natsPort)
	}
}

func (h *harness) connect() *natsbus.Conn {
	h.t.Helper()
	c, err := natsbus.Connect(context.Background(), h.nats.ClientURL())
	if err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	h.t.Cleanup(c.Close)
	return c
}

// runForwarder forwards until the returned stop (or the end of the test).
func (h *harness) runForwarder() (*natsbus.Forwarder, func()) {
	h.t.Helper()
	f, err := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: h.store, JetStream: h.connect().JetStream,
		Logger: h.log, PublishTimeout: 500 * time.Millisecond, Partitions: h.partitions})
	if err != nil {
		h.t.Fatal(err)
	}
	return f, h.background("forwarder", f.Run)
}

// runner builds a runner on its own NATS connection.
func (h *harness) runner(conn *natsbus.Conn, ps ...Projection) *Runner {
	h.t.Helper()
	if conn == nil {
		conn = h.connect()
	}
	fetchWait := h.fetchWait
	if fetchWait == 0 {
		fetchWait = 200 * time.Millisecond
	}
	ackWait := h.ackWait
	if ackWait == 0 {
		ackWait = time.Second
	}
	r, err := NewRunner(RunnerConfig{Owner: h.owner, DB: h.db, JetStream: conn.JetStream, Store: h.store, Logger: h.log,
		AckWait: ackWait, FetchWait: fetchWait, Partitions: h.partitions, PinnedTTL: h.pinnedTTL}, ps...)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := r.Setup(context.Background()); err != nil { // so WaitFor knows the projection
		h.t.Fatal(err)
	}
	return r
}

// background runs fn until the returned stop is called (at the latest, at cleanup).
func (h *harness) background(what string, fn func(context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("%s: %v", what, err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// appendEvents appends n events of type typ, round-robin over three partner streams.
func (h *harness) appendEvents(n int, typ string) eventstore.Position {
	h.t.Helper()
	var last eventstore.Position
	for i := range n {
		res, err := h.store.Append(context.Background(), fmt.Sprintf("partner-MPN%d", i%3), eventstore.Any(),
			eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: fmt.Appendf(nil, `{"n":%d}`, i)})
		if err != nil {
			h.t.Fatalf("append: %v", err)
		}
		last = res.Position
	}
	return last
}

// appendTo appends one event of type typ to stream.
func (h *harness) appendTo(stream, typ string) eventstore.Position {
	h.t.Helper()
	res, err := h.store.Append(context.Background(), stream, eventstore.Any(),
		eventstore.EventData{ID: uuid.NewString(), Type: typ, Data: []byte(`{}`)})
	if err != nil {
		h.t.Fatalf("append: %v", err)
	}
	return res.Position
}

// waitFor waits (bounded, so a broken test fails rather than hangs) for the projection
// to reach pos, through the public read-your-writes call.
func (h *harness) waitFor(c *Checkpoints, name string, pos eventstore.Position) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitFor(ctx, name, pos); err != nil {
		h.t.Fatalf("WaitFor %s %s: %v", name, pos, err)
	}
}

// assertFoldedExactlyOnce compares the read model (read through its view) with a fold
// of the whole event store: every event counted once, none twice.
func (h *harness) assertFoldedExactlyOnce(p *counter) {
	h.t.Helper()
	want := map[string]int{}
	total := 0
	for ev, err := range h.store.ReadAll(context.Background(), eventstore.Start) {
		if err != nil {
			h.t.Fatal(err)
		}
		if ev.Type != poisonType {
			want[ev.Stream]++
			total++
		}
	}
	got := p.counts(h.t, h.db)
	for stream, n := range want {
		if got[stream] != n {
			h.t.Errorf("stream %s: read model counts %d events, the store holds %d", stream, got[stream], n)
		}
	}
	if len(got) != len(want) {
		h.t.Errorf("read model has %d streams, the store %d", len(got), len(want))
	}
	var applied int
	if err := h.db.NewSelect().TableExpr("?", bun.Ident(p.name+"_applied")).ColumnExpr("count(*)").Scan(context.Background(), &applied); err != nil {
		h.t.Fatal(err)
	}
	if applied != total {
		h.t.Errorf("%d distinct events applied, want %d", applied, total)
	}
}

// poisonType is an event type the test projection refuses.
const poisonType = "Poison"

// counter is the test-only projection: events per stream, and the set of applied
// positions, whose primary key makes a second application of one event fail loudly.
type counter struct {
	name    string
	version int
	// onApply, if set, runs inside each Apply after the rows are written.
	onApply func(batch []eventstore.RecordedEvent)
	applies atomic.Int64
}

func newCounter(name string) *counter { return &counter{name: name, version: 1} }

func (c *counter) Name() string     { return c.name }
func (c *counter) Version() int     { return c.version }
func (c *counter) Tables() []string { return []string{c.name + "_counts", c.name + "_applied"} }

func (c *counter) Create(ctx context.Context, db bun.IDB, t Tables) error {
	if _, err := db.NewRaw(`CREATE TABLE ? (stream VARCHAR(200) PRIMARY KEY, events BIGINT NOT NULL)`,
		t.Ident(c.name+"_counts")).Exec(ctx); err != nil {
		return err
	}
	if _, err := db.NewRaw(`CREATE TABLE ? (position BIGINT PRIMARY KEY, event_id VARCHAR(64) NOT NULL)`,
		t.Ident(c.name+"_applied")).Exec(ctx); err != nil {
		return err
	}
	_, err := db.NewRaw(`CREATE INDEX ? ON ? (event_id)`, bun.Ident(t.Index(c.name+"_applied", "event")),
		t.Ident(c.name+"_applied")).Exec(ctx)
	return err
}

func (c *counter) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	c.applies.Add(1)
	for _, ev := range batch {
		if ev.Type == poisonType {
			return errors.New("poison event refused")
		}
		if _, err := tx.NewRaw(`INSERT INTO ? (position, event_id) VALUES (?, ?)`,
			t.Ident(c.name+"_applied"), int64(ev.Position.Commit), ev.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewRaw(`INSERT INTO ? AS c (stream, events) VALUES (?, 1)
			ON CONFLICT (stream) DO UPDATE SET events = c.events + 1`,
			t.Ident(c.name+"_counts"), ev.Stream).Exec(ctx); err != nil {
			return err
		}
	}
	if c.onApply != nil {
		c.onApply(batch)
	}
	return nil
}

// counts reads the logical view, as a dashboard would.
func (c *counter) counts(t *testing.T, db bun.IDB) map[string]int {
	t.Helper()
	var rows []struct {
		Stream string
		Events int
	}
	if err := db.NewSelect().TableExpr("?", bun.Ident(c.name+"_counts")).Column("stream", "events").
		Scan(context.Background(), &rows); err != nil {
		t.Fatalf("read view %s_counts: %v", c.name, err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Stream] = r.Events
	}
	return out
}

// testLogger writes to the test's output while the test runs, and nowhere after.
func testLogger(t *testing.T, level slog.Level) *slog.Logger { return testlog.New(t, level) }
