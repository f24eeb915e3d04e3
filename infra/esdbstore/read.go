package esdbstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"ledger/infra/eventstore"
)

// unlimited is the read count for "everything"; the server takes counts as signed 64-bit.
const unlimited = math.MaxInt64

// ReadStream reads one stream; a stream that does not exist reads as empty. A forward
// read whose start is gone (deleted, tombstoned, truncated) fails with
// eventstore.ErrStreamTruncated (truncation.go).
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("read %s: negative limit %d", stream, opts.Limit)
	}
	count := uint64(unlimited)
	if opts.Limit > 0 {
		count = uint64(opts.Limit)
	}
	read := esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(opts.From)}
	if opts.Direction == eventstore.Backwards {
		read.Direction = esdb.Backwards
	}
	if opts.From == eventstore.End {
		read.From = esdb.End{}
	}
	rs, err := s.client.ReadStream(ctx, stream, read, count)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, classify(ctx, err))
	}
	defer rs.Close()
	var out []eventstore.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, checkStart(stream, opts, out)
		}
		if isNotFound(err) {
			return nil, s.checkNotDeleted(ctx, stream, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, classify(ctx, err))
		}
		out = append(out, recorded(ev.Event))
	}
}

// ReadAll streams $all after from. The server reads from a position inclusively and
// cannot filter plain reads in this client, so both the start and the system events
// are dropped here.
func (s *Store) ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allPosition(from)}, unlimited)
		if err != nil {
			yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all: %w", classify(ctx, err)))
			return
		}
		defer rs.Close()
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(eventstore.RecordedEvent{}, fmt.Errorf("read $all: %w", classify(ctx, err)))
				return
			}
			e := ev.Event
			if isSystem(e) || !from.Less(position(e)) {
				continue
			}
			if !yield(recorded(e), nil) {
				return
			}
		}
	}
}

// Head reads $all backwards to the last event that is not the server's own.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, unlimited)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("head of $all: %w", classify(ctx, err))
	}
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return eventstore.Start, nil
		}
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("head of $all: %w", classify(ctx, err))
		}
		if !isSystem(ev.Event) {
			return position(ev.Event), nil
		}
	}
}

// lastRevision is the revision of the last event in stream; exists is false for none.
func (s *Store) lastRevision(ctx context.Context, stream string) (last uint64, exists bool, err error) {
	events, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: eventstore.End, Limit: 1})
	if err != nil || len(events) == 0 {
		return 0, false, err
	}
	return events[0].Revision, true, nil
}

// positionOf is the global position of the event at revision in stream.
func (s *Store) positionOf(ctx context.Context, stream string, revision uint64) (eventstore.Position, error) {
	events, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{From: revision, Limit: 1})
	if err != nil {
		return eventstore.Position{}, err
	}
	if len(events) == 0 {
		return eventstore.Position{}, fmt.Errorf("stream %s has no revision %d", stream, revision)
	}
	return events[0].Position, nil
}

func isNotFound(err error) bool {
	var esErr *esdb.Error
	return errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound
}

// classify is the one reading of the client's errors: the caller's cancellation is
// reported as itself rather than as the gRPC status the client turns it into, a node
// that cannot be reached, a closed connection or a leader change as
// eventstore.ErrUnavailable, and a tombstoned stream as eventstore.ErrStreamTruncated
// (the cause kept in the chain).
func classify(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, eventstore.ErrUnavailable) {
		return err
	}
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		switch esErr.Code() {
		case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeNotLeader:
			return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
		case esdb.ErrorCodeStreamDeleted:
			return fmt.Errorf("%w: tombstoned: %w", eventstore.ErrStreamTruncated, err)
		}
	}
	// The client hands some failures over unclassified: a read whose call could not
	// start returns the bare gRPC status, and an append whose stream the node closed
	// under it fails its next send with EOF. Both mean the node went away.
	if status.Code(err) == codes.Unavailable || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
	}
	return err
}
