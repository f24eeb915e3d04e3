// Package projections builds the read models. Each read model is a Projection: a name, a
// version, the tables it owns, and a pure Apply of a batch of events to those tables.
// The Runner around them, the same for every projection, owns delivery from NATS,
// checkpoints, gaps, retries, dead letters, generations and read-your-writes.
package projections

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/trace"

	"ledger/infra/eventstore"
)

// Projection is one read model.
type Projection interface {
	Name() string     // "remaining_incidents"
	Version() int     // bumps when its code or schema changes; a bump rebuilds it
	Tables() []string // logical table names it owns
	// Create makes this generation's tables (t's physical names), indexes included.
	Create(ctx context.Context, db bun.IDB, t Tables) error
	// Apply folds a batch, in position order, into t; it touches nothing but t, so the
	// runner can retry it, split it, or run it into another generation.
	Apply(ctx context.Context, tx bun.Tx, t Tables, batch []eventstore.RecordedEvent) error
}

// EventLog is the event store as the runner reads it: to fill gaps in what NATS
// delivered, and to build a generation from scratch.
type EventLog interface {
	ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
}

// RunnerConfig wires a Runner.
type RunnerConfig struct {
	// Owner names this projector process on the partitions it commits (ops see who
	// holds which); host:pid when empty.
	Owner     string
	DB        *bun.DB // the read database (sqldb.OpenSQLite or OpenPostgres)
	JetStream jetstream.JetStream
	Store     EventLog
	Logger    *slog.Logger
	// BatchSize caps events per chunk of a partition, and so per transaction but for
	// the shared ones of a read model's partitions (groupMaxEvents chunks); 500 when zero.
	BatchSize int
	// AckWait is how long NATS waits for an ack before redelivering; twice PinnedTTL
	// when zero: a delivery to a process that died comes back to the partition's new
	// holder, and a live holder commits a chunk well within PinnedTTL.
	AckWait time.Duration
	// FetchWait bounds one pull request; 1 s when zero, and at most half PinnedTTL.
	FetchWait time.Duration
	// StopGrace bounds how long a batch in flight may take to commit after ctx ends;
	// 10 s when zero.
	StopGrace time.Duration
	// GapGrace is how long a delivery whose predecessors are not yet committed waits for
	// the process holding them (another projector sharing the consumer) before the runner
	// reads them from the store itself; counted from when the stream stored the delivery,
	// so a backlog is filled at once. 1 s when zero.
	GapGrace time.Duration
	// Tracer, when set, traces each committed batch of traced events (runner_trace.go).
	Tracer trace.Tracer
	// Partitions splits every read model by partner (partition.Of the MPN ID) into that
	// many partitions, each with its own consumer, checkpoint and position chain, applied
	// by one projector process at a time; 1 when zero. It must be the forwarder's count.
	// A read model set up with another count is rebuilt into a new generation with this
	// one at Setup.
	Partitions int
	// OnApplied, when set, is told of the events each committed batch of the live
	// generation applied (dead-lettered ones included), after the waiters for them are
	// woken (metrics: how long events take to become visible). It must not block.
	OnApplied func(projection string, events []eventstore.RecordedEvent)
	// PinnedTTL is how long a partition stays with a projector process that stopped
	// pulling (killed, hung, cut off) before NATS gives it to another: the bound of a
	// failover. 5 s when zero. A commit must take well under it.
	PinnedTTL time.Duration
}

// Stats counts what one runner did for a projection since it started.
type Stats struct {
	Applied      uint64 // events applied (including backfilled ones)
	Skipped      uint64 // deliveries at or below the checkpoint: redeliveries, duplicates
	Backfilled   uint64 // events read from the store to close a gap in the chain
	DeadLettered uint64
	// Released counts the partitions this process handed to another to rebalance.
	Released uint64
	// AppliedByPartition is Applied split by partition: which partitions this process
	// applied, and how much of each.
	AppliedByPartition []uint64
}

// Runner runs every projection: one durable JetStream consumer and one goroutine each.
type Runner struct {
	cfg         RunnerConfig
	log         *slog.Logger
	projections []Projection
	checkpoints *Checkpoints
	stats       map[string]*stats
	setupOnce   sync.Mutex
	setupDone   bool
	// sqliteWrites commits this process's live projectors' batches together on SQLite,
	// which has one writer. Left to SQLite's busy handler, a projector that finds the
	// lock taken sleeps 1, 2, 5 ... up to 100 ms between tries, whatever the lock's
	// holder needs; five projectors committing small batches on one file then stalled
	// one read model for 100-300 ms at a time, and read-your-writes queries with it.
	// Taking turns in Go removed the sleeps but left five transactions, five fsyncs, in
	// every round; one transaction per round pays one (issue 10, txGroup).
	sqliteWrites *txGroup
	held         map[string][]*ownership // by projection, by partition
	// decodes decodes each delivered event once for all the read models (decode_share.go).
	decodes *sharedDecodes
}

