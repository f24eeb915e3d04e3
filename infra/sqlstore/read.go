package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"math"
	"time"

	"ledger/infra/eventstore"
)

// ReadStream reads one stream in revision order; a missing stream reads as empty.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	var rows []eventRow
	q := s.db.NewSelect().Model(&rows).Where("stream = ?", stream)
	if opts.Direction == eventstore.Backwards {
		if opts.From < math.MaxInt64 {
			q = q.Where("revision <= ?", int64(opts.From))
		}
		q = q.Order("revision DESC")
	} else {
		if opts.From >= math.MaxInt64 {
			return nil, nil
		}
		q = q.Where("revision >= ?", int64(opts.From)).Order("revision ASC")
	}
	if opts.Limit > 0 {
		q = q.Limit(opts.Limit)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, classify(err))
	}
	return recorded(rows), nil
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
// primary key. Rows are scanned with plain database/sql rather than bun's model scanner
// (which reflects per row and was the larger part of a rebuild's read cost), and the
// data and metadata bytes of the whole page share one allocation.
func (s *Store) readPage(ctx context.Context, after uint64) ([]eventstore.RecordedEvent, error) {
	rows, err := s.db.QueryContext(ctx, readPageQuery, int64(min(after, math.MaxInt64)), s.opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, classify(err))
	}
	defer rows.Close()
	out := make([]eventstore.RecordedEvent, 0, s.opts.PageSize)
	var (
		position, revision int64
		data, metadata     sql.RawBytes
		recordedAt         scannedTime
		slab               []byte
	)
	for rows.Next() {
		var ev eventstore.RecordedEvent
		if err := rows.Scan(&position, &ev.ID, &ev.Stream, &revision, &ev.Type, &data, &metadata, &recordedAt); err != nil {
			return nil, fmt.Errorf("read the event log after %d: %w", after, err)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, classify(err))
	}
	return out, nil
}

const readPageQuery = "SELECT position, event_id, stream, revision, type, data, metadata, recorded_at " +
	"FROM event_log WHERE position > ? ORDER BY position ASC LIMIT ?"

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

func recorded(rows []eventRow) []eventstore.RecordedEvent {
	out := make([]eventstore.RecordedEvent, len(rows))
	for i, r := range rows {
		p := uint64(r.Position)
		out[i] = eventstore.RecordedEvent{
			ID: r.EventID, Stream: r.Stream, Revision: uint64(r.Revision),
			Position: eventstore.Position{Commit: p, Prepare: p},
			Type:     r.Type, Data: r.Data, Metadata: r.Metadata, RecordedAt: r.RecordedAt,
		}
	}
	return out
}
