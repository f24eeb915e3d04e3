package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"sync"
	"time"

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
	stmts, err := s.streamStatements(ctx)
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

// streamStatements are ReadStream's two queries, prepared once per Store. A failed
// prepare (the database unreachable at that moment) is not remembered: the next read
// tries again, so a fault at start-up cannot break reads for the life of the process.
type streamStatements struct {
	mu                  sync.Mutex
	forwards, backwards *sql.Stmt
}

func (s *Store) streamStatements(ctx context.Context) (*streamStatements, error) {
	st := &s.streamReads
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.forwards != nil && st.backwards != nil {
		return st, nil
	}
	// Placeholders are the driver's own: the statements bypass bun's formatter.
	arg := func(n int) string { return "?" }
	if s.dialect == sqldb.Postgres {
		arg = func(n int) string { return fmt.Sprintf("$%d", n) }
	}
	query := func(cmp, order string) string {
		return "SELECT position, event_id, stream, revision, type, data, metadata, recorded_at FROM event_log " +
			"WHERE stream = " + arg(1) + " AND revision " + cmp + " " + arg(2) + " ORDER BY revision " + order + " LIMIT " + arg(3)
	}
	var err error
	if st.forwards == nil {
		if st.forwards, err = s.db.DB.PrepareContext(ctx, query(">=", "ASC")); err != nil {
			return nil, fmt.Errorf("prepare the stream reads: %w", classify(err))
		}
	}
	if st.backwards, err = s.db.DB.PrepareContext(ctx, query("<=", "DESC")); err != nil {
		return nil, fmt.Errorf("prepare the stream reads: %w", classify(err))
	}
	return st, nil
}

func (st *streamStatements) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, stmt := range []*sql.Stmt{st.forwards, st.backwards} {
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
	rows, err := s.db.QueryContext(ctx, readPageQuery, int64(min(after, math.MaxInt64)), s.opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, classify(err))
	}
	out, err := scanEvents(rows, s.opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, classify(err))
	}
	return out, nil
}

// scanEvents reads event rows (in readPageQuery's column order) and closes them. Rows
// are scanned with plain database/sql rather than bun's model scanner (which reflects
// per row), and the data and metadata bytes share page-sized allocations.
func scanEvents(rows *sql.Rows, sizeHint int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, sizeHint)
	var (
		position, revision int64
		data, metadata     sql.RawBytes
		recordedAt         scannedTime
		slab               []byte
	)
	for rows.Next() {
		var ev eventstore.RecordedEvent
		if err := rows.Scan(&position, &ev.ID, &ev.Stream, &revision, &ev.Type, &data, &metadata, &recordedAt); err != nil {
			return nil, err
		}
		if need := len(data) + len(metadata); cap(slab)-len(slab) < need {
			// RawBytes is only valid until the next Scan: copy into a page-sized slab.
			slab = make([]byte, 0, max(need, pageSlabSize))
		}
		ev.Data, slab = carve(slab, data)
		ev.Metadata, slab = carve(slab, metadata)
		p := uint64(position)
		ev.Revision, ev.Position, ev.RecordedAt = uint64(revision), eventstore.Position{Commit: p, Prepare: p}, recordedAt.t
		out = append(out, ev)
	}
	return out, rows.Err()
}

const readPageQuery = "SELECT position, event_id, stream, revision, type, data, metadata, recorded_at " +
	"FROM event_log WHERE position > ? ORDER BY position ASC LIMIT ?"

// maxReadSizeHint caps the slice ReadStream allocates ahead for a bounded read.
const maxReadSizeHint = 4096

// pageSlabSize is the smallest buffer that event bytes of a page are copied into.
const pageSlabSize = 256 << 10

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

// scannedTime takes recorded_at as either driver delivers it: a time.Time (pgdriver,
// and modernc for a TIMESTAMP column) or, defensively, the text SQLite stored.
type scannedTime struct{ t time.Time }

func (st *scannedTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		st.t = v
		return nil
	case string:
		return st.parse(v)
	case []byte:
		return st.parse(string(v))
	}
	return fmt.Errorf("recorded_at: unexpected %T", src)
}

func (st *scannedTime) parse(s string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			st.t = t
			return nil
		}
	}
	return fmt.Errorf("recorded_at: cannot parse %q", s)
}

// Head is the position of the last event (Start when the log is empty).
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var head int64
	if err := s.db.NewSelect().Model((*eventRow)(nil)).ColumnExpr("coalesce(max(position), 0)").Scan(ctx, &head); err != nil {
		return eventstore.Position{}, fmt.Errorf("read the head: %w", classify(err))
	}
	return eventstore.Position{Commit: uint64(head), Prepare: uint64(head)}, nil
}
