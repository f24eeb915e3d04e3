// Package audit is what an auditor reads from the event store itself, never from a read
// model: the hash chain checked link by link (Verify), a partner's events with their
// metadata page by page (History), the partner's state as of an instant (PartnerAsOf)
// and the log as NDJSON (Export). Every function streams or pages, so memory does not
// grow with the log.
package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// Log is the part of the event store the audit functions read.
type Log interface {
	ReadAll(ctx context.Context, from eventstore.Position) iter.Seq2[eventstore.RecordedEvent, error]
	ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error)
}

// pageSize bounds the events one stream read holds.
const pageSize = 1000

// Record is one stored event as auditors see it: where it sits, what it says, and its
// metadata exactly as stored (actor, roles, correlation and causation IDs, rules
// version, recorded-at, previous hash and hash), so anyone can recompute the chain.
type Record struct {
	Position   string          `json:"position"`
	Stream     string          `json:"stream"`
	Revision   uint64          `json:"revision"`
	EventID    string          `json:"eventId"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recordedAt"`
	Data       json.RawMessage `json:"data"`
	Metadata   json.RawMessage `json:"metadata"`
	// ReadAs is the event as the ledger reads it today, when that differs from what is
	// stored: a superseded version upcast to the current one (IncidentOpened.v1 read as
	// .v2). Type and Data above stay the stored bytes, which the hash chain covers.
	ReadAs *ReadAs `json:"readAs,omitempty"`
}

// ReadAs is an event in its current version.
type ReadAs struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// RecordOf turns a stored event into a Record. Bytes that are not JSON (which the
// ledger never writes) are carried as a JSON string, so a line is always valid JSON.
func RecordOf(e eventstore.RecordedEvent) Record {
	return Record{Position: e.Position.String(), Stream: e.Stream, Revision: e.Revision, EventID: e.ID,
		Type: e.Type, RecordedAt: e.RecordedAt.UTC(), Data: rawJSON(e.Data), Metadata: rawJSON(e.Metadata),
		ReadAs: readAs(e)}
}

// readAs gives the event as read today when that differs from the stored bytes: a
// superseded version upcast, personal data opened (or shown erased). nil when it reads
// as stored, or is not an event the domain knows (the record shows it as stored).
func readAs(e eventstore.RecordedEvent) *ReadAs {
	ev, err := domain.Decode(e.Type, e.Data)
	if err != nil {
		return nil
	}
	data, err := json.Marshal(ev) // not Encode: that would seal the personal data again
	if err != nil || ev.EventType() == e.Type && bytes.Equal(data, e.Data) {
		return nil
	}
	return &ReadAs{Type: ev.EventType(), Data: data}
}

func rawJSON(b []byte) json.RawMessage {
	switch {
	case len(b) == 0:
		return json.RawMessage("null")
	case json.Valid(b):
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

// readStream yields a stream's events from revision from on, reading size events at a
// time.
func readStream(ctx context.Context, log Log, stream string, from uint64, size int) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for {
			page, err := log.ReadStream(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Forwards, From: from, Limit: size})
			if err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			if len(page) < size {
				return
			}
			from = page[len(page)-1].Revision + 1
		}
	}
}
