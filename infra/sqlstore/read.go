package sqlstore

import (
	"context"
	"fmt"
	"iter"
	"math"

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
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
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

// readPage reads up to PageSize events after position after.
func (s *Store) readPage(ctx context.Context, after uint64) ([]eventstore.RecordedEvent, error) {
	rows := make([]eventRow, 0, s.opts.PageSize)
	err := s.db.NewSelect().Model(&rows).Where("position > ?", int64(min(after, math.MaxInt64))).
		Order("position ASC").Limit(s.opts.PageSize).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the event log after %d: %w", after, err)
	}
	return recorded(rows), nil
}

// Head is the position of the last event (Start when the log is empty).
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var head int64
	if err := s.db.NewSelect().Model((*eventRow)(nil)).ColumnExpr("coalesce(max(position), 0)").Scan(ctx, &head); err != nil {
		return eventstore.Position{}, fmt.Errorf("read the head: %w", err)
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
