package projections

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
)

// idleRaiseNever is a pull wait no test outlives: a partition that receives nothing has
// its checkpoint raised only after a pull that brought nothing (the idle raise), so
// with it an idle partition's checkpoint never moves during the test.
const idleRaiseNever = 10 * time.Minute

// neverIdleRaised makes h's runners pull for idleRaiseNever, with pins that last twice
// that (a runner pulls for at most half its pin TTL: NATS renews a pin only with a new
// pull request).
func (h *harness) neverIdleRaised(parts int) {
	h.partitions, h.fetchWait, h.pinnedTTL = parts, idleRaiseNever, 2*idleRaiseNever
}

// answerWithin bounds a wait that must be answered: far above any plausible latency,
// far below idleRaiseNever, so a wait that needs an idle raise fails instead of hanging.
const answerWithin = 30 * time.Second

// waitProcesses are the two ways a query waits: in the projector's process (woken by
// its commits) and in an API-only process sharing the read database (polling it).
func (h *harness) waitProcesses(r *Runner) map[string]*Checkpoints {
	return map[string]*Checkpoints{"projector process": r.Checkpoints(), "API-only process": NewCheckpoints(h.openReadDB())}
}

// Issue 11, item 3: a query reading every partition, with a minPosition, is answered
// as soon as every partition holds every one of its events up to that position; an
// idle partition (nothing of it since its last event) is not waited for until its idle
// raise. Partitions' idle raises are made never to happen here: the query would wait
// for them in vain. So is a partner query at a position of another partner's command.
func TestAQueryAcrossPartitionsDoesNotWaitForIdlePartitions(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const parts = 4
		h.neverIdleRaised(parts)
		mpns := partnersByPartition(t, parts)
		p := newCounter("across")
		r := h.runner(nil, p)
		h.runForwarder()
		h.background("runner", r.Run)
		waiters := h.waitProcesses(r)

		for i := range 2 * parts { // each partition takes a turn to be the busy one
			busy := i % parts
			pos := h.appendTo("partner-"+mpns[busy], "TestHappened")
			for proc, c := range waiters {
				for _, reader := range []string{allPartitions, mpns[busy], mpns[(busy+1)%parts]} {
					ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
					at, err := c.WaitForPartner(ctx, p.Name(), reader, pos)
					cancel()
					if err != nil || at.Less(pos) {
						t.Fatalf("%s: query for partner %q at %s (an event of partition %d): %s, %v; want answered",
							proc, reader, pos, busy, at, err)
					}
					h.assertAppliedUpTo(p, reader, pos)
				}
			}
		}
	})
}

// Exactness: a query is never released before every event at or below its minPosition,
// of every partition it reads, is applied. Partition A is held back with an event
// before the position of another partner's command: a query across partitions, and
// one for A, stay behind, while one for any other partner (busy or idle) is answered;
// once A applies, the query across partitions sees A's event.
func TestAQueryIsNotReleasedBeforeAnEventBelowItsPositionInAPartitionItReads(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const parts = 4
		h.neverIdleRaised(parts)
		mpns := partnersByPartition(t, parts)
		mpnA, mpnC := mpns[0], mpns[2]
		p := &heldCounter{counter: newCounter("held"), stream: "partner-" + mpnA}
		r := h.runner(nil, p)
		h.runForwarder()
		h.background("runner", r.Run)
		waiters := h.waitProcesses(r)
		for _, mpn := range mpns {
			h.appendTo("partner-"+mpn, "TestHappened")
		}
		h.waitFor(r.Checkpoints(), p.Name(), h.appendTo("partner-"+mpnC, "TestHappened"))

		p.held.Store(true)
		heldBack := h.appendTo("partner-"+mpnA, "TestHappened")
		pos := h.appendTo("partner-"+mpnC, "TestHappened")
		for proc, c := range waiters {
			for _, mpn := range mpns[1:] {
				ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
				at, err := c.WaitForPartner(ctx, p.Name(), mpn, pos)
				cancel()
				if err != nil || at.Less(pos) {
					t.Fatalf("%s: partner %s at %s while only A's partition is behind: %s, %v; want answered", proc, mpn, pos, at, err)
				}
			}
			for _, reader := range []string{allPartitions, mpnA} {
				short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				at, err := c.WaitForPartner(short, p.Name(), reader, pos)
				cancel()
				if !errors.Is(err, ErrProjectionBehind) || !at.Less(heldBack) {
					t.Errorf("%s: query for %q at %s while A's event at %s is not applied: %s, %v; want behind, below %s",
						proc, reader, pos, heldBack, at, err, heldBack)
				}
			}
		}
		p.held.Store(false)
		for proc, c := range waiters {
			ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
			_, err := c.WaitFor(ctx, p.Name(), pos)
			cancel()
			if err != nil {
				t.Fatalf("%s: query across partitions at %s once A applies: %v", proc, pos, err)
			}
			h.assertAppliedUpTo(p.counter, allPartitions, pos)
		}
	})
}

