package projections

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/natsbus"
	"ledger/infra/partition"
	"ledger/infra/pgtest"
	"ledger/infra/sqldb"
)

// liveBenchEvents is the events written per run; BENEFITS_LIVE_BENCH_EVENTS overrides
// the 10,000 default.
func liveBenchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("BENEFITS_LIVE_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

// BenchmarkLiveProjection measures the live path of the five read models (forwarder,
// NATS, runners), split into 1, 2 or 4 partitions and applied by 1 or 2 projector
// processes (runners with their own NATS connection and read-database pool), on each
// read database. events/s: a backlog of partners' events (20 each, in the store before
// the forwarder starts) from the forwarder's start until every read model has applied
// the last. p99-lag-ms: then, under a steady load of liveLagRate events/s for 5 s, the
// time from an event's append to the start of the transaction applying it, over every
// event of every read model. cpu-us/event, go-cores, pg-cores, host-cores: the CPU the
// catch-up took (this process, which holds runners, forwarder, NATS and the event store,
// and the PostgreSQL server), and what the whole host was busy with meanwhile
// (cputime_test.go). Run it with -benchtime=1x.
func BenchmarkLiveProjection(b *testing.B) {
	for _, d := range readDialects {
		for _, parts := range []int{1, 2, 4} {
			for _, procs := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/partitions=%d/processes=%d", d.name, parts, procs), func(b *testing.B) {
					for range b.N {
						benchLive(b, sqldb.Dialect(d.name), parts, procs)
					}
				})
			}
		}
	}
}

// liveBenchReadConns is the read-database pool of each projector process, as the
// benefits binary opens it by default (--read-db-max-conns 16, as many kept idle).
// database/sql's own default (unbounded, 2 idle) would have each transaction beyond
// the second open a new PostgreSQL connection (a backend forked per commit), which is
// neither what production does nor a cost of the runner.
const liveBenchReadConns = 16

// liveLagRate is the steady load under which the lag is measured, in events/s.
const liveLagRate = 200

// lagRecorder wraps a read model and records, for each event, how long after its append
// a transaction began applying it.
type lagRecorder struct {
	Projection
	mu   *sync.Mutex
	lags *[]time.Duration
}

func (l lagRecorder) Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error {
	now := time.Now()
	l.mu.Lock()
	for _, ev := range batch {
		*l.lags = append(*l.lags, now.Sub(ev.RecordedAt))
	}
	l.mu.Unlock()
	return l.Projection.Apply(ctx, tx, t, batch)
}

