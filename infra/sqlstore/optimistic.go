package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// The SQLite writer first writes a batch assuming what an appending executor almost
// always finds: every append's expected revision holds and its event IDs are new. It
// then needs no look-ups: each append's first row is inserted only if the revision it
// expects exists (INSERT ... WHERE EXISTS), and UNIQUE (stream, revision) and UNIQUE
// (event_id) refuse the rest. Revisions have no gaps, so "revision r exists and r+1
// does not" is exactly "the stream is at r". Under load the look-ups of the careful
// path (loadBatchState) were a third of the writer's CPU, and the writer is the one
// goroutine every command waits for. When the log is not as assumed (a lost race, a
// re-append, a duplicate ID) the transaction is rolled back and the batch is written
// the careful way, which judges each append alone, so every append gets the same
// answer either way. Guards (eventstore.Guard) cost one look-up per guarded stream per
// batch; a batch that also appends to a guarded stream is written the careful way,
// which judges each guard in arrival order.

// errNotAsAssumed: the optimistic write found the log not as its appends expected.
var errNotAsAssumed = errors.New("the log is not as the appends expect")

// optimistic tells whether the batch can be written the optimistic way: SQLite, and
// appends that each expect an exact revision or no stream.
func (s *Store) optimistic(reqs []*appendRequest) bool {
	if s.dialect != sqldb.SQLite {
		return false
	}
	appended := make(map[string]bool, len(reqs))
	for _, r := range reqs {
		if r.expected.Kind != eventstore.ExpectExact && r.expected.Kind != eventstore.ExpectNoStream {
			return false
		}
		appended[r.stream] = true
	}
	for _, r := range reqs {
		if r.guard != nil && appended[r.guard.Stream] {
			return false // the guard depends on the batch's order: the careful way follows it
		}
	}
	return true
}

// guardsHold checks the batch's guards, once per guarded stream, before anything is
// written. No request in the batch appends to a guarded stream (optimistic).
func guardsHold(ctx context.Context, io preparedIO, reqs []*appendRequest) error {
	var streams []string
	for _, r := range reqs {
		if r.guard != nil && !slices.Contains(streams, r.guard.Stream) {
			streams = append(streams, r.guard.Stream)
		}
	}
	if len(streams) == 0 {
		return nil
	}
	heads := make(map[string]int64, len(streams))
	if err := io.lookUpStreams(ctx, streams, heads); err != nil {
		return fmt.Errorf("read guarded streams: %w", err)
	}
	st := batchState{streams: heads}
	for _, r := range reqs {
		if st.checkGuard(r) != nil {
			return errNotAsAssumed // the careful way answers that request alone
		}
	}
	return nil
}

// writeTxOptimistic writes the batch without look-ups; errNotAsAssumed means nothing
// was written and the batch must be written the careful way.
func (s *Store) writeTxOptimistic(ctx context.Context, reqs []*appendRequest) ([]appendOutcome, error) {
	tx, err := s.db.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE (sqldb sets _txlock)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	prepared, err := s.writeStatements(ctx)
	if err != nil {
		return nil, err
	}
	io := prepared.inTx(ctx, tx.Tx)
	if err := guardsHold(ctx, io, reqs); err != nil {
		return nil, err
	}
	head, err := io.head(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the head: %w", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	outcomes := make([]appendOutcome, len(reqs))
	for i, r := range reqs {
		first := int64(0) // ExpectNoStream
		if r.expected.Kind == eventstore.ExpectExact {
			first = int64(r.expected.Revision) + 1
		}
		for j, ev := range r.events {
			head++
			row := eventRow{Position: head, EventID: ev.ID, Stream: r.stream, Revision: first + int64(j),
				Type: ev.Type, Data: ev.Data, Metadata: nonNil(ev.Metadata), RecordedAt: now}
			inserted := true
			if j == 0 && r.expected.Kind == eventstore.ExpectExact {
				inserted, err = io.insertAfter(ctx, row)
			} else {
				err = io.insertOne(ctx, row)
			}
			switch {
			case sqldb.ConstraintViolation(err) || err == nil && !inserted:
				return nil, errNotAsAssumed
			case err != nil:
				return nil, fmt.Errorf("insert events: %w", err)
			}
		}
		outcomes[i] = appendOutcome{result: result(first+int64(len(r.events))-1, head)}
	}
	if err := s.commit(tx, true); err != nil {
		return nil, err
	}
	return outcomes, nil
}