// A forwarder that restarts (a process restart, or its own retry after a PubAck that
// did not come in time, as under load) resumes its partition chain from the heads its
// last message carries: a partition idle since before the restart is still proven
// complete by the next event's heads, so a query reading it does not wait for its idle
// raise (made never to happen here). It used to restart every partition at an upper
// bound that an idle partition's checkpoint never reaches.
func TestAQueryAfterAForwarderRestartDoesNotWaitForPartitionsIdleSinceBefore(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const parts = 4
		h.neverIdleRaised(parts)
		mpns := partnersByPartition(t, parts)
		p := newCounter("restarted")
		r := h.runner(nil, p)
		_, stopForwarder := h.runForwarder()
		h.background("runner", r.Run)
		var last eventstore.Position
		for _, mpn := range mpns {
			last = h.appendTo("partner-"+mpn, "TestHappened")
		}
		h.waitFor(r.Checkpoints(), p.Name(), last)

		stopForwarder()
		h.runForwarder()
		pos := h.appendTo("partner-"+mpns[0], "TestHappened")
		for proc, c := range h.waitProcesses(r) {
			for _, reader := range []string{mpns[0], mpns[1], allPartitions} {
				ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
				at, err := c.WaitForPartner(ctx, p.Name(), reader, pos)
				cancel()
				if err != nil {
					t.Fatalf("%s: query for %q at %s after a forwarder restart: %s, %v; want answered", proc, reader, pos, at, err)
				}
				h.assertAppliedUpTo(p, reader, pos)
			}
		}
	})
}

// Exactness under load: commands on partners of every partition run while queries
// across partitions and for single partners follow each command with its position; no
// answer misses an event at or below that position in the partitions the query reads.
func TestQueriesUnderLoadNeverMissAnEventAtOrBelowTheirPosition(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const parts, writers, commands = 4, 4, 25
		h.neverIdleRaised(parts)
		mpns := partnersByPartition(t, parts)
		p := newCounter("loaded")
		r := h.runner(nil, p)
		h.runForwarder()
		h.background("runner", r.Run)
		waiters := h.waitProcesses(r)

		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range commands {
					mpn := mpns[(w+i)%parts]
					res, err := h.store.Append(context.Background(), "partner-"+mpn, eventstore.Any(),
						eventstore.EventData{ID: uuid.NewString(), Type: "TestHappened", Data: []byte(`{}`)})
					if err != nil {
						t.Errorf("append: %v", err)
						return
					}
					for proc, c := range waiters {
						for _, reader := range []string{allPartitions, mpn, mpns[(w+i+1)%parts]} {
							ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
							_, err := c.WaitForPartner(ctx, p.Name(), reader, res.Position)
							cancel()
							if err != nil {
								t.Errorf("%s: query for %q at %s: %v", proc, reader, res.Position, err)
								return
							}
							h.assertAppliedUpTo(p, reader, res.Position)
						}
					}
				}
			})
		}
		wg.Wait()
	})
}

// assertAppliedUpTo checks that the read model holds every event at or below pos of the
// partitions a query for reader reads (every partition for allPartitions): what the
// query would be answered from. (It may run in a goroutine of the test: it reports
// with Errorf.)
func (h *harness) assertAppliedUpTo(p *counter, reader string, pos eventstore.Position) {
	h.t.Helper()
	ctx := context.Background()
	want := map[uint64]bool{}
	for ev, err := range h.store.ReadAll(ctx, eventstore.Start) {
		if err != nil {
			h.t.Errorf("read the store: %v", err)
			return
		}
		if pos.Less(ev.Position) {
			break
		}
		if reader == allPartitions || partition.OfStream(ev.Stream, h.partitions) == partition.Of(reader, h.partitions) {
			want[ev.Position.Commit] = true
		}
	}
	var applied []int64
	if err := h.db.NewSelect().TableExpr("?", bun.Ident(p.name+"_applied")).Column("position").
		Where("position <= ?", int64(pos.Commit)).Scan(ctx, &applied); err != nil {
		h.t.Errorf("read the read model: %v", err)
		return
	}
	for _, a := range applied {
		delete(want, uint64(a))
	}
	if len(want) > 0 {
		h.t.Errorf("a query for %q at %s was answered from a read model missing the events at %v", reader, pos, keys(want))
	}
}

func keys(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
