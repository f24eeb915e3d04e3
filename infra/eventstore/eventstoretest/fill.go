package eventstoretest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

// Fill appends n small events to store, in appends of up to 100 spread over 50 partner
// streams, for benchmarks that need a log to read; it returns the head it reached.
func Fill(ctx context.Context, tb testing.TB, store eventstore.Store, n int) eventstore.Position {
	tb.Helper()
	var head eventstore.Position
	for done := 0; done < n; {
		batch := min(100, n-done)
		evs := make([]eventstore.EventData, batch)
		for i := range evs {
			evs[i] = eventstore.EventData{ID: uuid.NewString(), Type: "BenchHappened", Data: []byte(`{"n":1}`)}
		}
		res, err := store.Append(ctx, fmt.Sprintf("partner-MPN%d", done%50), eventstore.Any(), evs...)
		if err != nil {
			tb.Fatal(err)
		}
		head, done = res.Position, done+batch
	}
	return head
}