// ForgetDecoded drops the events this runner keeps decoded for its read models: an
// erasure's follow-up, so that no plaintext of the erased subject outlives its key.
func (r *Runner) ForgetDecoded() { r.decodes.forget() }

// Pins reports, per partition of a projection, the pin NATS gave this runner's pulls
// for it (PriorityGroup), or "" where this runner does not hold the partition: which
// partitions it applies now.
func (r *Runner) Pins(name string) []string {
	owns := r.held[name]
	out := make([]string, len(owns))
	for k, o := range owns {
		out[k] = o.pin()
	}
	return out
}

type stats struct {
	applied, skipped, backfilled, dead, released atomic.Uint64
	byPartition                                  []atomic.Uint64 // applied, by partition
}

// NewRunner checks the projections' names and tables (unique, plain identifiers).
func NewRunner(cfg RunnerConfig, ps ...Projection) (*Runner, error) {
	if cfg.DB == nil || cfg.JetStream == nil || cfg.Store == nil {
		return nil, errors.New("projection runner: DB, JetStream and Store are required")
	}
	if cfg.BatchSize <= 0 || cfg.BatchSize > 500 {
		cfg.BatchSize = 500
	}

	cfg.FetchWait = orDefault(cfg.FetchWait, time.Second)
	cfg.StopGrace = orDefault(cfg.StopGrace, 10*time.Second)
	cfg.GapGrace = orDefault(cfg.GapGrace, time.Second)
	cfg.PinnedTTL = orDefault(cfg.PinnedTTL, 5*time.Second)
	// NATS renews a partition's pin only when a new pull request comes: a pull longer
	// than PinnedTTL loses the pin of a partition that stayed idle through it, and the
	// partition's next event then waits a whole pull wait before it is applied (the
	// worker pulls again only once it may: see ownership.mayPull).
	cfg.FetchWait = min(cfg.FetchWait, cfg.PinnedTTL/2)
	cfg.AckWait = orDefault(cfg.AckWait, 2*cfg.PinnedTTL)
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Runner{cfg: cfg, log: log.With("component", "projections"), checkpoints: newRunnerCheckpoints(cfg.DB, cfg.Owner),
		stats: map[string]*stats{}, held: map[string][]*ownership{}, sqliteWrites: newTxGroup(cfg.DB),
		decodes: newSharedDecodes()}
	tables := map[string]string{}
	for _, p := range ps {
		if err := checkIdent("projection", p.Name()); err != nil {
			return nil, err
		}
		if _, dup := r.stats[p.Name()]; dup {
			return nil, fmt.Errorf("projection %s registered twice", p.Name())
		}
		if len(p.Tables()) == 0 {
			return nil, fmt.Errorf("projection %s declares no tables", p.Name())
		}
		for _, t := range p.Tables() {
			if err := checkIdent("table", t); err != nil {
				return nil, fmt.Errorf("projection %s: %w", p.Name(), err)
			}
			if owner, taken := tables[t]; taken {
				return nil, fmt.Errorf("table %s claimed by both %s and %s", t, owner, p.Name())
			}
			tables[t] = p.Name()
		}
		r.projections = append(r.projections, p)
		r.stats[p.Name()] = &stats{byPartition: make([]atomic.Uint64, r.partitionsOf(p))}
		for range r.partitionsOf(p) {
			r.held[p.Name()] = append(r.held[p.Name()], &ownership{})
		}
	}
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Checkpoints reads progress; waiters on it wake as soon as this runner commits.
func (r *Runner) Checkpoints() *Checkpoints { return r.checkpoints }

// Stats reports what this runner did for a projection.
func (r *Runner) Stats(name string) (Stats, bool) {
	s, ok := r.stats[name]
	if !ok {
		return Stats{}, false
	}
	st := Stats{Applied: s.applied.Load(), Skipped: s.skipped.Load(),
		Backfilled: s.backfilled.Load(), DeadLettered: s.dead.Load(), Released: s.released.Load(),
		AppliedByPartition: make([]uint64, len(s.byPartition))}
	for k := range s.byPartition {
		st.AppliedByPartition[k] = s.byPartition[k].Load()
	}
	return st, true
}

// Setup makes the database ready: the bookkeeping tables; for a new projection its
// generation-1 tables and views; for one whose Version changed (or partition count), a
// new generation built from the event store and swapped in. Then the partitions' NATS
// consumers, if the events stream exists. Run calls it; calling it again does nothing.
func (r *Runner) Setup(ctx context.Context) error {
	r.setupOnce.Lock()
	defer r.setupOnce.Unlock()
	if r.setupDone {
		return nil
	}
	if err := EnsureSchema(ctx, r.cfg.DB); err != nil {
		return err
	}
	for _, p := range r.projections {
		if err := r.setupProjection(ctx, p); err != nil {
			return err
		}
	}
	if err := r.ensureConsumers(ctx); err != nil {
		return err
	}
	r.setupDone = true
	return nil
}

func (r *Runner) setupProjection(ctx context.Context, p Projection) error {
	st, err := loadState(ctx, r.cfg.DB, p.Name())
	switch {
	case errors.Is(err, ErrUnknownProjection):
		r.log.Info("creating projection", "projection", p.Name(), "version", p.Version(), "partitions", r.partitionsOf(p))
		return initPartitioned(ctx, r.cfg.DB, p, r.partitionsOf(p))
	case err != nil:
		return err
	case st.Version == p.Version() && len(st.Partitions) == r.partitionsOf(p):
		return nil
	case st.Version == p.Version():
		r.log.Warn("partition count changed; rebuilding from the event store",
			"projection", p.Name(), "from", len(st.Partitions), "to", r.partitionsOf(p))
	default:
		r.log.Warn("projection version changed; rebuilding from the event store",
			"projection", p.Name(), "from", st.Version, "to", p.Version())
	}
	if err := rebuildAtStartup(ctx, r.cfg.DB, r.cfg.Store, p, r.log); err != nil {
		return err
	}
	return repartition(ctx, r.cfg.DB, p.Name(), r.partitionsOf(p))
}

// initProjection creates generation 1 in one partition; see initPartitioned.
func initProjection(ctx context.Context, db *bun.DB, p Projection) error {
	return initPartitioned(ctx, db, p, 1)
}

// initPartitioned creates generation 1, its views and a state row per partition in one
// transaction.
func initPartitioned(ctx context.Context, db *bun.DB, p Projection, partitions int) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := loadState(ctx, tx, p.Name()); err == nil {
			return nil // another process got there first
		}
		if err := p.Create(ctx, tx, TablesFor(p, 1)); err != nil {
			return fmt.Errorf("projection %s: create generation 1: %w", p.Name(), err)
		}
		if err := pointViews(ctx, tx, p, 1); err != nil {
			return fmt.Errorf("projection %s: %w", p.Name(), err)
		}
		rows := make([]stateRow, partitions)
		for k := range rows {
			rows[k] = stateRow{Name: p.Name(), Partition: k, Version: p.Version(), Generation: 1,
				Status: string(StatusLive), UpdatedAt: time.Now().UTC()}
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("projection %s: state: %w", p.Name(), err)
		}
		return nil
	})
}

