package esdbstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"ledger/infra/esdbstore"
	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
	"ledger/infra/eventstore/eventstoretest"
)

// TestContract runs the shared event-store contract through the real esdb client
// against the in-process EventStoreDB protocol server, a fresh one per case.
func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return open(t, esdbprotocolserver.Start(t))
	}, eventstoretest.IDsMayRepeatAcrossStreams())
}

// TestContractRealServer runs the same contract against a real EventStoreDB
// (make test-esdb sets ESDB_URL, e.g. esdb://localhost:2113?tls=false). Without it the
// test skips: no server can run on the build machines, and TestContract above runs the
// identical suite against the protocol server on every make test, so the skip hides no
// case, only the difference between that server and a real one.
func TestContractRealServer(t *testing.T) {
	url := os.Getenv("ESDB_URL")
	if url == "" {
		t.Skip("real-server run: set ESDB_URL (make test-esdb)")
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store { return open(t, url) }, eventstoretest.IDsMayRepeatAcrossStreams())
}

func open(t testing.TB, connString string) *esdbstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := esdbstore.Open(ctx, connString)
	if err != nil {
		t.Fatalf("open %s: %v", connString, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
