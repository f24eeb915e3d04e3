package sqlstore

import (
	"context"
	"fmt"
	"time"

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

// batchIO is how one write transaction reads and writes the log. The cheapest way
// differs by database: SQLite runs in process, so a prepared statement per event ID,
// stream and row costs microseconds while parsing a statement whose text grows with
// the batch was a quarter of all CPU under load (preparedIO, writestatements.go);
// PostgreSQL pays a network round trip per statement, so it keeps one set-based
// statement per kind (setIO, setqueries.go).
type batchIO interface {
	head(ctx context.Context) (int64, error)
	lookUpEvents(ctx context.Context, ids []string, into map[string]storedRef) error
	lookUpStreams(ctx context.Context, streams []string, into map[string]int64) error // absent: no stream
	insert(ctx context.Context, rows []eventRow) error
}

// loadBatchState reads, inside the write transaction, what the batch's decisions need:
// the head, the batch's distinct event IDs that are stored, and its streams' heads.
func loadBatchState(ctx context.Context, io batchIO, reqs []*appendRequest) (*batchState, error) {
	st := &batchState{streams: map[string]int64{}, known: map[string]storedRef{}}
	var err error
	if st.head, err = io.head(ctx); err != nil {
		return nil, fmt.Errorf("read the head: %w", err)
	}
	var ids, streams []string
	seenID, seenStream := map[string]bool{}, map[string]bool{}
	for _, r := range reqs {
		for _, ev := range r.events {
			if !seenID[ev.ID] {
				seenID[ev.ID] = true
				ids = append(ids, ev.ID)
			}
		}
		for _, stream := range r.streams() {
			if !seenStream[stream] {
				seenStream[stream] = true
				streams = append(streams, stream)
			}
		}
	}
	if err := io.lookUpEvents(ctx, ids, st.known); err != nil {
		return nil, fmt.Errorf("look up event ids: %w", err)
	}
	if err := io.lookUpStreams(ctx, streams, st.streams); err != nil {
		return nil, fmt.Errorf("read stream revisions: %w", err)
	}
	return st, nil
}

// decide checks one request and, if it is accepted, returns the rows to insert and
// records them in the state.
func (st *batchState) decide(r *appendRequest, now time.Time) (eventstore.AppendResult, []eventRow, error) {
	last, exists := st.streams[r.stream]
	if res, ok, err := st.replay(r, last, exists); ok || err != nil {
		return res, nil, err
	}
	if err := st.checkGuard(r); err != nil {
		return eventstore.AppendResult{}, nil, err
	}
	if err := checkExpected(r.stream, r.expected, last, exists); err != nil {
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
	if err := checkExpected(r.stream, r.expected, last, exists); err != nil {
		return eventstore.AppendResult{}, false, err
	}
	return eventstore.AppendResult{}, false, duplicate
}

// streams are the streams the request's decision reads: its own and its guard's.
func (r *appendRequest) streams() []string {
	if r.guard == nil {
		return []string{r.stream}
	}
	return []string{r.stream, r.guard.Stream}
}

// checkGuard checks the request's guard against the log as the batch has left it, so
// a guarded stream appended to earlier in the same transaction counts.
func (st *batchState) checkGuard(r *appendRequest) error {
	if r.guard == nil {
		return nil
	}
	last, exists := st.streams[r.guard.Stream]
	return checkExpected(r.guard.Stream, r.guard.Expected, last, exists)
}

func checkExpected(stream string, expected eventstore.ExpectedRevision, last int64, exists bool) error {
	ok := true
	switch expected.Kind {
	case eventstore.ExpectNoStream:
		ok = !exists
	case eventstore.ExpectStreamExists:
		ok = exists
	case eventstore.ExpectExact:
		ok = exists && last == int64(expected.Revision)
	}
	if ok {
		return nil
	}
	return &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: uint64(max(last, 0)), StreamExists: exists}
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
