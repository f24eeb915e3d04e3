package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
)

// groupCommitter commits, for one read model in one projector process, the chunks its
// partition workers have ready in one transaction: each partition's checkpoint is
// compared-and-set first, then the read model applies all their events, merged in
// position order, at once. Split into P partitions, a read model would otherwise commit
// P transactions of a P-th of the events each, and a process applied fewer events/s
// with 4 partitions than with 1 (issue 11): per-transaction costs (the round trips, the
// WAL flush, the projection's statements per batch) were paid P times over.
//
// Exactly-once and the gap check stay per partition: a partition's chunk is planned
// against its own checkpoint and chain (worker.plan), its checkpoint moves in the same
// transaction as its rows, and a compare-and-set that finds the checkpoint moved
// (another process took the partition and committed) rolls the whole transaction back.
// Then, and on any other failure of a shared transaction, each chunk is committed in a
// transaction of its own, so that each worker gets its own answer: a refused event is
// found and dead-lettered in its partition, a moved checkpoint is re-planned there, and
// the other partitions commit. Merging is sound because the events of different
// partitions belong to different partners, whose rows are distinct (a read model that
// folds several partners in one row is WholeLog, in one partition, and never shares a
// transaction with another partition).
type groupCommitter struct {
	a   applier // the read model and database; its writes lock is held per transaction
	max int     // events per shared transaction, so one commits well within PinnedTTL
	in  chan *commitRequest
}

// commitRequest is one partition's chunk: events in position order, all after the
// checkpoint prog holds.
type commitRequest struct {
	ctx    context.Context
	prog   progress
	events []eventstore.RecordedEvent
	done   chan error
}

// newGroupCommitter commits for partitions workers (each with one chunk in flight at
// most, so handing one over never waits for the committer).
func newGroupCommitter(a applier, partitions, maxEvents int) *groupCommitter {
	return &groupCommitter{a: a, max: maxEvents, in: make(chan *commitRequest, partitions)}
}

// commit hands a chunk to the committer and waits for its answer, which always comes:
// once handed over, the chunk may be committed, and the caller must know whether it was.
// The transaction runs under ctx (of whichever chunk it committed first); a chunk's
// checkpoint moves in it, as in applier.applyTx.
func (g *groupCommitter) commit(ctx context.Context, prog progress, events []eventstore.RecordedEvent) error {
	req := &commitRequest{ctx: ctx, prog: prog, events: events, done: make(chan error, 1)}
	select {
	case g.in <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.done
}

// run commits what arrives until in is closed: it takes one chunk, then those already
// waiting behind it, up to max events, without waiting for more (as worker.nextChunk),
// so an idle read model commits each chunk at once and a busy one shares transactions.
func (g *groupCommitter) run() {
	var next *commitRequest
	for {
		first := next
		if first == nil {
			var ok bool
			if first, ok = <-g.in; !ok {
				return
			}
		}
		group, events := []*commitRequest{first}, len(first.events)
		next = nil
	gather:
		for events < g.max {
			select {
			case req, ok := <-g.in:
				if !ok {
					break gather
				}
				if events+len(req.events) > g.max || req.prog.generation() != first.prog.generation() {
					next = req // first of the next transaction
					break gather
				}
				group = append(group, req)
				events += len(req.events)
			default:
				break gather
			}
		}
		g.commitGroup(group)
	}
}

// commitGroup commits the chunks together, or, if that fails, each alone.
func (g *groupCommitter) commitGroup(group []*commitRequest) {
	if len(group) == 1 {
		group[0].done <- g.a.applyOwnTx(group[0].ctx, group[0].prog, group[0].events)
		return
	}
	err := g.shared(group)
	for _, req := range group {
		if err == nil {
			req.prog.committed(req.events[len(req.events)-1].Position)
			req.done <- nil
			continue
		}
		req.done <- g.a.applyOwnTx(req.ctx, req.prog, req.events)
	}
}

// shared is the one transaction of a group: every partition's compare-and-set, then one
// Apply of all their events in position order.
func (g *groupCommitter) shared(group []*commitRequest) error {
	var all []eventstore.RecordedEvent
	for _, req := range group {
		all = append(all, req.events...)
	}
	slices.SortFunc(all, func(a, b eventstore.RecordedEvent) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
	ctx := group[0].ctx
	tables := TablesFor(g.a.p, group[0].prog.generation())
	err := g.a.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, req := range group {
			if err := req.prog.mark(ctx, tx, req.events[len(req.events)-1].Position); err != nil {
				return err
			}
		}
		return g.a.p.Apply(ctx, tx, tables, all)
	})
	if err != nil && !errors.Is(err, errCheckpointMoved) {
		g.a.log.Debug("shared commit of partitions failed; committing each alone",
			"partitions", len(group), "events", len(all), "err", fmt.Errorf("%s: %w", g.a.p.Name(), err))
	}
	return err
}
