package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/partition"
	"ledger/infra/testkit"
)

// groupFixture is one read model in four partitions and a group committer for it, as
// one projector process holding all four runs them, with chunks of events per partition.
type groupFixture struct {
	h       *harness
	p       *counter
	g       *groupCommitter
	chunks  [][]eventstore.RecordedEvent // by partition
	batches [][]eventstore.RecordedEvent // what each Apply got, in order
	first   chan struct{}                // closed when the first Apply is under way
	release chan struct{}                // closed to let the first Apply finish
}

const groupParts = 4

func newGroupFixture(t *testing.T, h *harness, poisonIn int) *groupFixture {
	ctx := context.Background()
	f := &groupFixture{h: h, p: newCounter("grouped"), first: make(chan struct{}), release: make(chan struct{})}
	var mu sync.Mutex
	f.p.onApply = func(batch []eventstore.RecordedEvent) {
		mu.Lock()
		f.batches = append(f.batches, slices.Clone(batch))
		n := len(f.batches)
		mu.Unlock()
		if n == 1 {
			close(f.first)
			<-f.release
		}
	}
	if err := EnsureSchema(ctx, h.db); err != nil {
		t.Fatal(err)
	}
	if err := initPartitioned(ctx, h.db, f.p, groupParts); err != nil {
		t.Fatal(err)
	}
	// Three events per partition, interleaved in the log as partners' events are.
	mpns := partnersByPartition(t, groupParts)
	f.chunks = make([][]eventstore.RecordedEvent, groupParts)
	pos := uint64(0)
	for range 3 {
		for k, mpn := range mpns {
			pos++
			typ := "TestHappened"
			if k == poisonIn && len(f.chunks[k]) == 1 {
				typ = poisonType
			}
			f.chunks[k] = append(f.chunks[k], eventstore.RecordedEvent{ID: uuid.NewString(), Stream: "partner-" + mpn,
				Type: typ, Position: eventstore.Position{Commit: pos, Prepare: pos}, Data: []byte(`{}`)})
		}
	}
	a := applier{db: h.db, p: f.p, log: h.log}
	f.g = newGroupCommitter(a, groupParts, 4*500)
	done := make(chan struct{})
	go func() { defer close(done); f.g.run() }()
	t.Cleanup(func() { close(f.g.in); <-done })
	return f
}

// progress is partition k's live checkpoint as a worker would read it before a step.
func (f *groupFixture) progress(k int) *liveProgress {
	st, err := loadPartition(context.Background(), f.h.db, f.p.Name(), k)
	if err != nil {
		f.h.t.Fatal(err)
	}
	return &liveProgress{st: st}
}

// commitAll hands partition 0's chunk to the committer and, while its transaction is
// held open, the others' (through applier.apply, as a worker does); when all three wait,
// it lets the first finish and returns each partition's answer and dead-letter count.
func (f *groupFixture) commitAll(progs []*liveProgress) ([]error, []int) {
	errs, dead := make([]error, groupParts), make([]int, groupParts)
	var wg sync.WaitGroup
	apply := func(k int) {
		a := applier{db: f.h.db, p: f.p, log: f.h.log, group: f.g}
		dead[k], errs[k] = a.apply(context.Background(), progs[k], f.chunks[k])
	}
	wg.Go(func() { apply(0) })
	<-f.first
	for k := 1; k < groupParts; k++ {
		wg.Go(func() { apply(k) })
	}
	testkit.Eventually(f.h.t, "the other partitions' chunks wait for the committer", func() bool {
		return len(f.g.in) == groupParts-1
	})
	close(f.release)
	wg.Wait()
	return errs, dead
}

// A process holding several partitions of a read model commits the chunks they have
// ready in one transaction: one Apply of their events in log order, each partition's
// checkpoint moved to its own last event in it.
func TestChunksOfPartitionsReadyTogetherCommitInOneTransaction(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		f := newGroupFixture(t, h, -1)
		progs := make([]*liveProgress, groupParts)
		for k := range progs {
			progs[k] = f.progress(k)
		}
		errs, _ := f.commitAll(progs)
		for k, err := range errs {
			if err != nil {
				t.Fatalf("partition %d: %v", k, err)
			}
		}
		if len(f.batches) != 2 {
			t.Fatalf("%d transactions applied the chunks of %d partitions, want 2 (the first alone, the three waiting together)",
				len(f.batches), groupParts)
		}
		shared := f.batches[1]
		if !slices.IsSortedFunc(shared, func(a, b eventstore.RecordedEvent) int { return int(a.Position.Commit) - int(b.Position.Commit) }) {
			t.Errorf("shared batch not in log order: %v", positionsOf(shared))
		}
		if parts := partitionsIn(shared); len(parts) != groupParts-1 {
			t.Errorf("shared batch holds partitions %v, want the three that waited", parts)
		}
		f.assertCheckpointsAtChunkEnds(progs)
		h.assertFoldedExactlyOnceAgainst(f.p, f.chunks)
	})
}

