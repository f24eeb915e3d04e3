package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

// Append writes events to stream in one EventStoreDB write if expected holds: one write
// per append, whatever the number of events. Re-sending the same event ids with the same
// expected revision is answered by the server as idempotent and returns where the events
// are.
//
// An event id already stored in another stream is not refused: EventStoreDB checks ids
// only within the target stream (IndexWriter.CheckCommit), and refusing across streams
// would cost a second write per event (the per-event claim stream this adapter used to
// write). Nothing downstream needs that refusal: the forwarder deduplicates NATS
// messages by the event's $all position, which is unique (natsbus.MsgID).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	proposed, err := proposals(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(expected)}, proposed...)
	if err != nil {
		return eventstore.AppendResult{}, s.appendError(ctx, stream, expected, proposed, err)
	}
	result := eventstore.AppendResult{
		NextRevision: res.NextExpectedVersion,
		Position:     eventstore.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition},
	}
	if result.Position.IsZero() {
		// Servers before 23.10 answer an idempotent append without a position; the
		// events are stored, so the stream says where the last one is.
		if result.Position, err = s.positionOf(ctx, stream, res.NextExpectedVersion); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: find position of idempotent append: %w", stream, err)
		}
	}
	return result, nil
}

// proposals checks the input before anything is sent: an append either stores all of
// its events or none, and bad input must not reach the server.
func proposals(stream string, events []eventstore.EventData) ([]esdb.EventData, error) {
	if stream == "" {
		return nil, errors.New("append: stream name is empty")
	}
	if strings.HasPrefix(stream, "$") {
		return nil, fmt.Errorf("append to %s: stream names starting with $ are the server's", stream)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("append to %s: no events", stream)
	}
	out := make([]esdb.EventData, len(events))
	size := 0
	for i, e := range events {
		size += len(e.Data) + len(e.Metadata) + 2*utf16Len(e.Type)
		id, err := uuid.Parse(e.ID)
		if err != nil || id == uuid.Nil {
			// The client would replace a nil id with a random one, losing idempotency.
			return nil, fmt.Errorf("append to %s: event %d: id %q is not a non-nil UUID", stream, i, e.ID)
		}
		if e.Type == "" || strings.HasPrefix(e.Type, "$") {
			// $-types are the server's; readers of $all would never see the event.
			return nil, fmt.Errorf("append to %s: event %d (%s): type %q is empty or starts with $", stream, i, e.ID, e.Type)
		}
		if !json.Valid(e.Data) {
			return nil, fmt.Errorf("append to %s: event %d (%s): data is not valid JSON", stream, i, e.ID)
		}
		if len(e.Metadata) > 0 && !json.Valid(e.Metadata) {
			return nil, fmt.Errorf("append to %s: event %d (%s): metadata is not valid JSON", stream, i, e.ID)
		}
		out[i] = esdb.EventData{EventID: id, EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data, Metadata: e.Metadata}
	}
	if size > MaxAppendSize {
		return nil, fmt.Errorf("append to %s: %d events weigh %d bytes, over the node's %d: %w", stream, len(events), size, MaxAppendSize, ErrAppendTooLarge)
	}
	return out, nil
}

// MaxAppendSize is EventStoreDB's default limit on one append (MaxAppendSize, 1 MiB),
// measured as the node does (Event.SizeOnDisk): data, metadata and twice the UTF-16
// length of the type. A node refuses a larger append with "Maximum Append Size of
// 1048576 Exceeded."; the adapter refuses it first, with ErrAppendTooLarge and the
// sizes, so the caller gets a typed error rather than a gRPC status.
const MaxAppendSize = 1024 * 1024

// ErrAppendTooLarge: the append is over MaxAppendSize; nothing was sent or stored.
var ErrAppendTooLarge = errors.New("append over the event store's maximum append size")

func expectedRevision(e eventstore.ExpectedRevision) esdb.ExpectedRevision {
	switch e.Kind {
	case eventstore.ExpectNoStream:
		return esdb.NoStream{}
	case eventstore.ExpectStreamExists:
		return esdb.StreamExists{}
	case eventstore.ExpectExact:
		return esdb.Revision(e.Revision)
	default:
		return esdb.Any{}
	}
}

// appendError maps a refused append to the contract's typed errors.
func (s *Store) appendError(ctx context.Context, stream string, expected eventstore.ExpectedRevision, proposed []esdb.EventData, err error) error {
	var esErr *esdb.Error
	if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion {
		return fmt.Errorf("append to %s: %w", stream, classify(ctx, err))
	}
	actual, exists, ok := actualRevision(esErr)
	if !ok {
		var rerr error
		if actual, exists, rerr = s.lastRevision(ctx, stream); rerr != nil {
			return fmt.Errorf("append to %s: %w (and reading its revision failed: %v)", stream, eventstore.ErrWrongExpectedRevision, rerr)
		}
	}
	duplicate, err := s.corruptedIdempotency(ctx, stream, expected, proposed, exists)
	if err != nil {
		return fmt.Errorf("append to %s: %w (and checking its event ids failed: %v)", stream, eventstore.ErrWrongExpectedRevision, err)
	}
	if duplicate {
		return fmt.Errorf("append to %s: an event id is already stored by another append: %w", stream, eventstore.ErrDuplicateEventID)
	}
	return &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: actual, StreamExists: exists}
}

// The client keeps the server's current revision only in its message:
// "wrong expected version: expecting '<e>' but got '<current or no_stream>'".
var actualInMessage = regexp.MustCompile(`but got '([^']*)'`)

func actualRevision(e *esdb.Error) (actual uint64, exists, ok bool) {
	if e.Err() == nil {
		return 0, false, false
	}
	m := actualInMessage.FindStringSubmatch(e.Err().Error())
	if m == nil {
		return 0, false, false
	}
	if m[1] == "no_stream" {
		return 0, false, true
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	return n, err == nil, err == nil
}

// corruptedIdempotency tells whether the server refused the append because some of its
// event ids are already stored (EventStoreDB's "corrupted idempotency", which it answers
// as a wrong expected version): with any/stream-exists that is the only reason left
// once the stream exists; with an exact revision it is so when the event after the
// expected revision carries the first proposed id.
func (s *Store) corruptedIdempotency(ctx context.Context, stream string, expected eventstore.ExpectedRevision, proposed []esdb.EventData, exists bool) (bool, error) {
	if !exists {
		return false, nil
	}
	var next uint64
	switch expected.Kind {
	case eventstore.ExpectAny, eventstore.ExpectStreamExists:
		return true, nil
	case eventstore.ExpectExact:
		next = expected.Revision + 1
	}
	events, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: next, Limit: 1})
	if err != nil {
		return false, err
	}
	return len(events) == 1 && events[0].ID == proposed[0].EventID.String(), nil
}

// utf16Len is the length of s in UTF-16 code units, .NET's string.Length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
