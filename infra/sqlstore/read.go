package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"sync"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// ReadStream reads one stream in revision order; a missing stream reads as empty. It is
// on every command's path (the executor reads the events after its cached revision), so
// it runs a prepared statement and scans with plain database/sql like readPage.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("read stream %s: negative limit %d", stream, opts.Limit)
	}
	if opts.Direction != eventstore.Backwards && opts.From >= math.MaxInt64 {
		return nil, nil
	}
	stmts, err := s.readStatements(ctx)
	if err != nil {
		return nil, err
	}
	stmt, limit := stmts.forwards, int64(math.MaxInt64)
	if opts.Direction == eventstore.Backwards {
		stmt = stmts.backwards
	}
	if opts.Limit > 0 {
		limit = int64(opts.Limit)
	}
	rows, err := stmt.QueryContext(ctx, stream, int64(min(opts.From, math.MaxInt64)), limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, classify(err))
	}
	// A bounded read (a page of history) gets its slice at once instead of by doubling.
	out, err := scanEvents(rows, min(opts.Limit, maxReadSizeHint))
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, classify(err))
	}
	return out, nil
}

// readStatements are ReadStream's two queries and readPage's, prepared once per Store:
// the forwarder reads a page after every append and each command reads its stream, and
// parsing the SQL each time was a visible share of the CPU. A failed prepare (the
// database unreachable at that moment) is not remembered: the next read tries again, so
// a fault at start-up cannot break reads for the life of the process.
type readStatements struct {
	mu                        sync.Mutex
	forwards, backwards, page *sql.Stmt
}

func (s *Store) readStatements(ctx context.Context) (*readStatements, error) {
	st := &s.reads
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.forwards != nil && st.backwards != nil && st.page != nil {
		return st, nil
	}
	// Placeholders are the driver's own: the statements bypass bun's formatter.
	arg := func(n int) string { return "?" }
	if s.dialect == sqldb.Postgres {
		arg = func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	const columns = "SELECT position, event_id, stream, revision, type, data, metadata, recorded_at FROM event_log "
	streamQuery := func(cmp, order string) string {
		return columns + "WHERE stream = " + arg(1) + " AND revision " + cmp + " " + arg(2) + " ORDER BY revision " + order + " LIMIT " + arg(3)
	}
	for _, q := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&st.forwards, streamQuery(">=", "ASC")},
		{&st.backwards, streamQuery("<=", "DESC")},
		{&st.page, columns + "WHERE position > " + arg(1) + " ORDER BY position ASC LIMIT " + arg(2)},
	} {
		if *q.stmt != nil {
			continue
		}
		stmt, err := s.db.DB.PrepareContext(ctx, q.query)
		if err != nil {
			return nil, fmt.Errorf("prepare the event reads: %w", classify(err))
		}
		*q.stmt = stmt
	}
	return st, nil
}

func (st *readStatements) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, stmt := range []*sql.Stmt{st.forwards, st.backwards, st.page} {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// ReadAll yields the log after from, one page per query: no transaction stays open
// while the caller works, and memory holds one page however long the log is.
func (s *Store) ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		after := from.Commit
		for {
			page, err := s.readPage(ctx, after)
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			for _, ev := range page {
				if !yield(ev, nil) {
					return
				}
			}
			if len(page) < s.opts.PageSize {
				return
			}
			after = page[len(page)-1].Position.Commit
		}
	}
}

// readPage reads up to PageSize events after position after, keyset-paged on the
// primary key (scanEvents says how rows are read).
func (s *Store) readPage(ctx context.Context, after uint64) ([]eventstore.RecordedEvent, error) {
	stmts, err := s.readStatements(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := stmts.page.QueryContext(ctx, int64(min(after, math.MaxInt64)), s.opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, classify(err))
	}
	out, err := scanEvents(rows, min(s.opts.PageSize, livePageHint))
	if err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, classify(err))
	}
	return out, nil
}

// scanEvents reads event rows (in the column order of readStatements' queries) and closes them. Rows
// are scanned with plain database/sql rather than bun's model scanner (which reflects
// per row), and the data and metadata bytes share page-sized allocations.
func scanEvents(rows *sql.Rows, sizeHint int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, sizeHint)
	var (
		position, revision int64
		data, metadata     sql.RawBytes
		recordedAt         sqldb.ScannedTime
		slab               []byte
	)
	for rows.Next() {
		var ev eventstore.RecordedEvent
		if err := rows.Scan(&position, &ev.ID, &ev.Stream, &revision, &ev.Type, &data, &metadata, &recordedAt); err != nil {
			return nil, err
		}
		if need := len(data) + len(metadata); cap(slab)-len(slab) < need {
			// RawBytes is only valid until the next Scan: copy into a slab, each twice the
			// last up to pageSlabSize, so a live reader's read of one or two events (the
			// forwarder's, after each append) does not allocate a full page's worth.
			slab = make([]byte, 0, max(need, min(2*cap(slab), pageSlabSize), firstSlabSize))
		}
		ev.Data, slab = carve(slab, data)
		ev.Metadata, slab = carve(slab, metadata)
		p := uint64(position)
		ev.Revision, ev.Position, ev.RecordedAt = uint64(revision), eventstore.Position{Commit: p, Prepare: p}, recordedAt.T
		out = append(out, ev)
	}
	return out, rows.Err()
}

// maxReadSizeHint caps the slice ReadStream allocates ahead for a bounded read.
const maxReadSizeHint = 4096

// Event bytes are copied into slabs of firstSlabSize, then twice the last, up to
// pageSlabSize.
const (
	firstSlabSize = 2 << 10
	pageSlabSize  = 256 << 10
)

// livePageHint is the slice readPage allocates ahead: a live reader mostly gets a few
// events, and a full page grows the slice by doubling, a small cost next to its query.
const livePageHint = 8

// carve appends b to slab and returns the copy (capacity-capped, so appending to one
// event's bytes never overwrites the next) and the grown slab. Empty stays empty, as
// bun left it.
func carve(slab, b []byte) ([]byte, []byte) {
	if b == nil {
		return nil, slab
	}
	start := len(slab)
	slab = append(slab, b...)
	return slab[start:len(slab):len(slab)], slab
}

// Head is the position of the last event (Start when the log is empty).
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var head int64
	if err := s.db.NewSelect().Model((*eventRow)(nil)).ColumnExpr("coalesce(max(position), 0)").Scan(ctx, &head); err != nil {
		return eventstore.Position{}, fmt.Errorf("read the head: %w", classify(err))
	}
	return eventstore.Position{Commit: uint64(head), Prepare: uint64(head)}, nil
}
