package esdbstore

import (
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/infra/eventstore"
)

// isSystem tells the server's own events ($-typed, or in $-streams such as $stats-*,
// $$metadata and $epoch-information) from the ledger's.
func isSystem(e *esdb.RecordedEvent) bool {
	return strings.HasPrefix(e.EventType, "$") || strings.HasPrefix(e.StreamID, "$")
}

func position(e *esdb.RecordedEvent) eventstore.Position {
	return eventstore.Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare}
}

// allPosition turns an exclusive contract position into the client's: Start is
// esdb.Start{}, anything else the commit/prepare pair itself.
func allPosition(p eventstore.Position) esdb.AllPosition {
	if p.IsZero() {
		return esdb.Start{}
	}
	return esdb.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func recorded(e *esdb.RecordedEvent) eventstore.RecordedEvent {
	var metadata []byte
	if len(e.UserMetadata) > 0 {
		metadata = e.UserMetadata
	}
	return eventstore.RecordedEvent{
		ID:         e.EventID.String(),
		Stream:     e.StreamID,
		Revision:   e.EventNumber,
		Position:   position(e),
		Type:       e.EventType,
		Data:       e.Data,
		Metadata:   metadata,
		RecordedAt: e.CreatedDate,
	}
}
