package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

var _ eventstore.SnapshotStore = (*Store)(nil)

// SaveSnapshot keeps s as its stream's snapshot unless a later one is kept. Snapshots
// live in their own table, one row per stream: the log never holds them, and a stream
// keeps one row however often it is snapshotted.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if snap.Revision >= math.MaxInt64 {
		return fmt.Errorf("snapshot of %s: revision %d out of range", snap.Stream, snap.Revision)
	}
	// Through database/sql with the driver's placeholders, not bun's formatter: bun would
	// write the state (megabytes for a long history) into the SQL text as a literal for
	// the database to parse.
	values := "?, ?, ?, ?"
	if s.dialect == sqldb.Postgres {
		values = "$1, $2, $3, $4"
	}
	_, err := s.db.DB.ExecContext(ctx, `INSERT INTO stream_snapshot (stream, revision, version, data) VALUES (`+values+`)
		ON CONFLICT (stream) DO UPDATE SET revision = excluded.revision, version = excluded.version, data = excluded.data
		WHERE stream_snapshot.revision <= excluded.revision`,
		snap.Stream, int64(snap.Revision), snap.Version, snap.Data)
	if err != nil {
		return fmt.Errorf("save the snapshot of %s: %w", snap.Stream, err)
	}
	return nil
}

// LoadSnapshot returns the stream's snapshot, if one is kept.
func (s *Store) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, bool, error) {
	snap := eventstore.Snapshot{Stream: stream}
	var revision int64
	err := s.db.QueryRowContext(ctx, `SELECT revision, version, data FROM stream_snapshot WHERE stream = ?`, stream).
		Scan(&revision, &snap.Version, &snap.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return eventstore.Snapshot{}, false, nil
	}
	if err != nil {
		return eventstore.Snapshot{}, false, fmt.Errorf("load the snapshot of %s: %w", stream, err)
	}
	snap.Revision = uint64(revision)
	return snap, true, nil
}

// SnapshotTable holds the snapshots (named for those that compact it after deleting).
const SnapshotTable = "stream_snapshot"

// DeleteSnapshots drops every stream's snapshot: they are a cache of folded state, and
// after an erasure (infra/privacy) one may still hold the erased plaintext.
func (s *Store) DeleteSnapshots(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM `+SnapshotTable); err != nil {
		return fmt.Errorf("delete snapshots: %w", err)
	}
	return nil
}
