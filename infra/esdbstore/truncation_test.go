package esdbstore_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/infra/esdbstore"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
)

// operatorClient is a second connection to the node, doing what an operator does
// outside the ledger: deleting streams and setting their metadata.
func operatorClient(t *testing.T, conn string) *esdb.Client {
	t.Helper()
	config, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatal(err)
	}
	config.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func appendLabels(t *testing.T, s *esdbstore.Store, stream string, n int) {
	t.Helper()
	events := make([]eventstore.EventData, n)
	for i := range events {
		events[i] = event("e")
	}
	if _, err := s.Append(ctxFor(t), stream, eventstore.Any(), events...); err != nil {
		t.Fatal(err)
	}
}

// The ledger folds a partner stream from revision 0 (or from its snapshot). When an
// operator truncated or deleted the start, the node answers as if nothing were missing;
// the adapter refuses the read with ErrStreamTruncated instead of handing over a part.
// A read from past the truncation (a snapshot's next revision) is whole, and served.
func TestReadOfAStreamWhoseStartIsGoneIsRefusedAsTruncated(t *testing.T) {
	server, conn := esdbprotocolserver.StartServer(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	server.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	s, op := open(t, conn), operatorClient(t, conn)
	ctx := ctxFor(t)
	setMeta := func(stream string, f func(*esdb.StreamMetadata)) {
		var m esdb.StreamMetadata
		f(&m)
		if _, err := op.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, stream := range []string{"partner-tb", "partner-count", "partner-age", "partner-deleted", "partner-recreated", "partner-tombstoned"} {
		appendLabels(t, s, stream, 3)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	setMeta("partner-tb", func(m *esdb.StreamMetadata) { m.SetTruncateBefore(2) })
	setMeta("partner-count", func(m *esdb.StreamMetadata) { m.SetMaxCount(1) })
	setMeta("partner-age", func(m *esdb.StreamMetadata) { m.SetMaxAge(time.Hour) })
	for _, stream := range []string{"partner-deleted", "partner-recreated"} {
		if _, err := op.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := op.AppendToStream(ctx, "partner-recreated", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventID: uuid.New(), EventType: "Tested", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := op.TombstoneStream(ctx, "partner-tombstoned", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	for stream, says := range map[string]string{
		"partner-tb": "starts at revision 2", "partner-count": "starts at revision 2", "partner-age": "none of its events",
		"partner-deleted": "deleted", "partner-recreated": "starts at revision 3", "partner-tombstoned": "tombstoned",
	} {
		got, err := s.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
		if !errors.Is(err, eventstore.ErrStreamTruncated) || !strings.Contains(err.Error(), says) {
			t.Errorf("read %s from 0: %d events, %v; want ErrStreamTruncated saying %q", stream, len(got), err, says)
		}
	}
	if got, err := s.ReadStream(ctx, "partner-tb", eventstore.ReadStreamOptions{From: 2}); err != nil || len(got) != 1 || got[0].Revision != 2 {
		t.Errorf("read partner-tb from 2, past the truncation: %v (%v), want revision 2", got, err)
	}
	if _, err := s.Append(ctx, "partner-tombstoned", eventstore.Any(), event("late")); !errors.Is(err, eventstore.ErrStreamTruncated) {
		t.Errorf("append to a tombstoned stream: %v, want ErrStreamTruncated", err)
	}
	if got, err := s.ReadStream(ctx, "partner-never-written", eventstore.ReadStreamOptions{}); err != nil || len(got) != 0 {
		t.Errorf("read of a stream that never existed: %v (%v), want empty", got, err)
	}
}

// A stream that has only metadata has no events to lose: it reads as empty, and an
// append expecting it to exist writes its revision 0, as on a node.
func TestAStreamWithOnlyMetadataReadsEmptyAndExists(t *testing.T) {
	conn := esdbprotocolserver.Start(t)
	s, op := open(t, conn), operatorClient(t, conn)
	ctx := ctxFor(t)
	var m esdb.StreamMetadata
	m.SetMaxCount(100)
	if _, err := op.SetStreamMetadata(ctx, "partner-meta", esdb.AppendToStreamOptions{}, m); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadStream(ctx, "partner-meta", eventstore.ReadStreamOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("read: %v (%v), want empty", got, err)
	}
	res, err := s.Append(ctx, "partner-meta", eventstore.StreamExists(), event("first"))
	if err != nil || res.NextRevision != 0 {
		t.Fatalf("append at stream-exists: %+v (%v), want revision 0", res, err)
	}
}

// An append over the node's 1 MiB limit is refused before it is sent, with
// ErrAppendTooLarge and the sizes; one of exactly 1 MiB is stored.
func TestAnAppendOverOneMiBIsRefusedAndStoresNothing(t *testing.T) {
	s := open(t, esdbprotocolserver.Start(t))
	ctx := ctxFor(t)
	blob := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }
	// "Tested" weighs 12 bytes (twice its UTF-16 length).
	exactly := eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: blob(esdbstore.MaxAppendSize - 12)}
	if _, err := s.Append(ctx, "partner-fits", eventstore.NoStream(), exactly); err != nil {
		t.Fatalf("append of exactly 1 MiB: %v", err)
	}
	a := eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: blob(600 << 10)}
	b := eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: blob(600 << 10)}
	_, err := s.Append(ctx, "partner-too-big", eventstore.NoStream(), a, b)
	if !errors.Is(err, esdbstore.ErrAppendTooLarge) || !strings.Contains(err.Error(), "1048576") {
		t.Fatalf("append of 1.2 MiB: %v, want ErrAppendTooLarge naming the limit", err)
	}
	if got, err := s.ReadStream(ctx, "partner-too-big", eventstore.ReadStreamOptions{}); err != nil || len(got) != 0 {
		t.Fatalf("stream after the refused append: %d events (%v), want none", len(got), err)
	}
}
