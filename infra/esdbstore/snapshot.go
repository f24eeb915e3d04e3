package esdbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
