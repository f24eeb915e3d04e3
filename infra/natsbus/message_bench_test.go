package natsbus

import (
	"fmt"
	"testing"
	"time"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// BenchmarkDecode is what every projector pays per forwarded event before projecting it:
// an incident-sized event with its sealed metadata.
func BenchmarkDecode(b *testing.B) {
	ev := eventstore.RecordedEvent{ID: "0192f3a4-7b1c-7d2e-9f00-123456789abc", Stream: "partner-5600001", Revision: 41,
		Position: eventstore.Position{Commit: 90210, Prepare: 90210}, Type: "IncidentOpened",
		Data:       []byte(`{"MPNID":"5600001","IncidentID":"IN-5600001-21","Seq":21,"Plan":"premier","ContractID":"","Pool":"paid","PaidPlanID":"PL-1","Product":"Azure","Version":"2024","CustomerID":"","Title":"VM does not start","OpenedBy":"U-admin","OpenedAt":"2026-11-30T12:00:00Z","RulesVersion":1}`),
		Metadata:   []byte(`{"correlationId":"c-1","causationId":"k-1","actor":{"userId":"U-admin","roles":["GlobalAdmin"]},"recordedAt":"2026-11-30T12:00:00Z","prevHash":"ca7b0fc1fc9a3b8eab2a6e127c6735c2930062025e8405adf45489e18132f36f","hash":"0b7b0fc1fc9a3b8eab2a6e127c6735c2930062025e8405adf45489e18132f36f"}`),
		RecordedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	prev := eventstore.Position{Commit: 90209, Prepare: 90209}
	for _, link := range []PartitionLink{
		{Of: 1},
		// Four partitions: the partition headers and the heads of every partition.
		{Partition: 2, Of: 4, Previous: prev, Heads: partition.Heads{prev, {Commit: 90100, Prepare: 90100}, ev.Position, {Commit: 89000, Prepare: 89000}}},
	} {
		b.Run(fmt.Sprintf("partitions=%d", link.Of), func(b *testing.B) {
			msg, err := NewMsg(ev, prev, link)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(msg.Header, msg.Data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
