package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// appendLockKey is the PostgreSQL advisory lock every write transaction takes first
// ("ledger-event-log-append"). Why serialise instead of a sequence: a sequence hands
// out numbers at insert time but rows become visible at commit, so position N+1 can be
// visible while N is still in flight, and a catch-up reader that moved past N+1 never
// sees N (marten#4952). Under the lock, positions are taken as max+1 and commits happen
// in position order; group commit keeps the throughput cost of serialising small.
const appendLockKey = 0x6c6564676572_02

// notifyChannel is the PostgreSQL LISTEN/NOTIFY channel that wakes subscribers in other
// processes; the payload is the new head position.
const notifyChannel = "ledger_event_log"

// writeLoop is the one writer: it takes every append that is waiting, commits them in
// one transaction, and answers each. Appends arriving during a commit form the next
// batch, so batches grow with load and an idle store adds no latency.
func (s *Store) writeLoop() {
	for {
		var first *appendRequest
		select {
		case first = <-s.requests:
		case <-s.stop:
			s.refuseQueued()
			close(s.stopped)
			return
		}
		batch, events := []*appendRequest{first}, len(first.events)
	drain:
		for events < s.opts.MaxBatchEvents {
			select {
			case r := <-s.requests:
				batch = append(batch, r)
				events += len(r.events)
			default:
				break drain
			}
		}
		s.writing.Store(int64(len(batch)))
		s.commitBatch(batch)
		s.writing.Store(0)
	}
}

func (s *Store) refuseQueued() {
	for {
		select {
		case r := <-s.requests:
			r.done <- appendOutcome{err: fmt.Errorf("append to %s: %w", r.stream, ErrClosed)}
		default:
			return
		}
	}
}

// commitBatch answers every request of the batch. If the transaction fails for a
// reason no single check predicted (say a constraint another process tripped), each
// request is retried in a transaction of its own, so one bad append cannot fail the
// rest; retrying is safe because re-appending the same event IDs is idempotent. When
// the database itself is unavailable (disk full, lock held, connection lost) a retry
// would only fail again after the same wait, so the requests not yet tried are
// answered with that error at once. It returns the transaction's error.
func (s *Store) commitBatch(batch []*appendRequest) error {
	live := make([]*appendRequest, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- appendOutcome{err: fmt.Errorf("append to %s: %w", r.stream, err)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return nil
	}
	outcomes, err := s.writeBatch(live)
	switch {
	case err == nil:
		s.answer(live, outcomes)
	case len(live) > 1 && !errors.Is(err, eventstore.ErrUnavailable):
		s.opts.Logger.Warn("event store: group commit failed, retrying its appends one by one", "appends", len(live), "err", err)
		for i, r := range live {
			if err := s.commitBatch([]*appendRequest{r}); errors.Is(err, eventstore.ErrUnavailable) {
				s.fail(live[i+1:], err)
				return err
			}
		}
		return nil
	default:
		if errors.Is(err, eventstore.ErrUnavailable) {
			s.opts.Logger.Error("event store: the database cannot take writes; appends refused", "appends", len(live), "err", err)
		}
		s.fail(live, err)
	}
	return err
}

func (s *Store) answer(reqs []*appendRequest, outcomes []appendOutcome) {
	for i, r := range reqs {
		if outcomes[i].err == nil {
			s.appends.Add(1)
		}
		r.done <- outcomes[i]
	}
}

func (s *Store) fail(reqs []*appendRequest, err error) {
	for _, r := range reqs {
		r.done <- appendOutcome{err: fmt.Errorf("append to %s: %w", r.stream, err)}
	}
}

// writeBatch decides and writes the batch in one transaction. It runs on a context of
// its own: one caller giving up must not roll back the others. Its error, if any, is
// the transaction's, classified: see classify.
func (s *Store) writeBatch(reqs []*appendRequest) ([]appendOutcome, error) {
	ctx, cancel := s.writeContext()
	defer cancel()
	outcomes, err := s.writeTx(ctx, reqs)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: the write transaction took over %s: %w", eventstore.ErrUnavailable, writeTimeout, err)
	}
	return outcomes, classify(err)
}

// writeTimeout bounds one write transaction on PostgreSQL, waiting for the append lock
// included; past it the database counts as unavailable.
const writeTimeout = time.Minute

// writeContext is the context of one write transaction. On SQLite it can never end:
// the busy timeout already bounds the wait for the write lock (sqldb), the statements
// run in process, and a statement given a context that can end costs the driver a
// goroutine watching it (modernc's interruptOnDone), as does the transaction
// (database/sql's awaitDone): per appended row, under load, a cost the bare SQLite
// loop does not pay.
func (s *Store) writeContext() (context.Context, context.CancelFunc) {
	if s.dialect == sqldb.SQLite {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.Background(), writeTimeout)
}

func (s *Store) writeTx(ctx context.Context, reqs []*appendRequest) ([]appendOutcome, error) {
	if s.optimistic(reqs) {
		outcomes, err := s.writeTxOptimistic(ctx, reqs)
		if !errors.Is(err, errNotAsAssumed) {
			return outcomes, err
		}
	}
	return s.writeTxCareful(ctx, reqs)
}

// writeTxCareful reads what the batch's decisions need, then judges each append alone.
func (s *Store) writeTxCareful(ctx context.Context, reqs []*appendRequest) ([]appendOutcome, error) {
	tx, err := s.db.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE (sqldb sets _txlock)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if s.dialect == sqldb.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", appendLockKey); err != nil {
			return nil, fmt.Errorf("lock the event log: %w", err)
		}
	}
	io, err := s.batchIO(ctx, tx)
	if err != nil {
		return nil, err
	}
	st, err := loadBatchState(ctx, io, reqs)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond) // PostgreSQL keeps microseconds
	outcomes := make([]appendOutcome, len(reqs))
	var rows []eventRow
	for i, r := range reqs {
		res, newRows, err := st.decide(r, now)
		outcomes[i] = appendOutcome{result: res, err: err}
		rows = append(rows, newRows...)
	}
	if len(rows) > 0 {
		if err := io.insert(ctx, rows); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
		if s.dialect == sqldb.Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", notifyChannel, fmt.Sprint(st.head)); err != nil {
				return nil, fmt.Errorf("notify: %w", err)
			}
		}
	}
	if err := s.commit(tx, len(rows) > 0); err != nil {
		return nil, err
	}
	return outcomes, nil
}

// commit commits a write transaction and, if it wrote events, wakes the subscribers.
func (s *Store) commit(tx bun.Tx, wroteEvents bool) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.commits.Add(1)
	if wroteEvents {
		s.appended.Broadcast()
	}
	return nil
}

// batchIO picks the dialect's way of reading and writing the log (see batchIO).
func (s *Store) batchIO(ctx context.Context, tx bun.Tx) (batchIO, error) {
	if s.dialect == sqldb.Postgres {
		return setIO{tx}, nil
	}
	prepared, err := s.writeStatements(ctx)
	if err != nil {
		return nil, err
	}
	return prepared.inTx(ctx, tx.Tx), nil
}
