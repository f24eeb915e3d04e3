package commands

import (
	"context"
	"testing"

	"ledger/domain"
)

// BenchmarkSnapshotEncode is the work of one snapshot of a partner with 20,000 events
// (half of them incidents): on a hot partner a snapshot is written every tenth of the
// history, so this is what the stream's commands pay for, spread over that tenth.
func BenchmarkSnapshotEncode(b *testing.B) {
	store := benchStore(b)
	writeHistory(b, store, "5600001", 20_000)
	x := New(store, WithSnapshotEvery(0))
	st, err := x.current(context.Background(), domain.PartnerStream("5600001"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeSnapshot(st); err != nil {
			b.Fatal(err)
		}
	}
}
