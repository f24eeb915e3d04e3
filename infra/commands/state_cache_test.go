package commands

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// decidesLikeAFreshFold runs cmd through x and fails unless its events and refusal are
// those a fresh whole fold of the stream decides.
func decidesLikeAFreshFold(t *testing.T, x *Executor, store eventstore.Store, cmd domain.Command) {
	t.Helper()
	mpn := cmd.(domain.PartnerCommand).Partner()
	wantEvents, wantErr := freshDecision(t, store, mpn, cmd, now)
	out, err := x.Partner(context.Background(), mpn, cmd, Meta{Actor: cmd.(domain.PartnerCommand).Actor()})
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || len(out.Events) != len(wantEvents) {
		t.Fatalf("%s on %s: %d events, %v; a fresh fold decides %d events, %v", cmd.CommandName(), mpn, len(out.Events), err, len(wantEvents), wantErr)
	}
}

// The cache of states is bounded by bytes as well as by count: with room for about two
// partners' states, a third pushes out the least recently used, the evictions and the
// kept bytes are counted (StateCacheStats, on /metrics), and the evicted partner's next
// command is a miss that reads its state from the snapshot and the store and decides
// as a fresh fold does: its open incident is closed by its opener and by no stranger.
func TestStatesPastTheByteBoundAreEvictedLeastRecentlyUsedFirst(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	setup := New(store, clock, WithIDs(fixedIDs{}), WithSnapshotEvery(1)) // every state in a snapshot
	partners := []string{"4713001", "4713002", "4713003"}
	admins := map[string]domain.Actor{}
	for _, mpn := range partners {
		admin, contract := actionPackPartner(t, setup, mpn)
		admins[mpn] = admin
		if _, err := setup.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	setup.Close() // the snapshots are saved
	// The three states are alike: a third of the bytes kept is one.
	one := setup.StateCacheStats().Bytes / int64(len(partners))
	if setup.StateCacheStats().States != 3 || one <= 0 {
		t.Fatalf("the default bounds kept %+v of three small partners", setup.StateCacheStats())
	}

	x := New(store, clock, WithIDs(fixedIDs{}), WithSnapshotEvery(0), WithStateCacheBytes(one*5/2))
	t.Cleanup(func() { x.Close() })
	for _, mpn := range partners {
		if _, _, err := x.LoadPartner(ctx, mpn); err != nil {
			t.Fatal(err)
		}
	}
	st := x.StateCacheStats()
	if st.States != 2 || st.Evictions != 1 || st.Bytes > one*5/2 || st.Misses != 3 || st.Hits != 0 {
		t.Fatalf("three partners through a cache with room for two (%d bytes each): %+v; want two kept, one evicted, three misses", one, st)
	}
	if _, _, err := x.LoadPartner(ctx, partners[2]); err != nil { // the most recent: kept
		t.Fatal(err)
	}
	if st := x.StateCacheStats(); st.Hits != 1 || st.Misses != 3 {
		t.Fatalf("the most recently used partner was not kept: %+v", st)
	}
	evicted := partners[0]
	stranger := domain.Actor{UserID: "stranger"}
	incident := domain.IncidentID(evicted, 1)
	decidesLikeAFreshFold(t, x, store, domain.CloseIncident{MPNID: evicted, By: stranger, IncidentID: incident})
	if st := x.StateCacheStats(); st.Misses != 4 || st.Evictions != 2 {
		t.Fatalf("a command on the evicted partner: %+v; want a miss that evicts the least recently used again", st)
	}
	decidesLikeAFreshFold(t, x, store, domain.CloseIncident{MPNID: evicted, By: admins[evicted], IncidentID: incident, Resolution: "fixed"})
	decidesLikeAFreshFold(t, x, store, domain.CloseIncident{MPNID: evicted, By: admins[evicted], IncidentID: incident})
	kept, _, err := x.LoadPartner(ctx, evicted)
	if err != nil || !reflect.DeepEqual(kept, domain.FoldDeciding(readEvents(t, store, domain.PartnerStream(evicted)))) {
		t.Fatalf("the evicted partner's state, read again, is not the deciding fold of its stream: %v", err)
	}
}

// A state larger than the whole byte bound is not kept, and its commands still run,
// each reading the state from the snapshot and the store: opening an incident, and
// closing it by a stranger (refused) and by its opener.
func TestStateLargerThanTheByteBoundIsNotKeptAndItsCommandsStillRun(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	x := New(store, WithClock(func() time.Time { return now }), WithIDs(fixedIDs{}), WithSnapshotEvery(2), WithStateCacheBytes(256)) // less than any state
	t.Cleanup(func() { x.Close() })
	const mpn = "4713004"
	admin, contract := actionPackPartner(t, x, mpn)
	decidesLikeAFreshFold(t, x, store, openIncident(mpn, admin, contract))
	stranger := domain.Actor{UserID: "stranger"}
	closing := domain.CloseIncident{MPNID: mpn, By: stranger, IncidentID: domain.IncidentID(mpn, 1)}
	decidesLikeAFreshFold(t, x, store, closing)
	closing.By = admin
	decidesLikeAFreshFold(t, x, store, closing)
	st := x.StateCacheStats()
	if st.States != 0 || st.Bytes != 0 || st.Hits != 0 || st.Misses < 8 || st.Evictions < 8 {
		t.Fatalf("a partner larger than the bound: %+v; want nothing kept, every command a miss and a state not kept", st)
	}
	decidesLikeAFreshFold(t, x, store, closing) // closed already: nothing
	if _, _, err := x.LoadPartner(ctx, mpn); err != nil {
		t.Fatal(err)
	}
}
