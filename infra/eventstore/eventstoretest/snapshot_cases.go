package eventstoretest

import (
	"errors"
	"strings"
	"testing"

	"ledger/infra/eventstore"
)

var errCaughtUp = errors.New("caught up")

// snapshotsBesideTheLog: a store keeps the latest snapshot of each stream, an older
// one never replaces a later one, and no snapshot shows in the global log or a
// subscription (the forwarder, projections, audit and rebuilds read those).
func snapshotsBesideTheLog(t *testing.T, s eventstore.Store) {
	snaps, ok := s.(eventstore.SnapshotStore)
	if !ok {
		t.Fatalf("%T keeps no snapshots: every adapter implements eventstore.SnapshotStore", s)
	}
	n := newNames()
	stream := n.stream("snapshotted")
	if _, found, err := snaps.LoadSnapshot(bounded(t), stream); err != nil || found {
		t.Fatalf("snapshot of a stream never snapshotted: found %v, err %v", found, err)
	}
	from := mustHead(t, s)
	mustAppend(t, s, stream, eventstore.NoStream(), events(3, "snapshotted")...)
	save := func(rev uint64, data string) {
		t.Helper()
		if err := snaps.SaveSnapshot(bounded(t), eventstore.Snapshot{Stream: stream, Revision: rev, Version: 7, Data: []byte(data)}); err != nil {
			t.Fatalf("save snapshot at %d: %v", rev, err)
		}
	}
	save(1, `{"at":1}`)
	save(2, `{"at":2}`)
	save(0, `{"at":0}`) // older: must not replace the one at 2
	got, found, err := snaps.LoadSnapshot(bounded(t), stream)
	if err != nil || !found {
		t.Fatalf("load snapshot: found %v, err %v", found, err)
	}
	if got.Stream != stream || got.Revision != 2 || got.Version != 7 || string(got.Data) != `{"at":2}` {
		t.Fatalf("loaded snapshot %+v (data %s), want the one at revision 2", got, got.Data)
	}
	if evs := mustRead(t, s, stream, eventstore.ReadStreamOptions{}); len(evs) != 3 {
		t.Fatalf("the stream holds %d events after snapshots, want its 3", len(evs))
	}
	for ev, err := range s.ReadAll(bounded(t), from) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		if strings.Contains(ev.Stream, stream) && ev.Stream != stream {
			t.Fatalf("the global log shows %s@%d (%s): a snapshot leaked into the log", ev.Stream, ev.Revision, ev.Type)
		}
	}
	err = s.Subscribe(bounded(t), from, func(m eventstore.SubscriptionMessage) error {
		if m.CaughtUp {
			return errCaughtUp
		}
		if strings.Contains(m.Event.Stream, stream) && m.Event.Stream != stream {
			t.Errorf("a subscription delivers %s@%d: a snapshot leaked into the log", m.Event.Stream, m.Event.Revision)
		}
		return nil
	})
	if !errors.Is(err, errCaughtUp) {
		t.Fatalf("subscribe: %v", err)
	}
}
