package esdbstore_test

import (
	"errors"
	"testing"

	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
)

// A node that went away fails appends and reads with eventstore.ErrUnavailable, which
// the API answers as 503 store_unavailable, rather than with an unclassified error.
func TestAnUnreachableNodeFailsAppendsAndReadsAsUnavailable(t *testing.T) {
	server, conn := esdbprotocolserver.StartServer(t)
	s := open(t, conn)
	if _, err := s.Append(ctxFor(t), "partner-1", eventstore.NoStream(), event("before")); err != nil {
		t.Fatal(err)
	}
	server.Stop()
	if _, err := s.Append(ctxFor(t), "partner-2", eventstore.NoStream(), event("after")); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("append with the node gone: %v, want ErrUnavailable", err)
	}
	if _, err := s.ReadStream(ctxFor(t), "partner-1", eventstore.ReadStreamOptions{}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("read with the node gone: %v, want ErrUnavailable", err)
	}
	if _, err := s.Head(ctxFor(t)); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Errorf("head with the node gone: %v, want ErrUnavailable", err)
	}
}
