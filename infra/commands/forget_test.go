package commands

import (
	"context"
	"testing"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// gatedSnapshots holds every snapshot save until release is closed, and closes done
// when the held save has returned.
type gatedSnapshots struct {
	eventstore.Store
	snaps   eventstore.SnapshotStore
	entered chan struct{}
	release chan struct{}
	done    chan struct{}
}

func (g *gatedSnapshots) LoadSnapshot(ctx context.Context, stream string) (eventstore.Snapshot, bool, error) {
	return g.snaps.LoadSnapshot(ctx, stream)
}

func (g *gatedSnapshots) SaveSnapshot(ctx context.Context, s eventstore.Snapshot) error {
	defer close(g.done)
	g.entered <- struct{}{}
	<-g.release
	return g.snaps.SaveSnapshot(ctx, s)
}

// An erasure forgets every cached state (they may hold the erased person's data) and
// then deletes the stored snapshots. A snapshot of a state read before it, still being
// saved, must neither put that state back in the cache nor be written after
// ForgetStates returned (the deletion that follows would miss it).
func TestForgetStatesOutlastsTheSnapshotsUnderWayAndKeepsNoEarlierState(t *testing.T) {
	base := stores(t)["sqlite"](t)
	gate := &gatedSnapshots{Store: base, snaps: base.(eventstore.SnapshotStore),
		entered: make(chan struct{}, 1), release: make(chan struct{}), done: make(chan struct{})}
	x := New(gate, WithSnapshotEvery(1))
	const mpn = "5100042"
	if _, err := x.Partner(context.Background(), mpn, domain.EnrollPartner{MPNID: mpn, By: platform, Name: "Contoso"}, Meta{Actor: platform}); err != nil {
		t.Fatal(err)
	}
	<-gate.entered                                // the partner's first snapshot is being saved
	x.forgetting = func() { close(gate.release) } // and goes on once the states are purged
	x.ForgetStates()
	select {
	case <-gate.done:
	default:
		t.Fatal("ForgetStates returned while a snapshot of an earlier state was still being saved")
	}
	x.Close() // every save under way has ended
	if st, ok := x.states.lookup(domain.PartnerStream(mpn)); ok {
		t.Fatalf("the state at revision %d, read before ForgetStates, is cached again", st.revision)
	}
}
