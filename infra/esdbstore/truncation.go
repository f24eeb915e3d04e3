package esdbstore

import (
	"context"
	"fmt"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/infra/eventstore"
)

// An operator can make a stream's start unreadable on EventStoreDB: Delete (reads
// answer not found until an append re-creates the stream at its next revision),
// Tombstone (reads answer StreamDeleted), or metadata $tb, $maxCount, $maxAge (reads
// skip the events before). The node answers the first and the last as if nothing were
// missing, so ReadStream checks that a forward read starts where it was asked to, and
// asks the metadata whether a stream that reads as not found was deleted. The check
// costs nothing on a stream that reads events, and one metadata read on one that does
// not exist (a partner's first command).

// checkStart refuses a forward read whose first event is past opts.From, or that found
// an existing stream with nothing readable from its start.
func checkStart(stream string, opts eventstore.ReadStreamOptions, events []eventstore.RecordedEvent) error {
	if opts.Direction == eventstore.Backwards || opts.From == eventstore.End {
		return nil
	}
	switch {
	case len(events) > 0 && events[0].Revision > opts.From:
		return fmt.Errorf("read %s from revision %d: the stream starts at revision %d, revisions %d to %d are gone (deleted and re-created, or truncated by $tb, $maxCount or $maxAge): %w",
			stream, opts.From, events[0].Revision, opts.From, events[0].Revision-1, eventstore.ErrStreamTruncated)
	case len(events) == 0 && opts.From == 0:
		return fmt.Errorf("read %s: the stream exists but none of its events is readable (truncated by $tb, $maxCount or $maxAge): %w",
			stream, eventstore.ErrStreamTruncated)
	}
	return nil
}

// checkNotDeleted tells a stream that never existed (nil) from one that reads as not
// found because it was deleted or its start truncated past opts.From.
func (s *Store) checkNotDeleted(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) error {
	meta, err := s.client.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}})
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read %s: read its metadata: %w", stream, classify(ctx, err))
	}
	tb := meta.TruncateBefore()
	switch {
	case tb == nil || opts.Direction == eventstore.Backwards || *tb <= opts.From:
		return nil
	case *tb >= math.MaxInt64: // EventNumber.DeletedStream, rounded through float64 by the client
		return fmt.Errorf("read %s: the stream was deleted: %w", stream, eventstore.ErrStreamTruncated)
	}
	return fmt.Errorf("read %s from revision %d: the stream is truncated before revision %d ($tb): %w",
		stream, opts.From, *tb, eventstore.ErrStreamTruncated)
}
