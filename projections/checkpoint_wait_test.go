package projections

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
	"ledger/infra/testkit"
)

// Issue 9, item 3: 1,500 queries waiting for minPosition opened about as many
// connections to the read database. Waiting now costs none: many concurrent WaitFor
// calls for a future position, in the process that runs the projector and in an
// API-only process sharing the database, never make anyone queue for a connection of a
// small bounded pool, and all return once the projection gets there.
func TestManyWaitersForAFuturePositionHoldNoConnection(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const bound, waitersPerProcess = 8, 750
		h.db = h.openBoundedReadDB(bound) // the runner's process
		api := h.openBoundedReadDB(bound) // an API-only process
		p := newCounter("counter")
		r := h.runner(nil, p)
		processes := []struct {
			name string
			db   *bun.DB
			cp   *Checkpoints
		}{{"projector process", h.db, r.Checkpoints()}, {"API-only process", api, NewCheckpoints(api)}}

		head := h.appendEvents(20, "TestHappened") // not forwarded yet: a future position
		waitsBefore := make([]int64, len(processes))
		peaks := make([]*connPeak, len(processes))
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i, proc := range processes {
			waitsBefore[i] = proc.db.Stats().WaitCount
			peaks[i] = watchOpenConns(proc.db)
			for range waitersPerProcess {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					if at, err := proc.cp.WaitFor(ctx, p.Name(), head); err != nil || at.Less(head) {
						failed.Add(1)
						t.Errorf("%s: WaitFor = %s, %v; want at least %s", proc.name, at, err, head)
					}
				})
			}
			testkit.Eventually(t, proc.name+": every waiter waiting", func() bool { return waiting(proc.cp) == waitersPerProcess })
		}
		h.runForwarder()
		h.background("runner", r.Run)
		wg.Wait()

		for i, proc := range processes {
			peak := peaks[i].stop()
			st := proc.db.Stats()
			t.Logf("%s: %d waiters; open connections peaked at %d (bound %d); %d waits for a connection",
				proc.name, waitersPerProcess, peak, st.MaxOpenConnections, st.WaitCount-waitsBefore[i])
			if st.MaxOpenConnections != bound || peak > bound {
				t.Errorf("%s: %d connections open at the peak, pool bound %d; want at most %d", proc.name, peak, st.MaxOpenConnections, bound)
			}
			if n := st.WaitCount - waitsBefore[i]; n != 0 {
				t.Errorf("%s: %d times a caller queued for one of the %d connections while %d waited: waiting holds connections",
					proc.name, n, bound, waitersPerProcess)
			}
		}
		if failed.Load() > 0 {
			t.Errorf("%d waiters did not see the position", failed.Load())
		}
	})
}

// waiting is how many WaitFor calls are waiting on c.
func waiting(c *Checkpoints) int {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	n := 0
	for _, ws := range c.known.waiting {
		n += len(ws)
	}
	return n
}

func (h *harness) openBoundedReadDB(n int) *bun.DB {
	h.t.Helper()
	db, err := sqldb.Open(context.Background(), h.dialect, h.target, sqldb.MaxConns(n))
	if err != nil {
		h.t.Fatalf("open read db: %v", err)
	}
	h.t.Cleanup(func() { db.Close() })
	return db
}

// connPeak is the most connections seen open on a database handle, sampled until stop.
type connPeak struct {
	peak atomic.Int64
	done chan struct{}
	wg   sync.WaitGroup
}

func watchOpenConns(db *bun.DB) *connPeak {
	p := &connPeak{done: make(chan struct{})}
	p.wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if n := int64(db.Stats().OpenConnections); n > p.peak.Load() {
				p.peak.Store(n)
			}
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	})
	return p
}

func (p *connPeak) stop() int64 {
	close(p.done)
	p.wg.Wait()
	return p.peak.Load()
}

// A query that asks for no position reports where its read model stands
// (X-Projection-Position): an API-only process, which learns of progress only by
// polling, does not keep answering with the position it saw long ago.
func TestWaitForWithoutAPositionReportsWhereTheReadModelStands(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		h.runForwarder()
		p := newCounter("counter")
		r := h.runner(nil, p)
		h.background("runner", r.Run)
		api := NewCheckpoints(h.openReadDB())

		first := h.appendEvents(3, "TestHappened")
		h.waitFor(api, p.Name(), first)
		head := h.appendEvents(5, "TestHappened")
		h.waitFor(r.Checkpoints(), p.Name(), head)
		testkit.Eventually(t, "the API process reports the projection at the head", func() bool {
			at, err := api.WaitFor(context.Background(), p.Name(), eventstore.Start)
			return err == nil && !at.Less(head)
		})
	})
}

// Issue 10: a commit or a poll wakes the queries it lets through, not every query
// waiting. Five read models commit many times a second while a hundred queries wait;
// waking them all at every commit, to find mostly that they must wait on, queued the
// goroutines with work behind those wake-ups. Commits of another read model, below the
// position a query waits for, or a poll that finds nothing new, wake nobody; the
// commit that reaches the position wakes its waiters.
func TestACommitOrPollWakesOnlyTheQueriesItLetsThrough(t *testing.T) {
	h := newHarness(t, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	c := NewCheckpoints(h.db)
	c.poll = time.Hour // the one poll at the first join only; the test polls by hand
	const waiters = 20
	want := eventstore.Position{Commit: 10, Prepare: 10}
	at := func(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }
	c.committed("remaining_incidents", 0, 1, at(1), nil, nil)
	c.committed("incidents", 0, 1, at(1), nil, nil)

	var wg sync.WaitGroup
	reached := make(chan eventstore.Position, waiters)
	for range waiters {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			pos, err := c.WaitFor(ctx, "remaining_incidents", want)
			if err != nil {
				t.Errorf("WaitFor: %v", err)
			}
			reached <- pos
		})
	}
	testkit.Eventually(t, "every query waiting, the background poll done", func() bool {
		if waiting(c) != waiters {
			return false
		}
		c.known.mu.Lock()
		defer c.known.mu.Unlock()
		return c.known.polls > 0
	})
	for n := uint64(2); n <= 50; n++ {
		c.committed("incidents", 0, 1, at(n), nil, nil) // another read model
	}
	for n := uint64(2); n < 10; n++ {
		c.committed("remaining_incidents", 0, 1, at(n), nil, nil) // not there yet
	}
	c.pollOnce() // finds nothing (no runner wrote the database)
	if n := woken(c, "remaining_incidents"); n > 0 {
		t.Fatalf("%d of %d waiting queries woken by commits and a poll that do not let them through", n, waiters)
	}
	c.committed("remaining_incidents", 0, 1, want, nil, nil)
	wg.Wait()
	close(reached)
	for pos := range reached {
		if pos != want {
			t.Errorf("a query went on at %s, want %s", pos, want)
		}
	}
}

// woken is how many waiters of name have a wake-up they have not taken yet.
func woken(c *Checkpoints, name string) int {
	c.known.mu.Lock()
	defer c.known.mu.Unlock()
	n := 0
	for w := range c.known.waiting[name] {
		n += len(w.wake)
	}
	return n
}
