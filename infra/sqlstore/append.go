package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

// ErrInvalidAppend: the append is malformed (no events, a bad ID, data that is not
// JSON ...). Nothing is stored.
var ErrInvalidAppend = errors.New("invalid append")

// appendRequest is one Append waiting for the writer.
type appendRequest struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	guard    *eventstore.Guard      // nil: none
	events   []eventstore.EventData // validated, IDs canonical
	done     chan appendOutcome     // buffered 1; the writer answers exactly once
}

type appendOutcome struct {
	result eventstore.AppendResult
	err    error
}

// Append writes events to stream atomically if expected holds. It returns once the
// transaction holding them is committed (or the append was refused); an append that
// was queued before ctx ended is still answered, so a nil error always means durable.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return s.append(ctx, stream, expected, nil, events)
}

// AppendGuarded appends as Append does, and only if guard holds when the transaction
// storing the events checks it (eventstore.GuardedAppender).
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected eventstore.ExpectedRevision, guard eventstore.Guard, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	switch {
	case guard.Stream == "" || guard.Stream == stream:
		return eventstore.AppendResult{}, fmt.Errorf("append to %q guarded by %q: the guard names another stream: %w", stream, guard.Stream, ErrInvalidAppend)
	case guard.Expected.Kind == eventstore.ExpectExact && guard.Expected.Revision >= math.MaxInt64:
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: guard revision %d out of range: %w", stream, guard.Expected.Revision, ErrInvalidAppend)
	}
	return s.append(ctx, stream, expected, &guard, events)
}

func (s *Store) append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, guard *eventstore.Guard, events []eventstore.EventData) (eventstore.AppendResult, error) {
	evs, err := validateAppend(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	req := &appendRequest{ctx: ctx, stream: stream, expected: expected, guard: guard, events: evs, done: make(chan appendOutcome, 1)}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, ctx.Err())
	case <-s.stop:
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, ErrClosed)
	}
	select {
	case out := <-req.done:
		return out.result, out.err
	case <-s.stopped: // the writer may have answered just before it stopped
		select {
		case out := <-req.done:
			return out.result, out.err
		default:
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", stream, ErrClosed)
		}
	}
}

// validateAppend refuses what no store should hold and returns the events with IDs in
// canonical form, so the same UUID written in another case is the same event.
func validateAppend(stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) ([]eventstore.EventData, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("append to %q: %s: %w", stream, fmt.Sprintf(format, args...), ErrInvalidAppend)
	}
	switch {
	case stream == "":
		return nil, bad("empty stream name")
	case strings.HasPrefix(stream, "$"):
		return nil, bad("stream names starting with $ are reserved for system streams")
	case len(events) == 0:
		return nil, bad("no events")
	case expected.Kind == eventstore.ExpectExact && expected.Revision >= math.MaxInt64:
		return nil, bad("expected revision %d out of range", expected.Revision)
	}
	out := make([]eventstore.EventData, len(events))
	seen := make(map[string]bool, len(events))
	for i, ev := range events {
		id, err := uuid.Parse(ev.ID)
		if err != nil {
			return nil, bad("event %d: id %q is not a UUID", i, ev.ID)
		}
		ev.ID = id.String()
		if seen[ev.ID] {
			return nil, bad("event %d: id %s appears twice", i, ev.ID)
		}
		seen[ev.ID] = true
		if ev.Type == "" {
			return nil, bad("event %d: empty type", i)
		}
		if strings.HasPrefix(ev.Type, "$") {
			return nil, bad("event %d: types starting with $ are reserved for system events", i)
		}
		if !json.Valid(ev.Data) {
			return nil, bad("event %d (%s): data is not JSON", i, ev.Type)
		}
		if len(ev.Metadata) > 0 && !json.Valid(ev.Metadata) {
			return nil, bad("event %d (%s): metadata is not JSON", i, ev.Type)
		}
		out[i] = ev
	}
	return out, nil
}
