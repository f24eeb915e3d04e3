package sqlstore

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

func event(label string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.NewString(), Type: "Tested", Data: fmt.Appendf(nil, `{"label":%q}`, label)}
}

// bounded is the context of a store call that must finish. Its deadline is
// testkit.HangBound, never a shorter guess: a fixed few seconds fails a correct store on a
// loaded machine (race detector, parallel packages), and the bound only keeps a broken
// test from hanging.
func bounded(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.HangBound)
	t.Cleanup(cancel)
	return ctx
}
