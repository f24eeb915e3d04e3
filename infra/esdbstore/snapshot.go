package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

var _ eventstore.SnapshotStore = (*Store)(nil)

// Snapshots follow EventStoreDB's usual pattern: a stream of their own beside the
// stream they fold, $snapshot-<stream>, whose $maxCount of 1 lets the server scavenge
// all but the latest. Being a $-stream, it is left out of $all by the server's
// system-event filter and by isSystem here, so no reader of the log sees it.
const (
	snapshotStreamPrefix = "$snapshot-"
	snapshotEventType    = "Snapshot"
	snapshotSaveTries    = 3
)

type snapshotMeta struct {
	Revision uint64 `json:"revision"`
	Version  int    `json:"version"`
}

// SaveSnapshot appends snap to the stream's snapshot stream unless the latest snapshot
// there is of a later revision. The append expects the snapshot stream as read, so two
// writers cannot put an older snapshot after a later one.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	stream := snapshotStreamPrefix + snap.Stream
	meta, err := json.Marshal(snapshotMeta{Revision: snap.Revision, Version: snap.Version})
	if err != nil {
		return fmt.Errorf("save the snapshot of %s: %w", snap.Stream, err)
	}
	event := esdb.EventData{EventID: uuid.New(), EventType: snapshotEventType, ContentType: esdb.ContentTypeJson, Data: snap.Data, Metadata: meta}
	for range snapshotSaveTries {
		latest, at, found, err := s.latestSnapshot(ctx, snap.Stream)
		if err != nil {
			return err
		}
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if found {
			if latest.Revision > snap.Revision {
				return nil
			}
			expected = esdb.Revision(at)
		} else if end, truncated, err := s.truncatedSnapshotEnd(ctx, stream); err != nil {
			return fmt.Errorf("save the snapshot of %s: %w", snap.Stream, err)
		} else if truncated { // its metadata already keeps one snapshot
			expected = end
		} else if err := s.keepOneSnapshot(ctx, stream); err != nil {
			return err
		}
		_, err = s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, event)
		var esErr *esdb.Error
		if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion {
			continue // another writer saved one meanwhile: compare with it
		}
		if err != nil {
			return fmt.Errorf("save the snapshot of %s: %w", snap.Stream, classify(ctx, err))
		}
		return nil
	}
	return fmt.Errorf("save the snapshot of %s: other writers kept saving: %w", snap.Stream, eventstore.ErrWrongExpectedRevision)
}

// keepOneSnapshot sets the snapshot stream's $maxCount to 1.
func (s *Store) keepOneSnapshot(ctx context.Context, stream string) error {
	var m esdb.StreamMetadata
	m.SetMaxCount(1)
	if _, err := s.client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
		return fmt.Errorf("limit %s to one snapshot: %w", stream, classify(ctx, err))
	}
	return nil
}

// LoadSnapshot returns the latest snapshot of stream, if there is one.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, bool, error) {
	snap, _, found, err := s.latestSnapshot(ctx, stream)
	return snap, found, err
}

// latestSnapshot reads the last event of the snapshot stream; at is its event number.
func (s *Store) latestSnapshot(ctx context.Context, stream string) (snap eventstore.Snapshot, at uint64, found bool, err error) {
	rs, err := s.client.ReadStream(ctx, snapshotStreamPrefix+stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return snap, 0, false, fmt.Errorf("load the snapshot of %s: %w", stream, classify(ctx, err))
	}
	defer rs.Close()
	ev, err := rs.Recv()
	switch {
	case errors.Is(err, io.EOF) || isNotFound(err):
		return snap, 0, false, nil
	case err != nil:
		return snap, 0, false, fmt.Errorf("load the snapshot of %s: %w", stream, classify(ctx, err))
	}
	var meta snapshotMeta
	if err := json.Unmarshal(ev.Event.UserMetadata, &meta); err != nil {
		return snap, 0, false, fmt.Errorf("load the snapshot of %s: metadata: %w", stream, err)
	}
	snap = eventstore.Snapshot{Stream: stream, Revision: meta.Revision, Version: meta.Version, Data: ev.Event.Data}
	return snap, ev.Event.EventNumber, true, nil
}

// DeleteSnapshots makes every stream's snapshot unreadable: they are a cache of folded
// state, and after an erasure (infra/privacy) one may still hold the erased plaintext.
// Each snapshot stream is truncated past its last event ($tb, keeping $maxCount 1)
// rather than deleted, so the next SaveSnapshot appends after it (a soft-deleted
// stream's metadata would be replaced by keepOneSnapshot, bringing the old events
// back). The events stay in the server's files until a scavenge, as every truncated
// event does on EventStoreDB. Snapshot streams are found by reading $all.
func (s *Store) DeleteSnapshots(ctx context.Context) error {
	last, err := s.snapshotStreams(ctx)
	if err != nil {
		return err
	}
	for stream, revision := range last {
		var m esdb.StreamMetadata
		m.SetMaxCount(1)
		m.SetTruncateBefore(revision + 1)
		if _, err := s.client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			return fmt.Errorf("delete snapshots: truncate %s: %w", stream, classify(ctx, err))
		}
	}
	return nil
}

// snapshotStreams gives each snapshot stream in $all and the revision of its last event.
func (s *Store) snapshotStreams(ctx context.Context) (map[string]uint64, error) {
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: esdb.Start{}}, unlimited)
	if err != nil {
		return nil, fmt.Errorf("delete snapshots: read $all: %w", classify(ctx, err))
	}
	defer rs.Close()
	last := map[string]uint64{}
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return nil, fmt.Errorf("delete snapshots: read $all: %w", classify(ctx, err))
		}
		if e := ev.Event; e != nil && e.EventType == snapshotEventType && strings.HasPrefix(e.StreamID, snapshotStreamPrefix) {
			last[e.StreamID] = max(last[e.StreamID], e.EventNumber)
		}
	}
}

// truncatedSnapshotEnd tells, for a snapshot stream that reads no snapshot, whether
// DeleteSnapshots truncated it, and the revision the next snapshot must follow.
func (s *Store) truncatedSnapshotEnd(ctx context.Context, stream string) (esdb.ExpectedRevision, bool, error) {
	meta, err := s.client.GetStreamMetadata(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}})
	switch {
	case isNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read the metadata of %s: %w", stream, classify(ctx, err))
	}
	tb := meta.TruncateBefore()
	if tb == nil || *tb == 0 || *tb >= math.MaxInt64 {
		return nil, false, nil
	}
	return esdb.Revision(*tb - 1), true, nil
}
