package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// progress is where a batch's transaction records how far it got: the live checkpoint
// for the runner, the projection_rebuilds row for a rebuild (which resumes from it).
type progress interface {
	generation() int
	// mark runs first in the batch's transaction.
	mark(ctx context.Context, tx bun.Tx, to eventstore.Position, change ...statusChange) error
	// committed runs after the transaction commits.
	committed(to eventstore.Position, change ...statusChange)
}

// applyError is a failure of the projection's own Apply, as opposed to the runner's
// bookkeeping or the database being unavailable.
type applyError struct{ err error }

func (e *applyError) Error() string { return e.err.Error() }
func (e *applyError) Unwrap() error { return e.err }

// isPoison tells a failure that retrying cannot fix: the projection refused the events.
func isPoison(err error) bool {
	var ae *applyError
	return errors.As(err, &ae) && !isTransient(err)
}

// applier applies batches of one projection, one transaction per batch.
type applier struct {
	db  *bun.DB
	p   Projection
	log *slog.Logger
	// writes, when set, runs each transaction in a group with the other live
	// projectors of this process: on SQLite, which takes one writer at a time anyway
	// (see Runner.sqliteWrites).
	writes *txGroup
	// group, when set, commits the batches of this read model's partitions together
	// (runner_group.go); on SQLite each such transaction then joins writes' group.
	group *groupCommitter
}

// inTx runs fn in one transaction, or in a savepoint of the group's next one if writes
// is set: committed when it returns nil, not applied at all when it returns an error.
func (a *applier) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	if a.writes != nil {
		return a.writes.run(ctx, fn)
	}
	return a.db.RunInTx(ctx, nil, fn)
}

// apply applies events (in position order) and records progress up to the last one, all
// or nothing. If the projection refuses the batch, each event is tried alone; one that
// still fails is recorded in dead_letters, in the same transaction that moves progress
// past it. It returns how many events were dead-lettered. Any other error leaves
// nothing applied beyond what it reports committed, and is for the caller to retry.
func (a *applier) apply(ctx context.Context, prog progress, events []eventstore.RecordedEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	err := a.applyTx(ctx, prog, events)
	if !isPoison(err) {
		return 0, err
	}
	a.log.Warn("batch refused; applying its events one by one", "events", len(events), "err", err)
	dead := 0
	for _, ev := range events {
		err := a.applyTx(ctx, prog, []eventstore.RecordedEvent{ev})
		if err == nil {
			continue
		}
		if !isPoison(err) {
			return dead, err
		}
		if err := a.deadLetter(ctx, prog, ev, err); err != nil {
			return dead, err
		}
		dead++
	}
	return dead, nil
}

// applyTx commits events and progress up to the last one: through the read model's
// group committer when it has one (live partitions share transactions), else alone.
func (a *applier) applyTx(ctx context.Context, prog progress, events []eventstore.RecordedEvent) error {
	if a.group != nil {
		// The group committer's goroutine runs the transaction and may lead the
		// txGroup: it must not wait for this batch, which waits for it.
		settlePlanned(ctx)
		return a.group.commit(ctx, prog, events)
	}
	return a.applyOwnTx(ctx, prog, events)
}

// applyOwnTx commits events and progress in a transaction of their own.
func (a *applier) applyOwnTx(ctx context.Context, prog progress, events []eventstore.RecordedEvent) error {
	last := events[len(events)-1].Position
	tables := TablesFor(a.p, prog.generation())
	err := a.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := prog.mark(ctx, tx, last); err != nil {
			return err
		}
		if err := a.p.Apply(ctx, tx, tables, events); err != nil {
			return &applyError{fmt.Errorf("%s: apply %d events up to %s: %w", a.p.Name(), len(events), last, err)}
		}
		return nil
	})
	if err == nil {
		prog.committed(last)
	}
	return err
}

func (a *applier) deadLetter(ctx context.Context, prog progress, ev eventstore.RecordedEvent, cause error) error {
	change := statusChange{status: StatusDegraded, err: cause.Error()}
	a.log.Error("event dead-lettered", "position", ev.Position.String(), "event", ev.ID,
		"type", ev.Type, "stream", ev.Stream, "err", cause)
	err := a.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := prog.mark(ctx, tx, ev.Position, change); err != nil {
			return err
		}
		return recordDeadLetter(ctx, tx, a.p.Name(), prog.generation(), ev, cause)
	})
	if err == nil {
		prog.committed(ev.Position, change)
	}
	return err
}

// liveProgress is the runner's: the checkpoint row of the live generation.
type liveProgress struct {
	st State
	// last is the batch's last event, and heads the partition heads it carried (nil
	// when it carried none): recorded with the checkpoint when it moves there.
	last  eventstore.Position
	heads partition.Heads
	// events are the batch's, parts the read model's partition count: with them a move
	// of a read model whose answers are kept is logged with the partners it touched
	// (recordTouches). A progress without them logs nothing, so the move counts as
	// touching every partner.
	events []eventstore.RecordedEvent
	parts  int
}

func (l *liveProgress) generation() int { return l.st.Generation }

func (l *liveProgress) mark(ctx context.Context, tx bun.Tx, to eventstore.Position, change ...statusChange) error {
	if err := advance(ctx, tx, l.st, to, l.headsAt(to), change...); err != nil {
		return err
	}
	if l.events == nil || !keepsAnswers(l.st.Name) {
		return nil
	}
	return recordTouches(ctx, tx, l.st, l.parts, to, touchedBy(l.events, l.st.Checkpoint, to))
}

// headsAt is the partition heads of the event at pos, if known.
func (l *liveProgress) headsAt(pos eventstore.Position) partition.Heads {
	if pos != l.last {
		return nil
	}
	return l.heads
}

func (l *liveProgress) committed(to eventstore.Position, change ...statusChange) {
	l.st.Checkpoint = to
	for _, c := range change {
		l.st.Status, l.st.Error = c.status, c.err
	}
}