// A shared transaction that fails for one partition's sake costs the others nothing:
// an event the read model refuses is dead-lettered in its partition, and every other
// event of every partition is applied once.
func TestAnEventRefusedInASharedTransactionIsDeadLetteredAndTheOtherPartitionsCommit(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const poisoned = 2
		f := newGroupFixture(t, h, poisoned)
		progs := make([]*liveProgress, groupParts)
		for k := range progs {
			progs[k] = f.progress(k)
		}
		errs, dead := f.commitAll(progs)
		for k, err := range errs {
			if err != nil {
				t.Fatalf("partition %d: %v", k, err)
			}
		}
		if !slices.Equal(dead, []int{0, 0, 1, 0}) {
			t.Errorf("dead letters by partition %v, want one in partition %d", dead, poisoned)
		}
		dl, err := DeadLetters(context.Background(), h.db, f.p.Name())
		if err != nil {
			t.Fatal(err)
		}
		if len(dl) != 1 || dl[0].Position != f.chunks[poisoned][1].Position {
			t.Errorf("dead letters %+v, want the refused event at %s", dl, f.chunks[poisoned][1].Position)
		}
		f.assertCheckpointsAtChunkEnds(progs)
		h.assertFoldedExactlyOnceAgainst(f.p, f.chunks)
	})
}

// If another process committed one of the partitions meanwhile (it took the partition
// over), that partition's chunk is refused as a moved checkpoint, to be planned again,
// and the other partitions' chunks still commit.
func TestAPartitionCommittedElsewhereMeanwhileIsRefusedAloneInASharedTransaction(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		const taken = 3
		f := newGroupFixture(t, h, -1)
		progs := make([]*liveProgress, groupParts)
		for k := range progs {
			progs[k] = f.progress(k)
		}
		elsewhere := f.chunks[taken][0].Position // another process applied up to here
		if err := h.db.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
			return advance(ctx, tx, progs[taken].st, elsewhere, nil)
		}); err != nil {
			t.Fatal(err)
		}
		errs, _ := f.commitAll(progs)
		for k, err := range errs {
			if k == taken {
				if !errors.Is(err, errCheckpointMoved) {
					t.Errorf("partition %d: %v, want the checkpoint moved", k, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("partition %d: %v", k, err)
			}
		}
		st, err := loadPartition(context.Background(), h.db, f.p.Name(), taken)
		if err != nil {
			t.Fatal(err)
		}
		if st.Checkpoint != elsewhere {
			t.Errorf("partition %d at %s, want %s where the other process left it", taken, st.Checkpoint, elsewhere)
		}
		applied := f.p.counts(t, h.db)
		if n := applied["partner-"+partnersByPartition(t, groupParts)[taken]]; n != 0 {
			t.Errorf("partition %d: %d events applied by the refused chunk", taken, n)
		}
		for k := range groupParts {
			if k != taken && progs[k].st.Checkpoint != f.chunks[k][len(f.chunks[k])-1].Position {
				t.Errorf("partition %d at %s, want its chunk's end", k, progs[k].st.Checkpoint)
			}
		}
	})
}

func (f *groupFixture) assertCheckpointsAtChunkEnds(progs []*liveProgress) {
	f.h.t.Helper()
	for k := range groupParts {
		want := f.chunks[k][len(f.chunks[k])-1].Position
		st, err := loadPartition(context.Background(), f.h.db, f.p.Name(), k)
		if err != nil {
			f.h.t.Fatal(err)
		}
		if st.Checkpoint != want || progs[k].st.Checkpoint != want {
			f.h.t.Errorf("partition %d checkpoint %s (the worker's %s), want %s", k, st.Checkpoint, progs[k].st.Checkpoint, want)
		}
	}
}

// assertFoldedExactlyOnceAgainst checks the read model against the chunks: every event
// counted once, but poison events, none.
func (h *harness) assertFoldedExactlyOnceAgainst(p *counter, chunks [][]eventstore.RecordedEvent) {
	h.t.Helper()
	want := map[string]int{}
	for _, chunk := range chunks {
		for _, ev := range chunk {
			if ev.Type != poisonType {
				want[ev.Stream]++
			}
		}
	}
	got := p.counts(h.t, h.db)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		h.t.Errorf("read model counts %v, want %v", got, want)
	}
}

func positionsOf(events []eventstore.RecordedEvent) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.Position.String())
	}
	return out
}

func partitionsIn(events []eventstore.RecordedEvent) []int {
	var out []int
	for _, ev := range events {
		if k := partition.OfStream(ev.Stream, groupParts); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
