package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
)

func event(label string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: fmt.Appendf(nil, `{"label":%q}`, label)}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