func benchLive(b *testing.B, dialect sqldb.Dialect, parts, procs int) {
	b.StopTimer()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	store, e := benchStoreAndBus(b, quiet)
	// The stream exists before the projectors start, as once a forwarder has run: Setup
	// makes the consumers and the workers pull from the start, instead of backing off
	// (up to 5 s) while the stream is missing and counting that into the figure.
	if _, err := natsbus.EnsureStream(ctx, benchConn(b, e).JetStream, natsbus.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	dsn := benchTarget(b, dialect)
	var mu sync.Mutex
	var lags []time.Duration
	var runners []*Runner
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for range procs {
		conn := benchConn(b, e)
		db, err := sqldb.Open(ctx, dialect, dsn, sqldb.MaxConns(liveBenchReadConns))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var models []Projection
		for _, p := range All() {
			models = append(models, lagRecorder{Projection: p, mu: &mu, lags: &lags})
		}
		r, err := NewRunner(RunnerConfig{DB: db, JetStream: conn.JetStream, Store: store, Logger: quiet,
			Partitions: parts, PinnedTTL: 2 * time.Second}, models...)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Setup(ctx); err != nil {
			b.Fatal(err)
		}
		runners = append(runners, r)
		wg.Go(func() { _ = r.Run(runCtx) })
	}
	events := liveBenchEvents()
	t0 := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	var writers sync.WaitGroup
	lastOf := make([]struct { // per partition: its partner appended last, and where
		mpn string
		pos eventstore.Position
	}, parts)
	for w := range 8 {
		writers.Go(func() {
			for i := w; i < events/20; i += 8 {
				mpn := strconv.Itoa(2_000_000 + i)
				res, err := store.Append(ctx, domain.PartnerStream(mpn), eventstore.NoStream(), benchPartner(mpn, t0)...)
				if err != nil {
					b.Error(err)
					return
				}
				k := partition.Of(mpn, parts)
				mu.Lock()
				if lastOf[k].pos.Less(res.Position) {
					lastOf[k].mpn, lastOf[k].pos = mpn, res.Position
				}
				mu.Unlock()
			}
		})
	}
	writers.Wait()
	head, _ := store.Head(ctx)
	time.Sleep(time.Second) // consumers created, membership settled: not part of the figure

	fconn, err := natsbus.Connect(ctx, e.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer fconn.Close()
	f, _ := natsbus.NewForwarder(natsbus.ForwarderConfig{Store: store, JetStream: fconn.JetStream, Logger: quiet, Partitions: parts})
	start := time.Now()
	cpu0 := sampleCPU()
	stopProfile := profileLive(b, dialect, parts, procs)
	b.StartTimer()
	wg.Go(func() { _ = f.Run(runCtx) })
	waitAll := func(head eventstore.Position) {
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		for _, p := range All() {
			if _, err := runners[0].Checkpoints().WaitFor(waitCtx, p.Name(), head); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Caught up when every partition has applied its own last event: waiting for the log's
	// head would add, for each partition whose last event is not the head, the idle pull
	// (FetchWait, 1 s) after which its checkpoint is raised to the head.
	for _, p := range All() {
		for _, last := range lastOf {
			if last.mpn == "" {
				continue
			}
			if _, err := runners[0].Checkpoints().WaitForPartner(ctx, p.Name(), last.mpn, last.pos); err != nil {
				b.Fatal(err)
			}
		}
	}
	took := time.Since(start)
	b.StopTimer()
	stopProfile()
	cpu := cpu0.until(sampleCPU())
	var skipped, backfilled uint64
	for _, r := range runners {
		for _, p := range All() {
			s, _ := r.Stats(p.Name())
			skipped, backfilled = skipped+s.Skipped, backfilled+s.Backfilled
		}
	}

	// Steady load: one partner (20 events) every 20/liveLagRate s, events built beforehand.
	mu.Lock()
	lags = lags[:0]
	mu.Unlock()
	const steady = 5 * liveLagRate / 20
	batches := make([][]eventstore.EventData, steady)
	for i := range batches {
		batches[i] = benchPartner(strconv.Itoa(3_000_000+i), t0)
	}
	tick := time.NewTicker(time.Second * 20 / liveLagRate)
	for i := range batches {
		<-tick.C
		res, err := store.Append(ctx, domain.PartnerStream(strconv.Itoa(3_000_000+i)), eventstore.NoStream(), batches[i]...)
		if err != nil {
			b.Fatal(err)
		}
		head = res.Position
	}
	tick.Stop()
	waitAll(head)
	mu.Lock()
	slices.Sort(lags)
	p99 := lags[len(lags)*99/100]
	mu.Unlock()
	b.ReportMetric(float64(events)/took.Seconds(), "events/s")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-lag-ms")
	cpu.report(b, events)
	// Work done twice or the slow way: redeliveries skipped, gaps read from the store
	// after GapGrace (a partition changing hands mid-chunk), over every read model.
	b.ReportMetric(float64(skipped), "skipped")
	b.ReportMetric(float64(backfilled), "backfilled")
}

// profileLive writes a CPU profile of the measured catch-up alone (not of writing the
// backlog before it) to $BENEFITS_LIVE_BENCH_CPUPROFILE-<dialect>-p<parts>-<procs>proc,
// when that variable is set; it returns the function that ends it.
func profileLive(b *testing.B, d sqldb.Dialect, parts, procs int) func() {
	prefix := os.Getenv("BENEFITS_LIVE_BENCH_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s-%s-p%d-%dproc", prefix, d, parts, procs))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// benchTarget is a fresh read database of the dialect for a benchmark.
func benchTarget(b *testing.B, d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return pgtest.NewDatabase(b)
	}
	return filepath.Join(b.TempDir(), "read.db")
}
