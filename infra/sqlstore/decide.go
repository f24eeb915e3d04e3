package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
)

// batchState is what one write transaction knows about the log: the head, the last
// revision of every stream the batch touches, and which of its event IDs are stored.
// Requests are decided in order against it, and each accepted one updates it, so a
// later request in the batch sees the earlier ones exactly as if they had committed.
type batchState struct {
	head    int64
	streams map[string]int64     // last revision; absent means no stream
	known   map[string]storedRef // event ID -> where it is stored
}

type storedRef struct {
	stream   string
	revision int64
	position int64
}

// loadBatchState reads, inside the write transaction, what the batch's decisions need:
// three queries per batch, however many appends it holds.
func loadBatchState(ctx context.Context, tx bun.Tx, reqs []*appendRequest) (*batchState, error) {
	st := &batchState{streams: map[string]int64{}, known: map[string]storedRef{}}
	if err := tx.NewSelect().Model((*eventRow)(nil)).ColumnExpr("coalesce(max(position), 0)").Scan(ctx, &st.head); err != nil {
		return nil, fmt.Errorf("read the head: %w", err)
	}
	var ids, streams []string
	seenStream := map[string]bool{}
	for _, r := range reqs {
		for _, ev := range r.events {
			ids = append(ids, ev.ID)
		}
		if !seenStream[r.stream] {
			seenStream[r.stream] = true
			streams = append(streams, r.stream)
		}
	}
	for start := 0; start < len(ids); start += insertChunk {
		var rows []eventRow
		err := tx.NewSelect().Model(&rows).Column("event_id", "stream", "revision", "position").
			Where("event_id IN (?)", bun.In(ids[start:min(start+insertChunk, len(ids))])).Scan(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up event ids: %w", err)
		}
		for _, row := range rows {
			st.known[row.EventID] = storedRef{row.Stream, row.Revision, row.Position}
		}
	}
	for start := 0; start < len(streams); start += insertChunk {
		if err := loadStreamHeads(ctx, tx, streams[start:min(start+insertChunk, len(streams))], st.streams); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// loadStreamHeads reads the last revision of each stream with one index seek per
// stream (a GROUP BY max() would scan every row of a long stream). VALUES names its
// column column1 in both SQLite and PostgreSQL.
func loadStreamHeads(ctx context.Context, tx bun.Tx, streams []string, into map[string]int64) error {
	values := make([]bun.Safe, 0, len(streams))
	args := make([]any, 0, len(streams))
	for _, s := range streams {
		values = append(values, "(?)")
		args = append(args, s)
	}
	var heads []struct {
		Stream string `bun:"stream"`
		Last   *int64 `bun:"last"`
	}
	q := tx.NewSelect().
		ColumnExpr("v.column1 AS stream").
		ColumnExpr("(SELECT e.revision FROM event_log AS e WHERE e.stream = v.column1 ORDER BY e.revision DESC LIMIT 1) AS last").
		TableExpr("(VALUES "+joinSafe(values)+") AS v", args...)
	if err := q.Scan(ctx, &heads); err != nil {
		return fmt.Errorf("read stream revisions: %w", err)
	}
	for _, h := range heads {
		if h.Last != nil {
			into[h.Stream] = *h.Last
		}
	}
	return nil
}

func joinSafe(parts []bun.Safe) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(p))
	}
	return b.String()
}

// decide checks one request and, if it is accepted, returns the rows to insert and
// records them in the state.
func (st *batchState) decide(r *appendRequest, now time.Time) (eventstore.AppendResult, []eventRow, error) {
	last, exists := st.streams[r.stream]
	if res, ok, err := st.replay(r, last, exists); ok || err != nil {
		return res, nil, err
	}
	if err := checkExpected(r, last, exists); err != nil {
		return eventstore.AppendResult{}, nil, err
	}
	next := int64(0)
	if exists {
		next = last + 1
	}
	rows := make([]eventRow, len(r.events))
	for i, ev := range r.events {
		st.head++
		rows[i] = eventRow{
			Position: st.head, EventID: ev.ID, Stream: r.stream, Revision: next + int64(i),
			Type: ev.Type, Data: ev.Data, Metadata: nonNil(ev.Metadata), RecordedAt: now,
		}
		st.known[ev.ID] = storedRef{r.stream, rows[i].Revision, st.head}
	}
	st.streams[r.stream] = rows[len(rows)-1].Revision
	return result(rows[len(rows)-1].Revision, st.head), rows, nil
}

// replay recognises a re-append of events already stored: same IDs, same stream, in
// order, at the revisions the expected revision asked for. That answers with the first
// append's result and writes nothing (ok). Any other stored ID is a duplicate; an
// exact match whose expected revision no longer holds is judged as a new append.
func (st *batchState) replay(r *appendRequest, last int64, exists bool) (eventstore.AppendResult, bool, error) {
	found := 0
	var dup string
	for _, ev := range r.events {
		if _, ok := st.known[ev.ID]; ok {
			found++
			if dup == "" {
				dup = ev.ID
			}
		}
	}
	if found == 0 {
		return eventstore.AppendResult{}, false, nil
	}
	duplicate := fmt.Errorf("append to %s: event %s is already stored: %w", r.stream, dup, eventstore.ErrDuplicateEventID)
	if found < len(r.events) {
		return eventstore.AppendResult{}, false, duplicate
	}
	first := st.known[r.events[0].ID]
	for i, ev := range r.events {
		ref := st.known[ev.ID]
		if ref.stream != r.stream || ref.revision != first.revision+int64(i) {
			return eventstore.AppendResult{}, false, duplicate
		}
	}
	sameStart := true
	switch r.expected.Kind {
	case eventstore.ExpectNoStream:
		sameStart = first.revision == 0
	case eventstore.ExpectExact:
		sameStart = first.revision == int64(r.expected.Revision)+1
	}
	if sameStart {
		lastRef := st.known[r.events[len(r.events)-1].ID]
		return result(lastRef.revision, lastRef.position), true, nil
	}
	if err := checkExpected(r, last, exists); err != nil {
		return eventstore.AppendResult{}, false, err
	}
	return eventstore.AppendResult{}, false, duplicate
}

func checkExpected(r *appendRequest, last int64, exists bool) error {
	ok := true
	switch r.expected.Kind {
	case eventstore.ExpectNoStream:
		ok = !exists
	case eventstore.ExpectStreamExists:
		ok = exists
	case eventstore.ExpectExact:
		ok = exists && last == int64(r.expected.Revision)
	}
	if ok {
		return nil
	}
	return &eventstore.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: uint64(max(last, 0)), StreamExists: exists}
}

func result(revision, position int64) eventstore.AppendResult {
	p := uint64(position)
	return eventstore.AppendResult{NextRevision: uint64(revision), Position: eventstore.Position{Commit: p, Prepare: p}}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
