package projections

import (
	"fmt"
	"testing"

	"ledger/infra/eventstore"
)

// BenchmarkPartnerStamp is what per-partner retirement adds to every query of a kept
// answer: the partner's stamp, looked up once the query waited, among 10,000 partners
// whose commits this process's runner told.
func BenchmarkPartnerStamp(b *testing.B) {
	c := NewCheckpoints(nil)
	c.committed(RemainingIncidentsName, 0, 1, eventstore.Position{}, nil, nil)
	c.PartnerStamp(RemainingIncidentsName, "") // starts recording
	var events []eventstore.RecordedEvent
	for i := range 10_000 {
		events = append(events, eventstore.RecordedEvent{Stream: fmt.Sprintf("partner-%07d", i), Position: eventstore.Position{Commit: uint64(i + 1)}})
	}
	c.committed(RemainingIncidentsName, 0, 1, events[len(events)-1].Position, nil, &toldCommit{events: events})
	b.ReportAllocs()
	for b.Loop() {
		if _, settled := c.PartnerStamp(RemainingIncidentsName, "0004242"); !settled {
			b.Fatal("no stamp")
		}
	}
}
