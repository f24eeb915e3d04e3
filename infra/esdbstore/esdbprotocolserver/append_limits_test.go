package esdbprotocolserver_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
)

// A node refuses an append whose events weigh more than MaxAppendSize (1 MiB by
// default; data + metadata + twice the type's length, Event.SizeOnDisk) with
// InvalidArgument "Maximum Append Size of 1048576 Exceeded.", and stores nothing.
func TestAppendOverOneMiBIsRefusedAndStoresNothing(t *testing.T) {
	c, _ := client(t)
	ctx := ctxFor(t)
	// "Tested" counts 12; the JSON string's quotes 2.
	data := func(n int) []byte { return append(append([]byte(`"`), bytes.Repeat([]byte("x"), n-2)...), '"') }
	exactly := esdb.EventData{EventID: uuid.New(), EventType: "Tested", ContentType: esdb.ContentTypeJson, Data: data(1024*1024 - 12)}
	if _, err := c.AppendToStream(ctx, "fits", esdb.AppendToStreamOptions{}, exactly); err != nil {
		t.Fatalf("append of exactly 1 MiB: %v", err)
	}
	over := esdb.EventData{EventID: uuid.New(), EventType: "Tested", ContentType: esdb.ContentTypeJson, Data: data(600 * 1024)}
	second := over
	second.EventID = uuid.New()
	_, err := c.AppendToStream(ctx, "too-big", esdb.AppendToStreamOptions{}, over, second)
	if err == nil || !strings.Contains(err.Error(), "Maximum Append Size of 1048576 Exceeded") {
		t.Fatalf("append of 1.2 MiB: %v, want Maximum Append Size of 1048576 Exceeded", err)
	}
	if _, err := readRevisions(t, c, "too-big"); code(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read after the refused append: %v, want stream not found", err)
	}
}

// StreamExists is satisfied by a stream that has only metadata (IndexWriter.CheckCommit
// looks at the metastream when the stream has no events): the append writes revision 0.
func TestStreamExistsAcceptsAStreamWithOnlyMetadata(t *testing.T) {
	c, _ := client(t)
	ctx := ctxFor(t)
	if _, err := appendN(t, c, "nothing", esdb.StreamExists{}, 1); code(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("stream-exists on a stream with neither events nor metadata: %v, want wrong expected version", err)
	}
	var m esdb.StreamMetadata
	m.SetMaxCount(10)
	if _, err := c.SetStreamMetadata(ctx, "meta-only", esdb.AppendToStreamOptions{}, m); err != nil {
		t.Fatal(err)
	}
	res, err := appendN(t, c, "meta-only", esdb.StreamExists{}, 1)
	if err != nil || res.NextExpectedVersion != 0 {
		t.Fatalf("stream-exists on a stream with only metadata: %+v (%v), want written at revision 0", res, err)
	}
}
