package projections

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"ledger/infra/eventstore"
	"ledger/infra/sqldb"
)

// A partner's stamp moves with every commit known to touch it, and only then: this
// runner's commits tell their partners; a commit its poll sees first leaves the
// partition unsettled (no stamp, so no answer served or kept) until the runner tells
// it (if it has not by the next poll, that poll counts the commit as touching every
// partner); a commit of another process, or one told from further than the partition
// was known to stand (a move in between unseen), touches every partner of the
// partition.
func TestAPartnersStampMovesOnlyWithTheCommitsKnownToTouchIt(t *testing.T) {
	h := newHarness(t, sqldb.SQLite, filepath.Join(t.TempDir(), "read.db"))
	ctx := context.Background()
	must(t, EnsureSchema(ctx, h.db))
	_, err := h.db.NewInsert().Model(&stateRow{Name: RemainingIncidentsName, Version: 1, Generation: 1,
		Status: string(StatusLive), UpdatedAt: time.Now().UTC()}).Exec(ctx)
	must(t, err)
	c := newRunnerCheckpoints(h.db, "this-process")
	c.pollOnce()
	at := func(n uint64) eventstore.Position { return eventstore.Position{Commit: n, Prepare: n} }
	committedBy := func(n uint64, owner string) { // a runner's commit, as the database holds it
		_, err := h.db.NewUpdate().Model((*stateRow)(nil)).Set("checkpoint_commit = ?, checkpoint_prepare = ?, owner = ?", n, n, owner).
			Where("name = ?", RemainingIncidentsName).Exec(ctx)
		must(t, err)
	}
	told := func(from, to uint64, mpn string) {
		c.committed(RemainingIncidentsName, 0, 1, at(to), nil,
			&toldCommit{from: at(from), events: []eventstore.RecordedEvent{{Stream: "partner-" + mpn, Position: at(to)}}})
	}
	const settled, unsettled = true, false
	for _, step := range []struct {
		what    string
		do      func()
		a, b    uint64 // the stamps of goldCSP and actionPack
		settled bool
	}{
		{"before any commit", func() {}, 0, 0, settled},
		{"this runner's commit for goldCSP", func() { committedBy(1, "this-process"); told(0, 1, goldCSP) }, 1, 0, settled},
		{"this runner's commit for actionPack, polled before it is told", func() { committedBy(2, "this-process"); c.pollOnce() }, 0, 0, unsettled},
		{"then told", func() { told(1, 2, actionPack) }, 1, 2, settled},
		{"this runner's commit, polled twice before it is told", func() { committedBy(3, "this-process"); c.pollOnce(); c.pollOnce() }, 3, 3, settled},
		{"then told", func() { told(2, 3, goldCSP) }, 3, 3, settled},
		{"another process's commit, polled", func() { committedBy(4, "elsewhere"); c.pollOnce() }, 4, 4, settled},
		{"this runner's commit from past the known checkpoint", func() { told(5, 6, goldCSP) }, 6, 6, settled},
		{"this runner's next commit for goldCSP", func() { told(6, 7, goldCSP) }, 7, 6, settled},
	} {
		step.do()
		a, okA := c.PartnerStamp(RemainingIncidentsName, goldCSP)
		b, okB := c.PartnerStamp(RemainingIncidentsName, actionPack)
		if okA != step.settled || okB != step.settled || (step.settled && (a != at(step.a) || b != at(step.b))) {
			t.Fatalf("%s: stamps %s (%v) and %s (%v); want %d and %d, settled %v", step.what, a, okA, b, okB, step.a, step.b, step.settled)
		}
	}
}

// The touch log keeps a move for touchesKept: a commit prunes the older moves of its
// partition (at most every pruneTouchesEvery), and keeps the recent ones.
func TestTheTouchLogPrunesMovesOlderThanItKeeps(t *testing.T) {
	forEachReadDialect(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		must(t, EnsureSchema(ctx, h.db))
		name := "prune-" + t.Name() // a partition no other test's commits pruned yet
		old := touchRow{Name: name, Partitions: 1, ToCommit: 1, ToPrepare: 1, Partners: "[]",
			RecordedMs: time.Now().Add(-touchesKept - time.Minute).UnixMilli()}
		recent := old
		recent.ToCommit, recent.ToPrepare, recent.FromCommit, recent.FromPrepare = 2, 2, 1, 1
		recent.RecordedMs = time.Now().Add(-touchesKept / 2).UnixMilli()
		_, err := h.db.NewInsert().Model(&[]touchRow{old, recent}).Exec(ctx)
		must(t, err)
		must(t, h.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			st := State{Name: name, Checkpoint: eventstore.Position{Commit: 2, Prepare: 2}}
			return recordTouches(ctx, tx, st, 1, eventstore.Position{Commit: 3, Prepare: 3}, []string{goldCSP})
		}))
		var left []touchRow
		must(t, h.db.NewSelect().Model(&left).Where("name = ?", name).Order("to_commit").Scan(ctx))
		if len(left) != 2 || left[0].ToCommit != 2 || left[1].ToCommit != 3 || left[1].Partners != `["`+goldCSP+`"]` {
			t.Fatalf("log after a commit: %+v; want the recent move and the new one", left)
		}
	})
}
