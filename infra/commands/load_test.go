package commands

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"ledger/domain"
	"ledger/infra/eventstore"
	"ledger/infra/testkit"
)

// countingStore is a real store that counts the events its ReadStream hands out per
// stream. It holds every read of a stream from its start until all the test's callers
// have arrived, either each at such a read or each at a shared load
// (Executor.joinedLoad): the loads then overlap whatever the scheduler does.
type countingStore struct {
	eventstore.Store
	callers int
	mu      sync.Mutex
	arrived *sync.Cond
	// fromStart and joined count the callers at a read from the start and at a load.
	fromStart, joined int
	events            map[string]int
}

func newCountingStore(s eventstore.Store, callers int) *countingStore {
	c := &countingStore{Store: s, callers: callers, events: map[string]int{}}
	c.arrived = sync.NewCond(&c.mu)
	return c
}

func (c *countingStore) joinedLoad() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.joined++
	c.arrived.Broadcast()
}

func (c *countingStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	c.mu.Lock()
	if opts.From == 0 {
		c.fromStart++
		c.arrived.Broadcast()
		for c.fromStart < c.callers && c.joined < c.callers {
			c.arrived.Wait()
		}
	}
	c.mu.Unlock()
	recorded, err := c.Store.ReadStream(ctx, stream, opts)
	c.mu.Lock()
	c.events[stream] += len(recorded)
	c.mu.Unlock()
	return recorded, err
}

// A cold start under load: ten requests at once for a partner the executor has not
// loaded read its stream once between them, and all get the same state.
func TestConcurrentLoadsOfAColdPartnerReadItsStreamOnce(t *testing.T) {
	const callers = 10
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	writer := New(store, clock)
	admin, contract := actionPackPartner(t, writer, "4713001")
	for range 5 {
		if _, err := writer.Partner(ctx, "4713001", openIncident("4713001", admin, contract), Meta{Actor: admin}); err != nil {
			t.Fatal(err)
		}
	}
	stream := domain.PartnerStream("4713001")
	stored, err := store.ReadStream(ctx, stream, eventstore.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}

	counting := newCountingStore(store, callers)
	cold := New(counting, clock)
	cold.joinedLoad = func(string) { counting.joinedLoad() }
	states := make([]domain.Partner, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			st, _, err := cold.LoadPartner(ctx, "4713001")
			if err != nil {
				t.Error(err)
			}
			states[i] = st
		})
	}
	wg.Wait()
	if read := counting.events[stream]; read != len(stored) {
		t.Fatalf("%d concurrent loads read %d events of a %d-event stream; want it read once", callers, read, len(stored))
	}
	for i, st := range states {
		if !reflect.DeepEqual(st, states[0]) || st.IncidentCount != 5 {
			t.Fatalf("caller %d got another state: %d incidents", i, st.IncidentCount)
		}
	}
}

// A caller that gives up on a shared load gets its context's error at once, and the
// callers waiting on the same load still get the state: the load is not its alone.
func TestACallerGivingUpOnASharedLoadFailsNoOther(t *testing.T) {
	store := stores(t)["sqlite"](t)
	ctx := context.Background()
	clock := WithClock(func() time.Time { return now })
	actionPackPartner(t, New(store, clock), "4713002")

	counting := newCountingStore(store, 2) // the read waits for both callers
	cold := New(counting, clock)
	cold.joinedLoad = func(string) { counting.joinedLoad() }
	first, giveUp := context.WithCancel(ctx)
	firstDone := make(chan error)
	go func() {
		_, _, err := cold.LoadPartner(first, "4713002")
		firstDone <- err
	}()
	testkit.Eventually(t, "the first caller waits on the load", func() bool {
		counting.mu.Lock()
		defer counting.mu.Unlock()
		return counting.joined == 1
	})
	giveUp()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up: %v, want context.Canceled", err)
	}
	st, _, err := cold.LoadPartner(ctx, "4713002") // joins the load, which may now read
	if err != nil || !st.Enrolled() {
		t.Fatalf("the caller still waiting: enrolled %v, %v", st.Enrolled(), err)
	}
}

// panickingStore is a real store whose stream reads panic, as a driver bug would.
type panickingStore struct{ eventstore.Store }

func (panickingStore) ReadStream(context.Context, string, eventstore.ReadStreamOptions) ([]eventstore.RecordedEvent, error) {
	panic("driver bug")
}

// A panic while a cold stream is loaded fails the request that needed it, with an
// error, instead of ending the process from singleflight's goroutine.
func TestAPanicWhileLoadingAStreamFailsTheCallerNotTheProcess(t *testing.T) {
	x := New(panickingStore{stores(t)["sqlite"](t)})
	_, _, err := x.LoadPartner(context.Background(), "4713009")
	if !errors.Is(err, ErrLoadFailed) {
		t.Fatalf("LoadPartner over a panicking read: %v, want ErrLoadFailed", err)
	}
}
