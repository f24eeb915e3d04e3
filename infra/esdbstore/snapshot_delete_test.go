package esdbstore_test

import (
	"bytes"
	"testing"

	"ledger/infra/esdbstore/esdbprotocolserver"
	"ledger/infra/eventstore"
)

// TestDeletedSnapshotsNoLongerReadAndSavingResumes: after DeleteSnapshots (what an
// erasure runs) no stream's snapshot reads back, neither through LoadSnapshot nor by
// reading the $snapshot- stream itself, and the next snapshot of each stream saves and
// loads as usual, whatever its revision.
func TestDeletedSnapshotsNoLongerReadAndSavingResumes(t *testing.T) {
	ctx := ctxFor(t)
	s := open(t, esdbprotocolserver.Start(t))
	secret := []byte(`{"users":["alice.erasable@contoso.example"]}`)
	for _, stream := range []string{"partner-1", "partner-2"} {
		for rev := range uint64(2) {
			if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: stream, Revision: rev, Version: 1, Data: secret}); err != nil {
				t.Fatal(err)
			}
		}
		if _, found, err := s.LoadSnapshot(ctx, stream); err != nil || !found {
			t.Fatalf("before the deletion %s has no snapshot: %v", stream, err)
		}
		if events, err := s.ReadStream(ctx, "$snapshot-"+stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: eventstore.End}); err != nil || len(events) != 1 || !bytes.Equal(events[0].Data, secret) {
			t.Fatalf("before the deletion $snapshot-%s reads back %d events (%v): reading it would prove nothing", stream, len(events), err)
		}
	}

	if err := s.DeleteSnapshots(ctx); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []string{"partner-1", "partner-2"} {
		if snap, found, err := s.LoadSnapshot(ctx, stream); err != nil || found {
			t.Errorf("after the deletion %s still loads a snapshot %s (%v)", stream, snap.Data, err)
		}
		events, err := s.ReadStream(ctx, "$snapshot-"+stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, From: eventstore.End})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if bytes.Contains(e.Data, []byte("alice")) {
				t.Errorf("$snapshot-%s still reads back %s", stream, e.Data)
			}
		}
	}

	fresh := []byte(`{"users":["erased:ref"]}`)
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "partner-1", Revision: 5, Version: 1, Data: fresh}); err != nil {
		t.Fatalf("saving a snapshot after the deletion: %v", err)
	}
	if snap, found, err := s.LoadSnapshot(ctx, "partner-1"); err != nil || !found || !bytes.Equal(snap.Data, fresh) || snap.Revision != 5 {
		t.Fatalf("after saving anew partner-1 loads %+v %v %v", snap, found, err)
	}
	// A snapshot of an earlier revision than the deleted one (the state folded again
	// from the start) is saved too: the deleted one never comes back to outrank it.
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{Stream: "partner-2", Revision: 0, Version: 1, Data: fresh}); err != nil {
		t.Fatalf("saving a snapshot after the deletion: %v", err)
	}
	if snap, found, err := s.LoadSnapshot(ctx, "partner-2"); err != nil || !found || !bytes.Equal(snap.Data, fresh) {
		t.Fatalf("after saving anew partner-2 loads %s %v %v", snap.Data, found, err)
	}
}
