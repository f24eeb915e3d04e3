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
