package commands

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
)

// streamReadCounter is a real store that counts the reads of each stream.
type streamReadCounter struct {
	eventstore.Store
	mu    sync.Mutex
	reads map[string]int
}

func (c *streamReadCounter) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	c.mu.Lock()
	c.reads[stream]++
	c.mu.Unlock()
	return c.Store.ReadStream(ctx, stream, opts)
}

func (c *streamReadCounter) readsOf(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[stream]
}

// A command on a partner whose state the executor keeps is decided on that state and
// appended at its revision without reading the partner's stream first: the append
// itself proves the state current (the next tests show what happens when it is not).
func TestCommandOnAKeptStateIsAppendedWithoutReadingItsStreamFirst(t *testing.T) {
	store := &streamReadCounter{Store: stores(t)["sqlite"](t), reads: map[string]int{}}
	ctx := context.Background()
	x := New(store, WithClock(func() time.Time { return now }))
	const mpn = "4713001"
	admin, contract := actionPackPartner(t, x, mpn)
	before := store.readsOf(domain.PartnerStream(mpn))
	for range 5 {
		if _, err := x.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	if reads := store.readsOf(domain.PartnerStream(mpn)) - before; reads != 0 {
		t.Fatalf("5 commands on a kept partner read its stream %d times, want 0", reads)
	}
	if got := domain.Fold(readEvents(t, store, domain.PartnerStream(mpn))).IncidentCount; got != 5 {
		t.Fatalf("%d incidents stored, want 5", got)
	}
}

// Executor B keeps a partner's state from before executor A (another process) opened
// an incident; B is then asked to close that incident. On B's kept state the incident
// does not exist, a refusal with nothing to append: B must check the store before
// answering, find A's event and close the incident.
func TestRefusalOnAKeptStateBehindTheStoreIsDecidedAgainOnTheStore(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	a, b := New(store, clock), New(store, clock)
	const mpn = "4713002"
	admin, contract := actionPackPartner(t, a, mpn)
	if _, _, err := b.LoadPartner(ctx, mpn); err != nil {
		t.Fatal(err)
	}
	opened, err := a.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	id := opened.Events[0].(domain.IncidentOpened).IncidentID
	out, err := b.Partner(ctx, mpn, domain.CloseIncident{MPNID: mpn, By: admin, IncidentID: id, Resolution: "fixed"}, Meta{Actor: admin})
	if err != nil {
		t.Fatalf("B closing the incident A opened: %v", err)
	}
	if len(out.Events) != 1 {
		t.Fatalf("B's close decided %d events, want 1", len(out.Events))
	}
	if in, ok := domain.Fold(readEvents(t, store, domain.PartnerStream(mpn))).IncidentLog.ByID(id); !ok || in.ClosedAt.IsZero() {
		t.Fatalf("incident %s not stored as closed: %+v", id, in)
	}
}

// Executor B keeps a partner's state with one incident left in the pool; executor A
// then takes it. B, asked for another incident, decides on its kept state (one left),
// its append at the kept revision is refused, and it decides again on the store's
// state: pool exhausted, nothing stored.
func TestKeptStateBehindTheStoreNeverOverdrawsThePool(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	a, b := New(store, clock), New(store, clock)
	const mpn = "4713003"
	admin, contract := actionPackPartner(t, a, mpn)
	for range 9 { // 9 of the pool of 10
		if _, err := a.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.LoadPartner(ctx, mpn); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	_, err := b.Partner(ctx, mpn, openIncident(mpn, admin, contract), Meta{Actor: admin})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.CodePoolExhausted {
		t.Fatalf("B's eleventh incident: %v, want pool_exhausted", err)
	}
	if got := domain.Fold(readEvents(t, store, domain.PartnerStream(mpn))).IncidentCount; got != 10 {
		t.Fatalf("%d incidents stored, want 10", got)
	}
}
