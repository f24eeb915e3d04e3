package projections

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/uptrace/bun"
)

// txGroup commits the batches of this process's live projectors on SQLite together: the
// batches that queue while one transaction commits are run, each in a savepoint of its
// own, in the next single transaction. SQLite has one writer, so the five read models
// used to commit one after another, each paying BEGIN, COMMIT and a WAL fsync; a query
// waiting for one read model waited behind the other four's commits (issue 10). One
// commit for all of them costs one fsync, and the batch a query waits for is never more
// than one transaction behind.
//
// Each batch stays all-or-nothing on its own: a batch that fails is rolled back to its
// savepoint and reported to its projector alone, the others commit. A failure of the
// transaction itself (BEGIN, a savepoint, COMMIT; or SQLite rolling the whole
// transaction back, as on a full disk) fails every batch of the group, and none is
// applied: each projector retries, as it would its own transaction.
//
// No goroutine of its own: the first batch to find nobody committing leads, commits
// the group queued by then, and hands the lead to the first batch queued after it, so
// a projector waits for at most the transaction in progress and its own.
//
// Every read model receives every event at about the same time, so at a steady rate
// the first projector to plan an event used to find nobody committing and commit it
// alone, and the other four queued behind it and committed it in a second transaction:
// two fsyncs per event, and a query waiting for one of the four waited for both. A
// projector that has deliveries in hand says so (expect) until it hands its batch over
// (or finds it has none); a leader takes its group only once none is still planning,
// and first lets the projectors NATS has just woken run (runtime.Gosched), so that they
// can say so. That waits for work already under way only (decoding and planning, no
// I/O but a read): never for a timer, and never for a projector waiting for NATS.
type txGroup struct {
	db       *bun.DB
	mu       sync.Mutex
	queue    []*groupedTx
	leading  bool       // a batch is committing the group it took
	planning int        // projectors with deliveries in hand and no batch queued yet
	planned  *sync.Cond // on mu: planning dropped
	awaiting bool       // the leader waits for planning batches (tests watch it)
}

// groupedTx is one projector's batch, waiting to be run.
type groupedTx struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx bun.Tx) error
	err  error
	turn chan bool // true: lead the next group; false: done, err says how
}

func newTxGroup(db *bun.DB) *txGroup {
	g := &txGroup{db: db}
	g.planned = sync.NewCond(&g.mu)
	return g
}

// expect tells the group that a projector has deliveries in hand whose batch it is
// planning: a group formed meanwhile waits for it. The batch settles the expectation
// as it queues (run, given a context carrying it: withPlannedBatch); the projector
// settles it itself when it finds no batch to run, or hands it elsewhere.
func (g *txGroup) expect() *plannedBatch {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.planning++
	return &plannedBatch{g: g}
}

// plannedBatch is one projector's expected batch (txGroup.expect).
type plannedBatch struct {
	g       *txGroup
	settled bool // under g.mu
}

// settle says the batch is queued or will not come; calling it again does nothing.
func (b *plannedBatch) settle() {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	b.settleLocked()
}

func (b *plannedBatch) settleLocked() {
	if !b.settled {
		b.settled = true
		b.g.planning--
		b.g.planned.Broadcast()
	}
}

type plannedBatchKey struct{}

// withPlannedBatch carries b to where its batch is run or handed over.
func withPlannedBatch(ctx context.Context, b *plannedBatch) context.Context {
	return context.WithValue(ctx, plannedBatchKey{}, b)
}

// settlePlanned settles the expectation ctx carries, if any.
func settlePlanned(ctx context.Context) {
	if b, ok := ctx.Value(plannedBatchKey{}).(*plannedBatch); ok {
		b.settle()
	}
}

// run runs fn in a savepoint of the group's next transaction and returns once that
// transaction committed (nil) or failed. ctx ending before the group starts fn
// withdraws it; once started, fn runs to the end (an interrupted statement could roll
// the whole group's transaction back).
func (g *txGroup) run(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	me := &groupedTx{ctx: ctx, fn: fn, turn: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, me)
	if b, ok := ctx.Value(plannedBatchKey{}).(*plannedBatch); ok && b.g == g {
		b.settleLocked() // queued in the same step: a leader waiting for it takes it
	}
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead && !<-me.turn {
		return me.err
	}
	if lead {
		runtime.Gosched() // see txGroup: projectors just woken with deliveries say so
	}
	g.mu.Lock()
	for g.planning > 0 {
		g.awaiting = true
		g.planned.Wait()
	}
	g.awaiting = false
	group := g.queue
	g.queue = nil
	g.mu.Unlock()
	g.commit(group)
	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].turn <- true
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return me.err
}

// commit runs group in one transaction and tells each of its batches how it went.
func (g *txGroup) commit(group []*groupedTx) {
	var live []*groupedTx
	for _, b := range group {
		if err := b.ctx.Err(); err != nil {
			b.err = err
			continue
		}
		live = append(live, b)
	}
	if len(live) > 0 {
		err := g.db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
			for _, b := range live {
				if err := runSavepoint(tx, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			for _, b := range live {
				if b.err == nil {
					b.err = fmt.Errorf("read models' group commit: %w", err)
				}
			}
		}
	}
	for _, b := range group {
		b.turn <- false
	}
}

// runSavepoint runs one batch in a savepoint: its own failure rolls back to it and is
// the batch's error; a failure of the savepoint itself is the transaction's.
func runSavepoint(tx bun.Tx, b *groupedTx) error {
	ctx := context.WithoutCancel(b.ctx)
	sp, err := tx.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := b.fn(ctx, sp); err != nil {
		if rerr := sp.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr))
		}
		b.err = err
		return nil
	}
	if err := sp.Commit(); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
