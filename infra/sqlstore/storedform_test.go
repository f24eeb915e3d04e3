package sqlstore

import (
	"context"
	"testing"

	"github.com/uptrace/bun/dialect/sqlitedialect"

	"ledger/infra/eventstore"
)

// The SQLite writer inserts through its own prepared statement, not bun's model
// insert; a log written before and after that change must hold one form of row:
// recorded_at as the text bun writes (a time.Time handed to the driver as it is would
// be stored as Go's time.String text, which sorts and parses differently), data and
// metadata as blobs, metadata an empty blob when there is none.
func TestSQLiteRowsKeepTheFormBunWroteThemIn(t *testing.T) {
	s := openSQLite(t, Options{})
	ctx := bounded(t)
	if _, err := s.Append(ctx, "form", eventstore.NoStream(), event("no metadata")); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, "form", eventstore.ReadStreamOptions{})
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %v, %d events", err, len(got))
	}
	var dataType, metadataType, recordedAtType, recordedAt string
	var metadataLen int
	if err := s.DB().QueryRowContext(context.Background(),
		"SELECT typeof(data), typeof(metadata), length(metadata), typeof(recorded_at), CAST(recorded_at AS TEXT) FROM event_log").
		Scan(&dataType, &metadataType, &metadataLen, &recordedAtType, &recordedAt); err != nil {
		t.Fatal(err)
	}
	quoted := string(sqlitedialect.New().AppendTime(nil, got[0].RecordedAt))
	if want := quoted[1 : len(quoted)-1]; recordedAtType != "text" || recordedAt != want {
		t.Errorf("recorded_at stored as %s %q, want text %q as bun writes it", recordedAtType, recordedAt, want)
	}
	if dataType != "blob" || metadataType != "blob" || metadataLen != 0 {
		t.Errorf("data stored as %s, metadata as %s of %d bytes; want blobs, metadata empty", dataType, metadataType, metadataLen)
	}
}
