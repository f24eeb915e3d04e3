package natsbus

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/infra/esdbstore"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

// EventStoreDB stores an event id again in another stream (it checks ids only within a
// stream). Both events are in the log, so both must reach the projections: JetStream's
// deduplication must not take the second for a re-publish of the first.
func TestEventsSharingAnIDAcrossStreamsAreBothForwarded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := esdbstore.Open(ctx, esdbprotocolserver.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := startNATS(t, t.TempDir(), 0)
	c := connect(t, e.ClientURL())

	shared := eventstore.EventData{ID: uuid.NewString(), Type: "TestHappened", Data: []byte(`{"n":1}`)}
	if _, err := store.Append(ctx, "partner-MPN1", eventstore.NoStream(), shared); err != nil {
		t.Fatal(err)
	}
	second, err := store.Append(ctx, "partner-MPN2", eventstore.NoStream(), shared)
	if err != nil {
		t.Fatalf("append of the same id to another stream: %v (EventStoreDB stores it)", err)
	}
	f, _ := runForwarder(t, ForwarderConfig{Store: store, JetStream: c.JetStream})
	testkit.Eventually(t, "forwarder reaches the head", func() bool { return f.Forwarded() == second.Position })
	got := streamContents(t, c)
	if len(got) != 2 || got[0].Event.Stream != "partner-MPN1" || got[1].Event.Stream != "partner-MPN2" {
		t.Fatalf("JetStream holds %d events %+v, want the one of partner-MPN1 and the one of partner-MPN2", len(got), got)
	}
	assertExactCopy(t, store, got)
}
