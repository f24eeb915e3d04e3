package natsbus

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"ledger/infra/eventstore"
)

// TestDecodeReadsEveryBodyAsEncodingJSONDid: the envelope is decoded by the JSON v2
// engine with v1 semantics, so a message stored in JetStream by an earlier build (JSON
// or base64 data and metadata, none at all) decodes to what encoding/json decoded.
func TestDecodeReadsEveryBodyAsEncodingJSONDid(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.UTC)
	for name, ev := range map[string]eventstore.RecordedEvent{
		"JSON data and metadata": {ID: "a", Stream: "partner-1", Revision: 3, Position: eventstore.Position{Commit: 7, Prepare: 7}, Type: "T",
			Data: []byte(`{"a": [1, 2.5, "x\u00e9<>"], "b": null}`), Metadata: []byte(`{"hash":"h"}`), RecordedAt: at},
		"bytes that are not JSON": {ID: "b", Stream: "partner-1", Revision: 4, Position: eventstore.Position{Commit: 8, Prepare: 8}, Type: "T",
			Data: []byte("{not json"), Metadata: []byte{0xff, 0x00}, RecordedAt: at},
		"no data": {ID: "c", Stream: "rules", Position: eventstore.Position{Commit: 9, Prepare: 9}, Type: "T", RecordedAt: at},
	} {
		t.Run(name, func(t *testing.T) {
			msg, err := NewMsg(ev, eventstore.Position{Commit: ev.Position.Commit - 1, Prepare: ev.Position.Prepare - 1}, PartitionLink{Of: 1})
			if err != nil {
				t.Fatal(err)
			}
			var w wireEvent
			if err := json.Unmarshal(msg.Data, &w); err != nil {
				t.Fatal(err)
			}
			got, err := Decode(msg.Header, msg.Data)
			if err != nil {
				t.Fatal(err)
			}
			want := eventstore.RecordedEvent{ID: w.ID, Stream: w.Stream, Revision: w.Revision, Position: w.Position,
				Type: w.Type, Data: []byte(w.Data), Metadata: []byte(w.Metadata), RecordedAt: w.RecordedAt}
			if w.DataBytes != nil {
				want.Data = w.DataBytes
			}
			if w.MetadataBytes != nil {
				want.Metadata = w.MetadataBytes
			}
			if !reflect.DeepEqual(got.Event, want) {
				t.Fatalf("decoded\n%+v\nencoding/json decoded\n%+v", got.Event, want)
			}
		})
	}
}