// Run sets up, then runs every projection until ctx ends; it returns nil then, after
// each projection has committed or rolled back its batch in flight. Failures of NATS,
// the store or the database are logged and retried; they do not end Run.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Setup(ctx); err != nil {
		return err
	}
	var wg, committing sync.WaitGroup
	var workers []*worker
	var groups []*groupCommitter
	for _, p := range r.projections {
		var group *groupCommitter
		if r.partitionsOf(p) > 1 {
			group = newGroupCommitter(r.newApplier(p, r.log.With("projection", p.Name())), r.partitionsOf(p),
				groupMaxEvents*r.cfg.BatchSize)
			groups = append(groups, group)
			committing.Go(group.run)
		}
		for k := range r.partitionsOf(p) {
			w := r.newWorker(p, k, group)
			workers = append(workers, w)
			wg.Go(func() { w.run(ctx) })
		}
	}
	b := r.newBalancer(workers)
	wg.Go(func() { b.run(ctx) })
	wg.Wait()
	// The workers are done committing (a batch in flight at ctx's end included).
	for _, g := range groups {
		close(g.in)
	}
	committing.Wait()
	return nil
}

// groupMaxEvents bounds a shared transaction of a read model's partitions, in batches
// (BatchSize events each): large enough that a busy process commits all its partitions
// at once, small enough to commit well within PinnedTTL.
const groupMaxEvents = 4
