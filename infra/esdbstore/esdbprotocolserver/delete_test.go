package esdbprotocolserver_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// readRevisions reads stream forwards from 0 and returns its revisions, or the error.
func readRevisions(t *testing.T, c *esdb.Client, stream string) ([]uint64, error) {
	t.Helper()
	rs, err := c.ReadStream(ctxFor(t), stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 1000)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []uint64
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e.Event.EventNumber)
	}
}

func code(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

func appendN(t *testing.T, c *esdb.Client, stream string, expected esdb.ExpectedRevision, n int) (*esdb.WriteResult, error) {
	t.Helper()
	events := make([]esdb.EventData, n)
	for i := range events {
		events[i] = ev(uuid.New())
	}
	return c.AppendToStream(ctxFor(t), stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
}

// Soft delete (DeleteStream): reads answer StreamNotFound; the next append, at
// no-stream or any, re-creates the stream at the revision after its last event, and
// reads show only the new events (KurrentDB docs, "soft delete"; StorageWriterService
// SoftUndeleteStream sets $tb to the first new revision). Expecting the stream to exist
// is refused as StreamDeleted (IndexWriter.CheckCommit).
func TestSoftDeletedStreamReadsAsNotFoundAndAppendRecreatesItAtTheNextRevision(t *testing.T) {
	c, _ := client(t)
	ctx := ctxFor(t)
	if _, err := appendN(t, c, "s", esdb.NoStream{}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(1)}); code(err) == -1 && err == nil {
		t.Fatal("delete at a stale revision succeeded")
	}
	if _, err := c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(2)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := readRevisions(t, c, "s"); code(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read after soft delete: %v, want stream not found", err)
	}
	if _, err := appendN(t, c, "s", esdb.StreamExists{}, 1); code(err) != esdb.ErrorCodeStreamDeleted {
		t.Fatalf("append expecting the soft-deleted stream to exist: %v, want StreamDeleted", err)
	}
	res, err := appendN(t, c, "s", esdb.NoStream{}, 2)
	if err != nil {
		t.Fatalf("append at no-stream after soft delete: %v", err)
	}
	if res.NextExpectedVersion != 4 {
		t.Fatalf("re-created stream's last revision %d, want 4 (3 and 4 after the deleted 0..2)", res.NextExpectedVersion)
	}
	if got, err := readRevisions(t, c, "s"); err != nil || len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("read after re-creation: %v (%v), want [3 4]", got, err)
	}
	meta, err := c.GetStreamMetadata(ctx, "s", esdb.ReadStreamOptions{})
	if err != nil || meta.TruncateBefore() == nil || *meta.TruncateBefore() != 3 {
		t.Fatalf("metadata after re-creation: %+v (%v), want $tb 3", meta, err)
	}
}

// Tombstone (hard delete): every later read, append and delete answers StreamDeleted;
// the $streamDeleted record is in $all.
func TestTombstonedStreamAnswersStreamDeletedForever(t *testing.T) {
	c, _ := client(t)
	ctx := ctxFor(t)
	if _, err := appendN(t, c, "s", esdb.NoStream{}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TombstoneStream(ctx, "s", esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Any{}}); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	if _, err := readRevisions(t, c, "s"); code(err) != esdb.ErrorCodeStreamDeleted {
		t.Errorf("read: %v, want StreamDeleted", err)
	}
	for _, expected := range []esdb.ExpectedRevision{esdb.Any{}, esdb.NoStream{}, esdb.StreamExists{}, esdb.Revision(1)} {
		if _, err := appendN(t, c, "s", expected, 1); code(err) != esdb.ErrorCodeStreamDeleted {
			t.Errorf("append at %T: %v, want StreamDeleted", expected, err)
		}
	}
	if _, err := c.DeleteStream(ctx, "s", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Any{}}); code(err) != esdb.ErrorCodeStreamDeleted {
		t.Errorf("soft delete after tombstone: %v, want StreamDeleted", err)
	}
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if e, err := rs.Recv(); err != nil || e.Event.EventType != "$streamDeleted" || e.Event.StreamID != "s" {
		t.Fatalf("last event in $all: %+v (%v), want the tombstone of s", e, err)
	}
}

// $tb, $maxCount and $maxAge hide events from stream reads at once (the events stay
// in $all until a scavenge).
func TestStreamMetadataTruncatesStreamReads(t *testing.T) {
	c, server := client(t)
	ctx := ctxFor(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	server.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	setMeta := func(stream string, f func(*esdb.StreamMetadata)) {
		var m esdb.StreamMetadata
		f(&m)
		if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"tb", "count", "age"} {
		if _, err := appendN(t, c, s, esdb.NoStream{}, 5); err != nil {
			t.Fatal(err)
		}
	}
	advance(time.Hour)
	if _, err := appendN(t, c, "age", esdb.Revision(4), 2); err != nil {
		t.Fatal(err)
	}
	setMeta("tb", func(m *esdb.StreamMetadata) { m.SetTruncateBefore(3) })
	setMeta("count", func(m *esdb.StreamMetadata) { m.SetMaxCount(2) })
	setMeta("age", func(m *esdb.StreamMetadata) { m.SetMaxAge(30 * time.Minute) })
	for stream, want := range map[string]string{"tb": "[3 4]", "count": "[3 4]", "age": "[5 6]"} {
		got, err := readRevisions(t, c, stream)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("read %s: %v (%v), want %s", stream, got, err, want)
		}
	}
	advance(time.Hour)
	if got, err := readRevisions(t, c, "age"); err != nil || len(got) != 0 {
		t.Errorf("read of a stream whose events all expired: %v (%v), want no events and no error", got, err)
	}
	if n := userEventsInAll(t, c); n != 17 {
		t.Errorf("$all holds %d events, want every one of the 17 appended (no scavenge ran)", n)
	}
}

// userEventsInAll counts the events in $all that are not the server's own.
func userEventsInAll(t *testing.T, c *esdb.Client) int {
	t.Helper()
	rs, err := c.ReadAll(ctxFor(t), esdb.ReadAllOptions{From: esdb.Start{}}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	n := 0
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.Event.EventType, "$") {
			n++
		}
	}
}
